"""A slot's memory limit as the local pool enforces it: a job's resident memory is looked
at a few times a second and, past its RequestMemory, the job is stopped, as a slot's
cgroup would. Then, as the schedd does, it is evicted and rerun with more memory when its
submit description carries HTCondor's retry (retry_request_memory_increase/_max), else
held with HoldReasonCode 34, subcode 102 (memory usage exceeded).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from wms2.condor.local.submitfile import JobDescription, megabytes
from wms2.memory.policy import factor_of

CHECK_SEC = 0.1  # how often a running job's memory is looked at
HOLD_REASON = "Memory usage exceeded: the job used {usage:.0f} MB, it requested {request} MB"


class MemoryExceeded(Exception):
    """The job used more memory than it requested and was stopped."""

    def __init__(self, usage_mb: float, request_mb: int) -> None:
        super().__init__(f"used {usage_mb:.0f} MB of {request_mb} MB")
        self.usage_mb, self.request_mb = usage_mb, request_mb


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0  # a zombie has no VmRSS


def _children(pid: int) -> list[int]:
    # Needs CONFIG_PROC_CHILDREN; without it only the job's own process is counted
    # (scanning all of /proc for every job a few times a second costs too much).
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                out += [
                    int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
                ]
    return out


def resident_mb(pid: int) -> float:
    """Resident memory of the process and its descendants, in MB."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        with contextlib.suppress(OSError, ValueError):
            total += _rss_kb(p)
            todo += _children(p)
    return total / 1024


async def over_limit(pid: int, limit_mb: int) -> float:
    """Returns (the usage) once the process tree's resident memory passes limit_mb."""
    while True:
        usage = resident_mb(pid)
        if usage > limit_mb:
            return usage
        await asyncio.sleep(CHECK_SEC)


def evicted_memory(job: JobDescription, raised_before: bool) -> int | None:
    """The RequestMemory HTCondor's retry gives a job evicted for memory; None when it
    holds the job instead (no retry, or already at the maximum). As the schedd: an
    increase with a maximum raises until the maximum; a maximum alone jumps to it; an
    increase alone raises once."""
    current, maximum, increase = job.request_memory, job.retry_memory_max, job.retry_memory_increase
    if increase is None:
        return maximum if maximum is not None and current < maximum else None
    if maximum is None and raised_before:
        return None
    factor = factor_of(increase)
    added = megabytes(increase) if factor is None else None
    raised = int(current * factor) if factor is not None else current + (added or 0)
    if maximum is None:
        return raised
    return min(raised, maximum) if current < maximum else None
