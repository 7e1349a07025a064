"""LocalBackend: submit, query and remove DAGs run by detached local runner processes.

Every submission is recorded under `<state_dir>/local-condor/jobs/<cluster>.json` (DAG
file, runner pid, batch name), so `query`, `remove` and `find_dag` work from any process,
e.g. a worker that restarted after the one that submitted.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from wms2.condor.handles import DagHandle, HeldJob, IdleEdit, JobHandle, JobState, JobStatus
from wms2.condor.local.pool import PoolFile
from wms2.dagman.dagfile import DagSyntaxError, parse_dag

RUNNER_MODULE = "wms2.condor.local.runner"


def validate_dag(dag_file: Path, directory: Path | None = None, depth: int = 0) -> None:
    """Parse the DAG and every SUBDAG below it, so unsupported directives fail at submit."""
    if depth > 10:
        raise DagSyntaxError(f"{dag_file}: SUBDAGs nested too deep")
    spec = parse_dag(dag_file, directory)
    for node in spec.nodes.values():
        if node.subdag:
            validate_dag(node.directory / node.submit_file, node.directory, depth + 1)
        elif not node.noop and not (node.directory / node.submit_file).is_file():
            raise DagSyntaxError(
                f"{dag_file}: submit file {node.submit_file} of {node.name} does not exist"
            )


def _pid_alive(pid: int, young: bool = False) -> bool:
    """Is `pid` a live runner? Between fork and exec a just-submitted runner still shows
    its parent's command line, so a `young` record only needs a live, non-zombie pid."""
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state != "Z" and (young or RUNNER_MODULE.encode() in cmdline)


def _session_leader(pid: int) -> bool:
    """Is `pid` alive and the leader of its own session, as the runner started each node?
    (A recycled pid almost never is.)"""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    state, pgrp, session = fields[0], int(fields[2]), int(fields[3])
    return state != "Z" and pgrp == pid and session == pid


