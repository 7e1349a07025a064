"""Several submit hosts: one backend per schedd, each call sent to the DAG's own.

A DAG handle names the schedd its DAGMan runs on (DagHandle.schedd, recorded on the DAG
row): queries, removal, orphan reaping and idle-job edits go there. Submission goes to
the schedd the caller chose (activities: by free capacity, wms2.capacity); without one,
the first. `find_dag` looks on every schedd (a DAG retried after a worker died may have
been submitted anywhere). Works for any backend: htcondor2 schedds, or local "schedds"
(state directories) of the local backend.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from wms2.capacity import ScheddLimits
from wms2.condor.handles import DagHandle, HeldJob, IdleEdit, JobHandle, JobState, JobStatus

if TYPE_CHECKING:
    from wms2.condor import Backend


SCHEDD_SEP = "#"  # between a schedd's name and its own job id


class SeveralSchedds:
    def __init__(self, backends: dict[str, Backend]) -> None:
        if not backends:
            raise ValueError("no schedd configured")
        self.backends = backends  # by schedd label, as handles name them
        first = next(iter(backends.values()))
        self.name: str = first.name

    @property
    def schedds(self) -> list[str]:
        return list(self.backends)

    def _of(self, handle: DagHandle | JobHandle) -> Backend:
        backend = self.backends.get(handle.schedd)
        if backend is None:
            raise KeyError(f"schedd {handle.schedd!r} is not configured (WMS2_SUBMIT_SCHEDDS)")
        return backend

    def read_limits(self, schedd: str) -> ScheddLimits:
        read = getattr(self.backends[schedd], "read_limits", None)
        return read() if read is not None else ScheddLimits()

    def submit_dag(self, dag_file: Path, batch_name: str = "", schedd: str = "") -> DagHandle:
        return self.backends[schedd or self.schedds[0]].submit_dag(dag_file, batch_name)

    def submit_job(self, submit_file: Path, batch_name: str = "", schedd: str = "") -> JobHandle:
        """A pilot: to the schedd its request's DAG is expected on (the caller's
        choice); without one, the first."""
        return self.backends[schedd or self.schedds[0]].submit_job(submit_file, batch_name)

    def find_dag(self, dag_file: Path) -> DagHandle | None:
        for backend in self.backends.values():
            found = backend.find_dag(dag_file)
            if found is not None:
                return found
        return None

    def query(self, handle: DagHandle | JobHandle) -> JobStatus:
        return self._of(handle).query(handle)

    def query_many(self, handles: list[DagHandle]) -> dict[str, JobStatus]:
        """One query per schedd, for the DAGs each one runs. Cluster ids are per schedd:
        the answer is keyed by cluster id as the protocol has it, which stays unique
        as long as each DAG is asked of its own schedd (the tracker's shards group DAGs
        by schedd)."""
        by_schedd: dict[str, list[DagHandle]] = defaultdict(list)
        for h in handles:
            by_schedd[h.schedd].append(h)
        out: dict[str, JobStatus] = {}
        for schedd, mine in by_schedd.items():
            backend = self.backends.get(schedd)
            if backend is None:
                for h in mine:
                    out[h.cluster_id] = JobStatus(
                        state=JobState.ALIVE, detail=f"schedd {schedd} is not configured"
                    )
                continue
            out.update(backend.query_many(mine))
        return out

    def remove(self, handle: DagHandle | JobHandle) -> bool:
        return self._of(handle).remove(handle)

    def ping(self) -> bool:
        return all(b.ping() for b in self.backends.values())

    def reap_orphans(self, handle: DagHandle | JobHandle) -> int:
        return self._of(handle).reap_orphans(handle)

    def edit_idle_jobs(
        self,
        request_name: str | None,
        priority: int | None = None,
        unavailable: set[str] | None = None,
        landings_only: bool = False,
        schedd: str = "",
    ) -> IdleEdit:
        """On the given schedd (a request's DAG's), or on every one (a site change)."""
        out = IdleEdit()
        for name, backend in self.backends.items():
            if schedd and name != schedd:
                continue
            edit = backend.edit_idle_jobs(request_name, priority, unavailable, landings_only)
            out.edited += edit.edited
            out.removed += edit.removed
        return out

    def memory_held_jobs(self, request_names: set[str]) -> list[HeldJob]:
        """Every schedd's jobs held for memory; a job id is named with its schedd
        (`schedd#cluster.proc`: cluster ids are each schedd's own)."""
        return [
            job.model_copy(update={"job_id": f"{name}{SCHEDD_SEP}{job.job_id}"})
            for name, backend in self.backends.items()
            for job in backend.memory_held_jobs(request_names)
        ]

    def release_with_memory(self, job_ids: list[str], memory_mb: int) -> int:
        """Release on each job's own schedd (ids as memory_held_jobs names them)."""
        by_schedd: dict[str, list[str]] = defaultdict(list)
        for job_id in job_ids:
            schedd, _, own = job_id.partition(SCHEDD_SEP)
            by_schedd[schedd].append(own)
        return sum(
            self.backends[schedd].release_with_memory(ids, memory_mb)
            for schedd, ids in by_schedd.items()
        )
