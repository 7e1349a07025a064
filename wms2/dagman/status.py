"""Reading what DAGMan writes: the NODE_STATUS_FILE (ClassAd text), the .metrics file, and
the merge reports of completed work units. Same code for both backends.

classad2.parseAds reads a 100,000-node status file in ~10 s; this module's reader does it
in well under a second (bench/status.py) and is tested against classad2 on the same text.
It understands what DAGMan writes: new-style ads of `Name = value;` with integers, reals,
booleans, strings (with escapes) and lists of strings, and /* comments */.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# NodeStatus codes (DAGMan)
NOT_READY, READY, PRERUN, SUBMITTED, POSTRUN, DONE, ERROR, FUTILE = range(8)

_ATTR = re.compile(
    r'(\w+)\s*=\s*("(?:[^"\\]|\\.)*"|\{[^}]*\}|[^;\]]*?)\s*;'  # Name = value;
    r"|(/\*.*?\*/)"  # a comment
    r"|(\[)|(\])",  # ad boundaries
    re.S,
)
_STRING_ESCAPE = re.compile(r"\\(.)")


def _value(raw: str) -> Any:
    if raw.startswith('"'):
        return _STRING_ESCAPE.sub(r"\1", raw[1:-1])
    if raw.startswith("{"):
        return [_value(x.strip()) for x in re.findall(r'"(?:[^"\\]|\\.)*"|[^,\s{}]+', raw)]
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("undefined", "error", ""):
        return None
    try:
        return int(raw)
    except ValueError:
        try:
            return float(raw)
        except ValueError:
            return raw  # an expression: kept as text


def parse_ads(text: str) -> list[dict[str, Any]]:
    """The ads of a ClassAd text, as dicts."""
    ads: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for m in _ATTR.finditer(text):
        name, raw, _comment, open_, close = m.groups()
        if open_:
            current = {}
        elif close:
            if current is not None:
                ads.append(current)
            current = None
        elif name and current is not None:
            current[name] = _value(raw)
    return ads


@dataclass(frozen=True)
class NodeInfo:
    status: int
    details: str = ""
    retries: int = 0


@dataclass
class DagSnapshot:
    """One consistent read of a node status file."""

    dag_status: int
    counts: dict[str, int]  # NodesTotal, NodesDone, NodesFailed, ... as DAGMan names them
    nodes: dict[str, NodeInfo]
    timestamp: int
    next_update: int | None  # 0 when DAGMan has finished or was removed

    @property
    def finished(self) -> bool:
        return self.next_update == 0

    def done_nodes(self, prefix: str = "") -> set[str]:
        return {n for n, info in self.nodes.items() if info.status == DONE and n.startswith(prefix)}


class StatusFileIncomplete(ValueError):
    """The status file was read without its closing StatusEnd ad (being rewritten)."""


# DAGMan writes every NodeStatus ad with its attributes in this order. The fast path reads
# them with one regex; if it does not account for every NodeStatus ad (another writer,
# another order), the general reader is used instead.
_STR = r'"((?:[^"\\]|\\.)*)"'
_NODE_AD = re.compile(
    r'Type\s*=\s*"NodeStatus";\s*Node\s*=\s*' + _STR + r";\s*NodeStatus\s*=\s*(\d+);"
    r"(?:\s*/\*.*?\*/)?\s*StatusDetails\s*=\s*" + _STR + r";\s*RetryCount\s*=\s*(\d+);"
)
_NODE_TYPE = re.compile(r'Type\s*=\s*"NodeStatus"')


def _fast_snapshot(text: str) -> DagSnapshot | None:
    found = _NODE_AD.findall(text)
    if len(found) != len(_NODE_TYPE.findall(text)):
        return None
    first = text.find('"NodeStatus"')
    last_end = text.rfind('"StatusEnd"')
    head = text[:first] if first >= 0 else text
    tail = text[text.rfind("[", 0, last_end) :] if last_end >= 0 else ""
    snap = snapshot_from_ads(parse_ads(head) + parse_ads(tail))
    unescape = _STRING_ESCAPE.sub
    snap.nodes = {
        unescape(r"\1", name): NodeInfo(
            int(status), unescape(r"\1", details) if details else "", int(retry)
        )
        for name, status, details, retry in found
    }
    return snap


def read_status_file(path: Path) -> DagSnapshot | None:
    """None if DAGMan has not written the file yet."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return None
    return _fast_snapshot(text) or snapshot_from_ads(parse_ads(text))