class LocalBackend:
    name = "local"

    def __init__(
        self,
        state_dir: Path,
        site: str,
        slots: int,
        status_interval: float = 2.0,
        sites: dict[str, int] | None = None,
        memory_limits: bool = True,
        gpus: dict[str, dict[str, Any]] | None = None,
        schedd_name: str | None = None,
    ) -> None:
        """`sites`: the pool's sites and their slots (WMS2_LOCAL_SITES); without, one site
        `site` with `slots` slots that takes any job. `memory_limits`: jobs are stopped
        past their request_memory (WMS2_LOCAL_MEMORY_LIMITS). `gpus`: the GPU sites among
        them (WMS2_LOCAL_GPUS), whose GPUs only jobs asking for them use. `schedd_name`:
        this "schedd"'s name in handles (several local schedds, each its own state
        directory)."""
        self.memory_limits = memory_limits
        self.root = Path(state_dir).resolve() / "local-condor"
        self.jobs = self.root / "jobs"
        self.jobs.mkdir(parents=True, exist_ok=True)
        self.site, self.status_interval = site, status_interval
        self.sites = dict(sites) if sites else {site: slots}
        self.schedd = schedd_name or f"local@{socket.gethostname()}"
        self.pool = PoolFile(self.root / "pool")
        unknown = sorted(set(gpus or {}) - set(self.sites))
        if unknown:
            raise ValueError(f"local_gpus {unknown[0]!r} is not a site of the local pool")
        self.pool.configure(self.sites, any_site=not sites, host=socket.gethostname(), gpus=gpus)

    # ── bookkeeping ───────────────────────────────────────────────────────

    def _next_cluster(self) -> int:
        with open(self.root / "cluster.lock", "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0)
            current = int(f.read().strip() or 0) + 1
            f.seek(0)
            f.truncate()
            f.write(str(current))
        return current

    def _record(self, cluster_id: str) -> dict | None:
        path = self.jobs / f"{cluster_id}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def _exit(self, cluster_id: str) -> dict | None:
        path = self.jobs / f"{cluster_id}.exit.json"
        return json.loads(path.read_text()) if path.exists() else None

    # ── the protocol ──────────────────────────────────────────────────────

    def ping(self) -> bool:
        return os.access(self.jobs, os.W_OK)

    def find_dag(self, dag_file: Path) -> DagHandle | None:
        """A live runner already running `dag_file`, if any (for idempotent submission)."""
        dag_file = Path(dag_file).resolve()
        for path in self.jobs.glob("*[0-9].json"):
            rec = json.loads(path.read_text())
            if rec["dag_file"] == str(dag_file) and self._running(rec):
                return self._handle(rec)
        return None

    def _running(self, rec: dict) -> bool:
        # A runner that wrote its exit record has ended, even while its process exits.
        young = time.time() - rec.get("submitted", 0) < 30
        return self._exit(str(rec["cluster"])) is None and _pid_alive(rec["pid"], young)

    def _handle(self, rec: dict) -> DagHandle:
        return DagHandle(
            backend=self.name,
            cluster_id=str(rec["cluster"]),
            schedd=self.schedd,
            dag_file=rec["dag_file"],
            batch_name=rec.get("batch_name", ""),
        )

    def submit_dag(self, dag_file: Path, batch_name: str = "") -> DagHandle:
        dag_file = Path(dag_file).resolve()
        validate_dag(dag_file)
        live = self.find_dag(dag_file)
        if live is not None:
            return live
        cluster = self._next_cluster()
        out = open(dag_file.with_name(dag_file.name + ".dagman.out"), "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                RUNNER_MODULE,
                str(dag_file),
                "--record",
                str(self.jobs / f"{cluster}.exit.json"),
                "--pool",
                str(self.pool.dir),
                "--scratch",
                str(self.root / "scratch"),
                "--cluster",
                str(cluster),
                "--status-interval",
                str(self.status_interval),
                "--process-groups",
                str(self._process_groups(str(cluster))),
                *(["--memory-limits"] if self.memory_limits else []),
            ],
            cwd=dag_file.parent,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,  # survives the submitter, like a DAGMan job
        )
        out.close()
        # Reap it if it ends while we live; if we die first, init does.
        threading.Thread(target=proc.wait, daemon=True).start()
        rec = {
            "cluster": cluster,
            "pid": proc.pid,
            "dag_file": str(dag_file),
            "batch_name": batch_name,
            "submitted": time.time(),
        }
        tmp = self.jobs / f"{cluster}.json.tmp"
        tmp.write_text(json.dumps(rec))
        os.replace(tmp, self.jobs / f"{cluster}.json")
        return self._handle(rec)

    def submit_job(self, submit_file: Path, batch_name: str = "") -> JobHandle:
        """A single job (the pilot) runs as a one-node DAG beside its submit file."""
        submit_file = Path(submit_file).resolve()
        wrapper = submit_file.with_suffix(".job.dag")
        wrapper.write_text(f"JOB {submit_file.stem} {submit_file}\n")
        dag = self.submit_dag(wrapper, batch_name)
        return JobHandle(
            backend=self.name,
            cluster_id=dag.cluster_id,
            schedd=self.schedd,
            submit_file=str(submit_file),
        )

    def query(self, handle: DagHandle | JobHandle) -> JobStatus:
        rec = self._record(handle.cluster_id)
        if rec is None:
            return JobStatus(state=JobState.MISSING, detail=f"no job {handle.cluster_id}")
        finished = self._finished(handle.cluster_id)
        if finished is not None:
            return finished
        if self._running(rec):
            return JobStatus(state=JobState.ALIVE)
        # The runner may have written its record and exited between the two checks.
        finished = self._finished(handle.cluster_id)
        if finished is not None:
            return finished
        return JobStatus(
            state=JobState.MISSING,
            detail=f"runner {rec['pid']} of job {handle.cluster_id} died without an exit record",
        )

    def query_many(self, handles: list[DagHandle]) -> dict[str, JobStatus]:
        return {h.cluster_id: self.query(h) for h in handles}

    def _finished(self, cluster_id: str) -> JobStatus | None:
        exit_rec = self._exit(cluster_id)
        if exit_rec is None:
            return None
        return JobStatus(
            state=JobState.FINISHED,
            exit_code=exit_rec["exit_code"],
            detail=exit_rec.get("detail", ""),
        )

    def _process_groups(self, cluster_id: str) -> Path:
        return self.jobs / f"{cluster_id}.pgroups"

    def reap_orphans(self, handle: DagHandle | JobHandle) -> int:
        """After a runner died (SIGKILL, OOM): kill the node process groups it left
        running, so they never run beside a resubmitted DAG. How many were killed."""
        rec = self._record(handle.cluster_id)
        if rec is not None and self._running(rec):
            return 0  # its runner lives: its nodes are its own business
        killed = 0
        directory = self._process_groups(handle.cluster_id)
        for mark in sorted(directory.glob("[0-9]*")) if directory.is_dir() else []:
            pgid = int(mark.name)
            if _session_leader(pgid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                    killed += 1
            mark.unlink(missing_ok=True)
        return killed

    def edit_idle_jobs(
        self,
        request_name: str | None,
        priority: int | None = None,
        unavailable: set[str] | None = None,
        landings_only: bool = False,
    ) -> IdleEdit:
        edited, removed = self.pool.edit_idle(request_name, priority, unavailable, landings_only)
        return IdleEdit(edited=edited, removed=removed)

    def memory_held_jobs(self, request_names: set[str]) -> list[HeldJob]:
        return self.pool.memory_held(request_names)

    def release_with_memory(self, job_ids: list[str], memory_mb: int) -> int:
        return self.pool.release_with_memory(job_ids, memory_mb)

    def remove(self, handle: DagHandle | JobHandle) -> bool:
        """condor_rm: ask the runner to write its rescue DAG and stop. False if it was
        not running."""
        rec = self._record(handle.cluster_id)
        # An exit record means the DAG has ended, even if its process is still exiting.
        if rec is None or not self._running(rec):
            return False
        os.kill(rec["pid"], signal.SIGTERM)
        return True
