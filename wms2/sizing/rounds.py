"""One right-sizing round over a request's DAG directory: measure the work units that
finished, decide the correction, prepare it for every unit whose SUBDAG has not started,
and record what changed, when and why (`sizing.jsonl` at the DAG's root)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from wms2.dagfiles.layout import DagLayout
from wms2.sizing.decide import Decision, Limits, decide, decide_memory
from wms2.sizing.measure import measure
from wms2.sizing.resplit import (
    PROCESSING_SUB,
    STARTED,
    NotResizable,
    ReadsFiles,
    UnitFiles,
    current_files,
    current_sizing,
    redag,
    resplit,
    resubmit_text,
    write_resized,
)
from wms2.sizing.unit_memory import prepare_memory, submit_memory

SIZING_LOG = "sizing.jsonl"
LOCK = "sizing.lock"  # shared with the unit's PRE script (apply_sizing.py)
APPLY_SCRIPT = "apply_sizing.py"


@dataclass
class RoundResult:
    finished_units: int = 0
    measurement: str = ""
    resized: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # unit -> why not
    change: str = ""  # one line: before -> after, why (empty: nothing changed)


@contextlib.contextmanager
def unit_lock(group_dir: Path) -> Iterator[None]:
    with open(group_dir / LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _describe(d: Decision) -> str:
    b, a = d.before, d.after
    return (
        f"events/job {b.events_per_job} -> {a.events_per_job}, "
        f"memory {b.memory_mb} -> {a.memory_mb} MB ({d.why})"
    )


def _size_memory(
    unit: Path, root_submit: Path, files: UnitFiles, peak_rss_mb: float | None, limits: Limits
) -> str | None:
    """A unit whose jobs read input files: only its processing jobs' request_memory,
    prepared like any sizing (no re-split: node names stay). The change described; None
    if nothing changes; "" if nothing was measured (the caller holds the unit's lock)."""
    if peak_rss_mb is None:
        return ""
    now = submit_memory(files.submit_text)
    if now is None:
        return None
    memory, why = decide_memory(now.request_mb, peak_rss_mb, limits)
    if memory == now.request_mb:
        return None
    prepare_memory(unit, root_submit, memory)
    return f"memory {now.request_mb} -> {memory} MB ({why}; jobs read input files: not re-split)"


def sizing_round(layout: DagLayout, limits: Limits, min_finished: int) -> RoundResult:
    if APPLY_SCRIPT not in layout.dag_file.read_text():
        # Planned before sizing existed: nothing would apply a prepared sizing.
        return RoundResult(skipped={"*": f"its outer DAG has no {APPLY_SCRIPT} PRE scripts"})
    units = sorted(p for p in layout.root.glob("mg_*") if p.is_dir())
    finished = [u for u in units if layout.merge_output(u.name).exists()]
    result = RoundResult(finished_units=len(finished))
    if len(finished) < min_finished:
        return result
    m = measure(finished)
    result.measurement = m.describe()
    root_submit = layout.root / PROCESSING_SUB
    described = ""
    for unit in units:
        if unit in finished or (unit / STARTED).exists():
            continue
        with unit_lock(unit):
            if (unit / STARTED).exists():
                continue  # its SUBDAG started while we measured
            files = current_files(unit, root_submit)
            try:
                before, lumis = current_sizing(files)
            except ReadsFiles as e:
                said = _size_memory(unit, root_submit, files, m.peak_rss_mb, limits)
                if said is None:
                    continue
                if not said:
                    result.skipped[unit.name] = f"{e}, and no peak RSS was measured"
                    continue
                result.resized.append(unit.name)
                described = said
                continue
            except NotResizable as e:
                result.skipped[unit.name] = str(e)
                continue
            d = decide(before, m.time_per_event_sec, m.peak_rss_mb, limits, lumis)
            if not d.changed:
                continue
            manifest = resplit(files.manifest, d.after) if d.after.lumis_per_job != (
                before.lumis_per_job
            ) else files.manifest  # fmt: skip
            wall = None
            if m.time_per_event_sec:
                wall = int(d.after.events_per_job * m.time_per_event_sec // 60 + 1)
            write_resized(
                unit,
                UnitFiles(
                    manifest,
                    redag(
                        files.dag_text,
                        list(files.manifest["nodes"]),
                        list(manifest["nodes"]),
                        unit / PROCESSING_SUB,
                    ),
                    resubmit_text(files.submit_text, d.after, wall),
                ),
            )
            result.resized.append(unit.name)
            described = _describe(d)
    if result.resized:
        result.change = f"{len(result.resized)} unit(s): {described}"
        record = {
            "t": round(time.time(), 3),
            "finished_units": len(finished),
            "measured": result.measurement,
            "units": result.resized,
            "change": described,
        }
        with open(layout.root / SIZING_LOG, "a") as f:
            f.write(json.dumps(record) + "\n")
    return result
