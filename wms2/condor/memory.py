"""Releasing jobs held for memory, for pools without HTCondor's own retry (or jobs that
used even more than it allowed for): the tracker calls `MemoryReleaser.cycle` once per
cycle with the DAGs it watches. At most every `interval_sec`, one scheduler query finds
every WMS2 job held for memory; then, per DAG with such jobs, one edit raises their
RequestMemory by the factor (capped at the maximum their submit description gave, the
WMS2_MaxMemoryMB attribute) and one release lets DAGMan's node run again. Each raise is
recorded in the DAG's memory ledger. A job already at its maximum stays held: an
operator's call.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

from wms2.condor import Backend
from wms2.condor.handles import DagHandle, HeldJob
from wms2.memory import ledger
from wms2.memory.ledger import RELEASED, MemoryBump
from wms2.memory.policy import next_memory

log = logging.getLogger(__name__)


def release_dag(
    backend: Backend, handle: DagHandle, held: list[HeldJob], factor: float
) -> list[MemoryBump]:
    """One DAG's held jobs: one new RequestMemory for all, from the largest request among
    them (a DAG's processing jobs share one submit description, so they sit at the same
    step), capped at the smallest maximum (no job passes its own)."""
    below = [j for j in held if j.request_mb < j.max_mb]
    if not below:
        return []
    new = next_memory(max(j.request_mb for j in below), factor, min(j.max_mb for j in below))
    jobs = [j for j in below if j.request_mb < new]  # never lowers a job's request
    if not jobs:
        return []
    backend.release_with_memory([j.job_id for j in jobs], new)
    bumps = [
        MemoryBump(j.node, j.job_id, j.request_mb, new, RELEASED, j.usage_mb, j.reason)
        for j in jobs
    ]
    ledger.record(Path(handle.dag_file).parent, bumps)
    return bumps


class MemoryReleaser:
    def __init__(
        self,
        factor: float,
        interval_sec: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.factor, self.interval, self.clock = factor, interval_sec, clock
        self.last: float | None = None

    def cycle(self, backend: Backend, handles: Iterable[DagHandle]) -> list[MemoryBump]:
        """Release what is held for memory in these DAGs (when a look is due). Never
        raises: a failed look is logged and tried again at the next one."""
        now = self.clock()
        if self.last is not None and now - self.last < self.interval:
            return []
        self.last = now
        by_request = {h.batch_name: h for h in handles if h.batch_name}
        if not by_request:
            return []
        bumps: list[MemoryBump] = []
        try:
            held: dict[str, list[HeldJob]] = defaultdict(list)
            for job in backend.memory_held_jobs(set(by_request)):
                held[job.request_name].append(job)
            for request, jobs in held.items():
                bumps += release_dag(backend, by_request[request], jobs, self.factor)
        except Exception as e:  # the scheduler or the DAG directory: next look
            log.warning("releasing memory-held jobs: %s", e)
        for b in bumps:
            log.info(
                "%s %s: RequestMemory %d -> %d MB", b.how, b.node or b.job_id, b.from_mb, b.to_mb
            )
        return bumps
