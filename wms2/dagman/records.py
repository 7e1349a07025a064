"""Files a DAGMan writes about its DAG: node status file (ClassAd text), rescue DAG and
metrics file, in DAGMan's formats."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

# NodeStatus codes
NOT_READY, READY, PRERUN, SUBMITTED, POSTRUN, DONE, ERROR, FUTILE = range(8)
STATUS_NAMES = [
    "STATUS_NOT_READY",
    "STATUS_READY",
    "STATUS_PRERUN",
    "STATUS_SUBMITTED",
    "STATUS_POSTRUN",
    "STATUS_DONE",
    "STATUS_ERROR",
    "STATUS_FUTILE",
]
# DagStatus codes
DAG_OK, DAG_ERROR, DAG_NODE_FAILED, DAG_ABORT, DAG_RM = 0, 1, 2, 3, 4


@dataclass
class NodeRecord:
    name: str
    status: int = NOT_READY
    details: str = ""
    retry: int = 0


@dataclass
class RunTotals:
    start_time: float = field(default_factory=time.time)
    jobs_submitted: int = 0
    jobs_succeeded: int = 0
    jobs_failed: int = 0


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_status_file(
    path: Path, dag_file: Path, dag_status: int, nodes: Iterable[NodeRecord], next_update: int
) -> None:
    nodes = list(nodes)
    counts = [0] * 8
    for n in nodes:
        counts[n.status] += 1
    now = int(time.time())
    head = [
        "[",
        '  Type = "DagStatus";',
        f"  DagFiles = {{ {_quote(dag_file.name)} }};",
        f'  Timestamp = {now}; /* "{time.ctime(now)}" */',
        f"  DagStatus = {dag_status};",
        f"  NodesTotal = {len(nodes)};",
        f"  NodesDone = {counts[DONE]};",
        f"  NodesPre = {counts[PRERUN]};",
        f"  NodesQueued = {counts[SUBMITTED]};",
        f"  NodesPost = {counts[POSTRUN]};",
        f"  NodesReady = {counts[READY]};",
        f"  NodesUnready = {counts[NOT_READY]};",
        f"  NodesFutile = {counts[FUTILE]};",
        f"  NodesFailed = {counts[ERROR]};",
        "  JobProcsHeld = 0;",
        "  JobProcsIdle = 0;",
        "]",
    ]
    body = [
        f'[\n  Type = "NodeStatus";\n  Node = {_quote(n.name)};\n  NodeStatus = {n.status}; '
        f'/* "{STATUS_NAMES[n.status]}" */\n  StatusDetails = {_quote(n.details)};\n'
        f"  RetryCount = {n.retry};\n  JobProcsQueued = {int(n.status == SUBMITTED)};\n"
        "  JobProcsHeld = 0;\n]"
        for n in nodes
    ]
    tail = [
        "[",
        '  Type = "StatusEnd";',
        f"  EndTime = {now};",
        f"  NextUpdate = {next_update};",
        "]",
        "",
    ]
    _atomic_write(path, "\n".join(head + body + tail))


def write_rescue(dag_file: Path, nodes: Iterable[NodeRecord]) -> Path:
    """The next `<dag>.rescueNNN`: a header, then a DONE line per finished node."""
    nodes = list(nodes)
    existing = [
        int(p.name[-3:]) for p in dag_file.parent.glob(dag_file.name + ".rescue[0-9][0-9][0-9]")
    ]
    path = dag_file.with_name(f"{dag_file.name}.rescue{max(existing, default=0) + 1:03d}")
    done = [n.name for n in nodes if n.status == DONE]
    failed = [n.name for n in nodes if n.status == ERROR]
    lines = [
        "# Rescue DAG file, created after running",
        f"#   the {dag_file.name} DAG file",
        f"# Created {time.strftime('%m/%d/%Y %H:%M:%S UTC', time.gmtime())}",
        "# Rescue DAG version: 2.0.1 (partial)",
        "#",
        f"# Total number of Nodes: {len(nodes)}",
        f"# Nodes premarked DONE: {len(done)}",
        f"# Nodes that failed: {len(failed)}",
        f"#   {','.join(failed)}<ENDLIST>",
        "",
        *[f"DONE {name}" for name in done],
        "",
    ]
    _atomic_write(path, "\n".join(lines))
    return path


def write_metrics(
    dag_file: Path,
    nodes: Iterable[NodeRecord],
    totals: RunTotals,
    exit_code: int,
    dag_status: int,
    dagman_id: int,
    rescue_number: int,
    subdags: set[str] | None = None,
) -> None:
    nodes = list(nodes)
    subdags = subdags or set()
    end = time.time()
    succeeded = sum(n.status == DONE for n in nodes)
    failed = sum(n.status == ERROR for n in nodes)
    metrics = {
        "client": "wms2-local-dagman",
        "version": "1.0",
        "type": "metrics",
        "metrics_version": 2,
        "start_time": totals.start_time,
        "end_time": end,
        "duration": end - totals.start_time,
        "exitcode": exit_code,
        "dagman_id": dagman_id,
        "parent_dagman_id": -1,
        "rescue_dag_number": rescue_number,
        "has_final_node": False,
        "nodes": len(nodes),
        "nodes_failed": failed,
        "nodes_succeeded": succeeded,
        "dag_nodes": len(subdags),
        "dag_nodes_failed": sum(n.status == ERROR and n.name in subdags for n in nodes),
        "dag_nodes_succeeded": sum(n.status == DONE and n.name in subdags for n in nodes),
        "total_nodes": len(nodes),
        "total_nodes_run": succeeded + failed,
        "jobs_submitted": totals.jobs_submitted,
        "jobs_succeeded": totals.jobs_succeeded,
        "jobs_failed": totals.jobs_failed,
        "DagStatus": dag_status,
    }
    _atomic_write(dag_file.with_name(dag_file.name + ".metrics"), json.dumps(metrics, indent=1))
