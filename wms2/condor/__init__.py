"""Execution backends: one protocol, two implementations chosen by configuration.

- `local` (embedded default): wms2.condor.local, a DAGMan-compatible runner on subprocesses.
- `htcondor`: wms2.condor.htcondor, the htcondor2 bindings against a real pool.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from wms2.condor.handles import DagHandle, HeldJob, IdleEdit, JobHandle, JobState, JobStatus
from wms2.config import ExecutionBackend, Settings
from wms2.dagman.dagfile import DagSyntaxError


class Backend(Protocol):
    name: str

    def submit_dag(self, dag_file: Path, batch_name: str = "") -> DagHandle: ...

    def submit_job(self, submit_file: Path, batch_name: str = "") -> JobHandle: ...

    def find_dag(self, dag_file: Path) -> DagHandle | None: ...

    def query(self, handle: DagHandle | JobHandle) -> JobStatus: ...

    def query_many(self, handles: list[DagHandle]) -> dict[str, JobStatus]:
        """Every handle's status by cluster id, in as few scheduler calls as it can."""
        ...

    def remove(self, handle: DagHandle | JobHandle) -> bool: ...

    def ping(self) -> bool: ...

    def reap_orphans(self, handle: DagHandle | JobHandle) -> int: ...

    def edit_idle_jobs(
        self,
        request_name: str | None,
        priority: int | None = None,
        unavailable: set[str] | None = None,
        landings_only: bool = False,
    ) -> IdleEdit:
        """The idle node jobs of a request (of every WMS2 request with None): a new
        JobPrio; DESIRED_Sites without `unavailable` sites, removing jobs left with none.
        `landings_only`: only the landing jobs (a drain: pinned work stays)."""
        ...

    def memory_held_jobs(self, request_names: set[str]) -> list[HeldJob]:
        """The node jobs of these requests held for using more memory than they asked for,
        that carry a maximum WMS2 may raise them to (one scheduler query)."""
        ...

    def release_with_memory(self, job_ids: list[str], memory_mb: int) -> int:
        """Set RequestMemory of these held jobs to `memory_mb` and release them (one edit,
        one release); how many were released."""
        ...


def build_backend(settings: Settings) -> Backend:
    """The configured backend; with WMS2_SUBMIT_SCHEDDS, one per schedd behind a router
    (wms2.condor.several) that sends each call to the DAG's own schedd."""
    if settings.submit_schedds:
        from wms2.condor.several import SeveralSchedds

        return SeveralSchedds(
            {name: _one_backend(settings, name) for name in settings.submit_schedds}
        )
    return _one_backend(settings, None)


def _one_backend(settings: Settings, schedd: str | None) -> Backend:
    if settings.execution_backend is ExecutionBackend.HTCONDOR:
        from wms2.condor.htcondor import HTCondorBackend

        return HTCondorBackend(settings.collector_host, schedd or settings.schedd_name)
    from wms2.condor.local.backend import LocalBackend

    return LocalBackend(
        settings.state_dir if schedd is None else settings.state_dir / "schedds" / schedd,
        settings.local_site,
        settings.local_slots,
        settings.local_status_interval_sec,
        settings.local_sites or None,
        settings.local_memory_limits,
        {site: g.model_dump() for site, g in settings.local_gpus.items()},
        schedd_name=schedd,
    )


__all__ = [
    "Backend",
    "DagHandle",
    "DagSyntaxError",
    "HeldJob",
    "IdleEdit",
    "JobHandle",
    "JobState",
    "JobStatus",
    "build_backend",
]