def snapshot_from_ads(ads: Iterable[dict[str, Any]]) -> DagSnapshot:
    dag: dict[str, Any] | None = None
    end: dict[str, Any] | None = None
    nodes: dict[str, NodeInfo] = {}
    for ad in ads:
        kind = ad.get("Type")
        if kind == "NodeStatus":
            nodes[ad["Node"]] = NodeInfo(
                ad.get("NodeStatus", 0), ad.get("StatusDetails") or "", ad.get("RetryCount", 0)
            )
        elif kind == "DagStatus":
            dag = ad
        elif kind == "StatusEnd":
            end = ad
    if dag is None or end is None:
        raise StatusFileIncomplete("node status file has no DagStatus or StatusEnd ad")
    counts = {k: v for k, v in dag.items() if k.startswith(("Nodes", "JobProcs"))}
    return DagSnapshot(
        dag_status=int(dag.get("DagStatus", 0)),
        counts=counts,
        nodes=nodes,
        timestamp=int(dag.get("Timestamp", 0)),
        next_update=end.get("NextUpdate"),
    )


@dataclass
class DagMetrics:
    exit_code: int
    nodes: int
    nodes_succeeded: int
    nodes_failed: int
    jobs_submitted: int
    duration: float
    raw: dict[str, Any] = field(default_factory=dict)


class MetricsFileError(ValueError):
    """A .metrics file that is neither format DAGMan writes."""


# DAGMan's .metrics: version 1 (HTCondor up to 24.1, Pegasus' names: a node is a "job")
# and version 2 ("metrics_version": 2, nodes counted as nodes, job procs as jobs).
_METRICS_V1 = {
    "nodes": "jobs",
    "nodes_succeeded": "jobs_succeeded",
    "nodes_failed": "jobs_failed",
    "jobs_submitted": "total_jobs_run",
}
_METRICS_V2 = {
    "nodes": "nodes",
    "nodes_succeeded": "nodes_succeeded",
    "nodes_failed": "nodes_failed",
    "jobs_submitted": "jobs_submitted",
}


def read_metrics(path: Path) -> DagMetrics | None:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise MetricsFileError(f"{path} is not a DAGMan metrics file: {e}") from e
    names = _METRICS_V2 if int(data.get("metrics_version", 1)) >= 2 else _METRICS_V1
    missing = [k for k in ("exitcode", *names.values()) if k not in data]
    if missing:
        raise MetricsFileError(f"{path} lacks {', '.join(missing)}")
    return DagMetrics(
        exit_code=int(data["exitcode"]),
        nodes=int(data[names["nodes"]]),
        nodes_succeeded=int(data[names["nodes_succeeded"]]),
        nodes_failed=int(data[names["nodes_failed"]]),
        jobs_submitted=int(data[names["jobs_submitted"]]),
        duration=float(data.get("duration", 0)),
        raw=data,
    )


def newly_completed_work_units(snapshot: DagSnapshot, known: Iterable[str]) -> list[str]:
    """Outer `mg_*` nodes DONE in this snapshot and not reported before, in order."""
    return sorted(snapshot.done_nodes("mg_") - set(known))


MERGE_FIELDS = ("dataset", "lfn", "size", "events", "adler32", "site")


def merged_file(output: dict[str, Any], with_dataset: bool = True) -> dict[str, Any]:
    """The fields WMS2 takes from one output of a merge report."""
    return {k: output[k] for k in MERGE_FIELDS if with_dataset or k != "dataset"}


class MergeReportError(ValueError):
    """A completed work unit has no usable merge_output.json."""


def read_merge_output(path: Path) -> dict[str, Any]:
    try:
        report = json.loads(Path(path).read_text())
        outputs = report["outputs"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise MergeReportError(f"merge report {path} is unusable: {e!s}") from e
    for out in outputs:
        missing = [k for k in MERGE_FIELDS if k not in out]
        if missing:
            raise MergeReportError(f"merge report {path} lacks {', '.join(missing)}")
    return report
