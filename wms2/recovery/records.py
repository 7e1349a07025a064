"""Failed work from WMS2's own records of a request it ran.

A work unit is done when a DAG attempt recorded it completed, when an output of it was
recorded (handed to the output pipeline), or when its merge report is in the DAG
directory (merged, even if nothing recorded it: running it again would write its events
twice). Every other unit the plan holds failed or never reported: its group manifest
(mg_NNNNNN/group_manifest.json, written at planning) lists each node's input files and
lumis, or for generation its first and last event and its lumis, which is the work.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wms2.dagfiles.layout import GROUP_MANIFEST, DagLayout
from wms2.recovery.work import EventRange, RecoveredWork, RecoveryError


def _manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise RecoveryError(f"cannot read work unit manifest {path}: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise RecoveryError(f"work unit manifest {path} is not WMS2's shape (no nodes)")
    return data


def _add_node(work: RecoveredWork, unit: str, name: str, node: dict[str, Any]) -> None:
    lumis = node.get("lumis") or []  # [[run, first, last], ...]
    files = node.get("files") or []
    if not files:
        first, last = node.get("first_event"), node.get("last_event")
        if first is None or last is None:
            raise RecoveryError(f"{unit}/{name} has neither input files nor an event range")
        in_run_1 = [lumi for run, a, b in lumis if run == 1 for lumi in range(a, b + 1)]
        work.ranges.append(EventRange(int(first), int(last) - int(first) + 1, tuple(in_run_1)))
        return
    if node.get("first_event") is not None:
        # EventBased splitting of input files: the node read a slice of a file; the rest
        # of the file may be done, and WMS2 reads input again by file and lumi only.
        raise RecoveryError(
            f"{unit}/{name} read events {node['first_event']}-{node.get('last_event')} of "
            f"{files[0]} (EventBased): WMS2 recovers input by file and lumi, not by event slice"
        )
    work.files.update(files)
    work.file_events += int(node.get("events") or 0)
    for run, a, b in lumis:
        work.add_lumis(int(run), range(int(a), int(b) + 1))


def work_from_dag_dir(dag_dir: Path, original: str, done: set[str]) -> RecoveredWork:
    """The work of every unit of `original`'s plan in `dag_dir` that is not done."""
    layout = DagLayout(Path(dag_dir))
    manifests = sorted(layout.root.glob(f"mg_*/{GROUP_MANIFEST}"))
    if not manifests:
        raise RecoveryError(
            f"OriginalRequestName {original!r}: its DAG directory {layout.root} holds no "
            "work unit manifest (gone, or never planned)"
        )
    work = RecoveredWork(units=0)
    for path in manifests:
        unit = path.parent.name
        if unit in done or layout.merge_output(unit).exists():
            continue
        data = _manifest(path)
        if data.get("request") != original:
            raise RecoveryError(
                f"{path} belongs to request {data.get('request')!r}, not {original!r}"
            )
        work.units += 1
        for name, node in sorted(data["nodes"].items()):
            _add_node(work, unit, name, node)
    work.ranges.sort(key=lambda r: r.first_event)
    return work
