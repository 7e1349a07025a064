"""The local DAGMan: runs one DAG (and its SUBDAGs, in the same process) to completion.

Started detached by LocalBackend as `python -m wms2.condor.local.runner DAG ...`, so it
outlives the process that submitted it, like a DAGMan job in a schedd. SIGTERM is
condor_rm: write the rescue DAG, kill running nodes, write status and metrics, exit 2.
Exit codes follow condor_dagman: 0 success, 1 failure, 2 removed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path

from wms2.condor.local import nodeexec
from wms2.condor.local.memlimit import HOLD_REASON, MemoryExceeded, evicted_memory
from wms2.condor.local.nodeexec import SUBMIT_FAILED, Machine, log_event, run_job, run_script
from wms2.condor.local.pool import JobRemoved, PoolClient, PoolFile, machine_ad_path
from wms2.condor.local.submitfile import JobDescription, SubmitError, load_job
from wms2.dagman.dagfile import (
    DagSpec,
    DagSyntaxError,
    NodeSpec,
    apply_rescue,
    parse_dag,
    rescue_files,
)
from wms2.dagman.jobstate import JobstateWriter
from wms2.dagman.records import (
    DAG_ERROR,
    DAG_NODE_FAILED,
    DAG_OK,
    DAG_RM,
    DONE,
    ERROR,
    FUTILE,
    NOT_READY,
    POSTRUN,
    PRERUN,
    READY,
    STATUS_NAMES,
    SUBMITTED,
    NodeRecord,
    RunTotals,
    write_metrics,
    write_rescue,
    write_status_file,
)
from wms2.memory import ledger
from wms2.memory.ledger import EVICTED, MemoryBump
from wms2.memory.policy import HOLD_OUT_OF_RESOURCES, SUBCODE_MEMORY

EXIT_OK, EXIT_FAILED, EXIT_REMOVED = 0, 1, 2


# $RETURN of a node job removed while idle (condor_rm, or WMS2 moving it off a site).
JOB_REMOVED = -1002


@dataclass
class RunContext:
    pool: PoolClient  # the local pool's slots, shared with every other runner
    pool_dir: Path  # where the pool keeps each site's machine ad
    scripts: asyncio.Semaphore  # DAGMAN_MAX_PRE_SCRIPTS
    post_scripts: asyncio.Semaphore  # DAGMAN_MAX_POST_SCRIPTS
    scratch: Path
    clusters: itertools.count
    status_interval: float
    memory_limits: bool = False  # stop jobs that pass their request_memory (memlimit.py)
    ledger_dir: Path = Path(".")  # the outer DAG's directory: memory raises are recorded there


def load_with_rescue(dag_file: Path, directory: Path | None = None) -> tuple[DagSpec, int]:
    """Parse a DAG and apply its newest rescue DAG (DAGMan's AUTO_RESCUE)."""
    spec = parse_dag(dag_file, directory)
    rescues = rescue_files(spec.path)
    if rescues:
        apply_rescue(spec, rescues[-1])
    return spec, len(rescues)


class DagRun:
    def __init__(
        self, spec: DagSpec, ctx: RunContext, rescue_number: int = 0, job_id: str | None = None
    ) -> None:
        self.spec, self.ctx, self.rescue_number = spec, ctx, rescue_number
        self.dagman_id = next(ctx.clusters)
        # The DAGMan job's own id, as condor_dagman names itself in DAGMAN_STARTED: the
        # backend's cluster for the outer DAG, the SUBDAG node's job for an inner one.
        self.job_id = job_id or f"{self.dagman_id}.0"
        self.records = {name: NodeRecord(name) for name in spec.nodes}
        self.waiting = {name: 0 for name in spec.nodes}  # parents not yet DONE
        self.ready: dict[str | None, deque[str]] = {}
        self.running: dict[asyncio.Task[bool], str] = {}
        self.in_category: Counter[str] = Counter()
        self.totals = RunTotals()
        self.failed = 0
        self.script_log = spec.path.with_name(spec.path.name + ".scripts.log")
        self.jobstate = JobstateWriter(spec.jobstate_log) if spec.jobstate_log else None
        if self.jobstate is not None and rescue_number:
            self.jobstate.continue_numbering()  # as condor_dagman does for a rescue DAG
        for name, node in spec.nodes.items():
            if node.done:
                self.records[name].status = DONE
        for name, node in spec.nodes.items():
            if node.done:
                continue
            self.waiting[name] = sum(not spec.nodes[p].done for p in node.parents)
            if self.waiting[name] == 0:
                self._make_ready(name)

    # ── scheduling ──────────────────────────────────────────────────────────

    def _make_ready(self, name: str) -> None:
        self.records[name].status = READY
        self.ready.setdefault(self.spec.nodes[name].category, deque()).append(name)

    def _launch(self) -> None:
        for category, queue in self.ready.items():
            limit = self.spec.maxjobs.get(category) if category else None
            while queue and (limit is None or self.in_category[category] < limit):
                name = queue.popleft()
                if category:
                    self.in_category[category] += 1
                self.running[asyncio.create_task(self._run_node(self.spec.nodes[name]))] = name

    def _finish(self, name: str, ok: bool) -> None:
        category = self.spec.nodes[name].category
        if category:
            self.in_category[category] -= 1
        if not ok:
            self.failed += 1
            return
        for child in self.spec.nodes[name].children:
            self.waiting[child] -= 1
            if self.waiting[child] == 0:
                self._make_ready(child)

    def _event(self, node: str, event: str, condor_id: str = "-") -> None:
        if self.jobstate is not None:
            self.jobstate.node(node, event, condor_id)

    async def run(self) -> int:
        if self.jobstate is not None:
            self.jobstate.dagman_started(self.job_id)
        status_task = asyncio.create_task(self._status_loop())
        try:
            self._launch()
            while self.running:
                done, _ = await asyncio.wait(self.running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    self._finish(self.running.pop(task), task.result())
                self._launch()
        except asyncio.CancelledError:
            return await self._remove(status_task)
        status_task.cancel()
        for rec in self.records.values():
            if rec.status in (NOT_READY, READY):
                rec.status, rec.details = FUTILE, "Had an ancestor node fail"
        if self.failed:
            write_rescue(self.spec.path, self.records.values())
            return self._close(EXIT_FAILED, DAG_NODE_FAILED)
        return self._close(EXIT_OK, DAG_OK)

    async def _remove(self, status_task: asyncio.Task[None]) -> int:
        """condor_rm: rescue DAG first, then kill what runs, then status and metrics."""
        write_rescue(self.spec.path, self.records.values())
        status_task.cancel()
        for task in self.running:
            task.cancel()
        await asyncio.gather(*self.running, return_exceptions=True)
        for name in self.running.values():
            rec = self.records[name]
            if rec.status in (PRERUN, SUBMITTED, POSTRUN):
                rec.details, rec.status = f"Was {STATUS_NAMES[rec.status]}", READY
        self.running.clear()
        return self._close(EXIT_REMOVED, DAG_RM)

    def _close(self, exit_code: int, dag_status: int) -> int:
        self._write_status(dag_status, next_update=0)
        if self.jobstate is not None:
            self.jobstate.dagman_finished(exit_code)
        subdags = {n for n, spec in self.spec.nodes.items() if spec.subdag}
        write_metrics(
            self.spec.path,
            self.records.values(),
            self.totals,
            exit_code,
            dag_status,
            self.dagman_id,
            self.rescue_number,
            subdags,
        )
        return exit_code

    def _write_status(self, dag_status: int, next_update: int) -> None:
        if self.spec.status_file is not None:
            write_status_file(
                self.spec.status_file,
                self.spec.path,
                dag_status,
                self.records.values(),
                next_update,
            )

    async def _status_loop(self) -> None:
        interval = min(self.spec.status_interval, self.ctx.status_interval)
        while True:
            self._write_status(DAG_ERROR if self.failed else DAG_OK, int(time.time() + interval))
            await asyncio.sleep(interval)

    # ── one node ────────────────────────────────────────────────────────────

    async def _run_node(self, node: NodeSpec) -> bool:
        rec = self.records[node.name]
        if node.noop:
            rec.status = DONE
            return True
        while True:
            value = await self._attempt(node, rec)
            if value == 0:
                rec.status, rec.details = DONE, ""
                return True
            stop_on = node.unless_exit if node.unless_exit not in (None, 0) else None
            if rec.retry < node.retries and value != stop_on:
                rec.retry += 1
                if self.jobstate is not None:
                    self.jobstate.retry(node.name)  # each try its own sequence number
                continue
            rec.status = ERROR
            rec.details = rec.details or f"exit value {value}"
            return False

    async def _attempt(self, node: NodeSpec, rec: NodeRecord) -> int:
        macros = {
            "JOB": node.name,
            "NODE": node.name,
            "RETRY": str(rec.retry),
            "MAX_RETRIES": str(node.retries),
            "DAGID": str(self.dagman_id),
            "FAILED_COUNT": str(self.failed),
            "DAG_STATUS": str(DAG_NODE_FAILED if self.failed else DAG_OK),
        }
        rec.details = ""
        pre_value = -1
        if node.pre is not None:
            rec.status = PRERUN
            self._event(node.name, "PRE_SCRIPT_STARTED")
            pre_value = await self._pre(node, macros)
            if pre_value != 0:
                self._event(node.name, "PRE_SCRIPT_FAILURE")
            if node.pre_skip is not None and pre_value == node.pre_skip:
                self._event(node.name, "PRESKIP")  # the event DAGMan logs for it
                return 0
            if pre_value != 0:
                rec.details = f"PRE script failed with status {pre_value}"
                return pre_value
            self._event(node.name, "PRE_SCRIPT_SUCCESS")
        rec.status = SUBMITTED
        cluster = next(self.ctx.clusters)
        if node.subdag:
            value, submitted = await self._run_subdag(node, rec, cluster)
        else:
            value, submitted = await self._run_job(node, rec, cluster)
        # DAGMan's verdict on the job; a node that could not be submitted gets none.
        job_id = f"{cluster}.0" if submitted else "-"
        if submitted:
            self._event(node.name, "JOB_SUCCESS" if value == 0 else "JOB_FAILURE", str(value))
        if node.post is not None:
            rec.status = POSTRUN
            self._event(node.name, "POST_SCRIPT_STARTED", job_id)
            macros |= {
                "RETURN": str(value),
                "PRE_SCRIPT_RETURN": str(pre_value),
                "JOBID": f"{cluster}.0",
                "CLUSTERID": str(cluster),
                "EXIT_CODES": str(value),
            }
            async with self.ctx.post_scripts:
                value = await run_script(node.post, macros, node.directory, self.script_log)
            rec.details = "" if value == 0 else f"POST script failed with status {value}"
            self._event(node.name, "POST_SCRIPT_TERMINATED", job_id)
            verdict = "POST_SCRIPT_SUCCESS" if value == 0 else "POST_SCRIPT_FAILURE"
            self._event(node.name, verdict, job_id)
        return value

    async def _pre(self, node: NodeSpec, macros: dict[str, str]) -> int:
        """The PRE script; a deferred one (SCRIPT DEFER) runs again after its wait, which
        is not a retry of the node."""
        assert node.pre is not None
        while True:
            async with self.ctx.scripts:
                value = await run_script(node.pre, macros, node.directory, self.script_log)
            if node.pre.defer_status is None or value != node.pre.defer_status:
                return value
            await asyncio.sleep(node.pre.defer_sec)

    async def _run_job(self, node: NodeSpec, rec: NodeRecord, cluster: int) -> tuple[int, bool]:
        """The job's value, and whether it was submitted. Its events go to the
        JOBSTATE_LOG as condor_dagman reads them from the job's log."""
        job_id = f"{cluster}.0"
        try:
            job = load_job(node.directory / node.submit_file, node.directory, node.vars, cluster)
        except SubmitError as e:
            rec.details = str(e)
            self._event(node.name, "SUBMIT_FAILURE")
            return SUBMIT_FAILED, False
        self._event(node.name, "SUBMIT", job_id)
        self.totals.jobs_submitted += 1
        if job.universe != "vanilla":  # local and scheduler universe: the submit host
            self._event(node.name, "EXECUTE", job_id)
            value = await run_job(job, node.name, cluster, self._machine(None))
        else:
            key = str(cluster)
            try:
                landing = job.attributes.get("+wms2_landingnode", "").lower() == "true"
                site = await self.ctx.pool.claim(
                    key, job.priority, job.desired_sites, job.request_name, landing, job.gpu
                )
                value = await self._run_in_slot(node, job, cluster, key, site)
            except JobRemoved:  # idle: before its first run, or after a memory eviction
                rec.details = "idle job removed: none of its DESIRED_Sites may run it"
                self.totals.jobs_failed += 1
                self._event(node.name, "JOB_ABORTED", job_id)
                return JOB_REMOVED, True
        if value == SUBMIT_FAILED:
            # It could not be started, or its files not transferred: HTCondor holds such a
            # job; the local pool has nobody to release it and removes it at once.
            self._event(node.name, "JOB_HELD", job_id)
            self._event(node.name, "JOB_ABORTED", job_id)
        else:
            self._event(node.name, "JOB_TERMINATED", job_id)
        if value == 0:
            self.totals.jobs_succeeded += 1
        else:
            self.totals.jobs_failed += 1
            rec.details = f"Job proc ({cluster}.0.0) failed with status {value}"
        return value, True

    async def _run_in_slot(
        self, node: NodeSpec, job: JobDescription, cluster: int, key: str, site: str
    ) -> int:
        """Run the job at `site`. A job stopped for using more memory than it asked for
        is, as the schedd does, evicted and rerun with more when its submit description
        carries HTCondor's retry, else held until WMS2 releases it with more
        (wms2.condor.memory)."""
        job_id = f"{cluster}.0"
        raised = False
        while True:
            self._event(node.name, "EXECUTE", job_id)
            try:
                return await run_job(
                    job, node.name, cluster, self._machine(site), self.ctx.memory_limits
                )
            except MemoryExceeded as e:
                exceeded = e
            finally:
                self.ctx.pool.release(key)
            before = job.request_memory
            after = evicted_memory(job, raised)
            if after is not None:
                raised = True
                log_event(
                    job, "004", cluster, f"Job was evicted. {exceeded}; RequestMemory {after}"
                )
                self._event(node.name, "JOB_EVICTED", job_id)
                bump = MemoryBump(node.name, job_id, before, after, EVICTED, exceeded.usage_mb)
                ledger.record(self.ctx.ledger_dir, [bump])
            else:
                reason = HOLD_REASON.format(usage=exceeded.usage_mb, request=before)
                log_event(job, "012", cluster, f"Job was held. {reason}")
                self._event(node.name, "JOB_HELD", job_id)
                after = await self.ctx.pool.hold(
                    key,
                    {
                        "request": job.request_name,
                        "node": node.name,
                        "request_memory": before,
                        "max_memory": job.max_memory,
                        "code": HOLD_OUT_OF_RESOURCES,
                        "subcode": SUBCODE_MEMORY,
                        "reason": reason,
                        "usage": exceeded.usage_mb,
                    },
                )
                log_event(job, "013", cluster, f"Job was released. RequestMemory {after}")
                self._event(node.name, "JOB_RELEASED", job_id)
            job.request_memory = after
            site = await self.ctx.pool.claim(key, job.priority, job.desired_sites, job.request_name)

    def _machine(self, site: str | None) -> Machine:
        ad = machine_ad_path(self.ctx.pool_dir, site) if site else Path(os.devnull)
        return Machine(ad, self.ctx.scratch)

    async def _run_subdag(self, node: NodeSpec, rec: NodeRecord, cluster: int) -> tuple[int, bool]:
        """The inner DAGMan's exit code, and whether it was submitted (condor_submit_dag
        refuses a DAG that does not parse)."""
        try:
            spec, rescues = load_with_rescue(node.directory / node.submit_file, node.directory)
        except DagSyntaxError as e:
            rec.details = str(e)
            self._event(node.name, "SUBMIT_FAILURE")
            return EXIT_FAILED, False
        job_id = f"{cluster}.0"
        inner = DagRun(spec, self.ctx, rescues, job_id)
        self.totals.jobs_submitted += 1
        self._event(node.name, "SUBMIT", job_id)
        self._event(node.name, "EXECUTE", job_id)
        value = await inner.run()
        self._event(node.name, "JOB_TERMINATED", job_id)
        if value == 0:
            self.totals.jobs_succeeded += 1
        else:
            self.totals.jobs_failed += 1
            rec.details = f"SUBDAG exited with {value}"
        return value, True


async def run_dag(dag_file: Path, ctx: RunContext, job_id: str | None = None) -> int:
    spec, rescues = load_with_rescue(dag_file)
    run = DagRun(spec, ctx, rescues, job_id)
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await run.run()
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("dag_file", type=Path)
    p.add_argument("--record", type=Path, required=True, help="JSON file for the exit code")
    p.add_argument("--pool", type=Path, required=True, help="the local pool's directory")
    p.add_argument("--scratch", type=Path, required=True)
    p.add_argument("--cluster", type=int, required=True)
    p.add_argument("--status-interval", type=float, default=2.0)
    p.add_argument("--process-groups", type=Path, help="directory listing running node groups")
    p.add_argument("--memory-limits", action="store_true", help="enforce request_memory")
    args = p.parse_args(argv)
    if args.process_groups is not None:
        args.process_groups.mkdir(parents=True, exist_ok=True)
        nodeexec.PROCESS_GROUPS = args.process_groups
    dag_file = args.dag_file.resolve()
    lock = dag_file.with_name(dag_file.name + ".lock")
    started = time.time()
    print(f"{time.ctime()} local DAGMan {os.getpid()} starting {dag_file}", flush=True)
    code, detail = EXIT_FAILED, ""
    try:
        lock.write_text(str(os.getpid()))
        config = parse_dag(dag_file).config
        ctx = RunContext(
            pool=PoolClient(PoolFile(args.pool)),
            pool_dir=args.pool,
            scripts=asyncio.Semaphore(int(config.get("DAGMAN_MAX_PRE_SCRIPTS", 20))),
            post_scripts=asyncio.Semaphore(int(config.get("DAGMAN_MAX_POST_SCRIPTS", 20))),
            scratch=args.scratch,
            clusters=itertools.count(args.cluster * 1000 + 1),
            status_interval=args.status_interval,
            memory_limits=args.memory_limits,
            ledger_dir=dag_file.parent,
        )
        code = asyncio.run(run_dag(dag_file, ctx, f"{args.cluster}.0"))
    except DagSyntaxError as e:
        detail = str(e)
        print(f"ERROR: {e}", flush=True)
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()
        record = {"exit_code": code, "detail": detail, "started": started, "finished": time.time()}
        tmp = args.record.with_name(args.record.name + ".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, args.record)
    print(f"{time.ctime()} local DAGMan exiting with {code}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
