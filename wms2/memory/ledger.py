"""Every raise of a job's memory request, one JSON line each in the DAG's directory
(`memory_bumps.jsonl`): the local pool appends its evictions, the tracker its releases of
held jobs, a resubmission the units its rescue starts with more. `status` shows what it
holds; operators can `cat` it."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

LEDGER = "memory_bumps.jsonl"
EVICTED = "evicted"  # rerun at once with more memory (HTCondor's retry_request_memory)
RELEASED = "released"  # held for memory, released by WMS2 with more memory
# A rescue starts a unit's processing jobs with more (wms2.memory.rescue): `node` is the
# work unit, `reason` the node that decided it.
RESCUE = "rescue"


@dataclass(frozen=True)
class MemoryBump:
    node: str  # the DAG node ("" if the job ad did not say)
    job_id: str  # "cluster.proc"
    from_mb: int
    to_mb: int
    how: str  # EVICTED or RELEASED
    usage_mb: float | None = None  # what it used when it was stopped, if known
    reason: str = ""  # the hold reason, for a release
    at: float = field(default_factory=time.time)


def record(dag_dir: Path, bumps: list[MemoryBump]) -> None:
    """Append, in one write: the runner and the tracker may append at the same time."""
    if not bumps:
        return
    text = "".join(json.dumps(asdict(b), separators=(",", ":")) + "\n" for b in bumps)
    fd = os.open(Path(dag_dir) / LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def read(dag_dir: Path) -> list[MemoryBump]:
    try:
        lines = (Path(dag_dir) / LEDGER).read_text().splitlines()
    except OSError:
        return []
    bumps = []
    for line in lines:
        try:
            bumps.append(MemoryBump(**json.loads(line)))
        except (ValueError, TypeError):
            continue  # a line cut by a killed writer
    return bumps


def summary(dag_dir: Path, last: int = 3) -> list[str]:
    """A few lines for an operator: how many raises of each kind, then the latest."""
    bumps = read(dag_dir)
    if not bumps:
        return []
    lines = []
    jobs = [b for b in bumps if b.how != RESCUE]
    if jobs:
        kinds = Counter(b.how for b in jobs)
        lines.append(
            f"{len(jobs)} memory raise(s) of {len({b.node or b.job_id for b in jobs})} job(s): "
            + ", ".join(f"{n} {how}" for how, n in sorted(kinds.items()))
        )
    if units := [b for b in bumps if b.how == RESCUE]:
        lines.append(
            f"{len(units)} rescue(s) started {len({b.node for b in units})} unit(s) "
            "with more memory"
        )
    for b in bumps[-last:]:
        used = f", used {b.usage_mb:.0f} MB" if b.usage_mb is not None else ""
        why = f" ({b.reason})" if b.how == RESCUE and b.reason else ""
        lines.append(
            f"{time.strftime('%H:%M:%S', time.localtime(b.at))} {b.node or b.job_id} "
            f"{b.how}: {b.from_mb} -> {b.to_mb} MB{used}{why}"
        )
    return lines
