"""DAG activities: plan, submit (idempotently), monitor (long-running, heartbeating),
remove, wait for exit, query, ping."""

from __future__ import annotations

import time
import uuid
from asyncio import CancelledError
from pathlib import Path

from temporalio import activity

from activities.deps import ActivityDeps, domain_errors
from wms2.condor import JobState, JobStatus
from wms2.condor.dagfile import rescue_files
from wms2.condor.handles import DagHandle, JobHandle
from wms2.dagfiles import DagLayout, dag_directory
from wms2.dagfiles.layout import DagDirectoryInUse
from wms2.dagstatus import (
    DONE,
    ERROR,
    POSTRUN,
    PRERUN,
    SUBMITTED,
    DagSnapshot,
    MergeReportError,
    StatusFileIncomplete,
    merged_file,
    newly_completed_work_units,
    read_merge_output,
    read_status_file,
)
from wms2.messages import (
    Activity,
    CompletedWorkUnit,
    DagExit,
    DagProgress,
    MonitorInput,
    MonitorResult,
    PlanInput,
    PlanResult,
    RemoveInput,
    SubmitDagInput,
    WorkUnitOutput,
)
from wms2.models import DAG, DAGStatus, utcnow
from wms2.planning import plan_request
from wms2.reconcile import ensure_rescue, reconcile_work_units


class DagActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    # ── planning and submission ─────────────────────────────────────────────

    @activity.defn(name=Activity.PLAN_DAG)
    def plan_dag(self, inp: PlanInput) -> PlanResult:
        repo, services = self.deps.repo, self.deps.services
        with domain_errors():
            request = repo.get_request(inp.request_name)
            layout = DagLayout(dag_directory(self.deps.settings.submit_dir, inp.request_name))
            if self.deps.backend.find_dag(layout.dag_file) is not None:
                raise DagDirectoryInUse(
                    f"{layout.root}: a DAGMan is running its DAG; not replanned"
                )
            summary = plan_request(
                request, services.files, services.replicas, self.deps.settings, inp.pilot_metrics
            )
            wf = repo.get_workflow_by_request(inp.request_name)
            dag = repo.upsert_dag(
                DAG(
                    workflow_id=wf.id,
                    attempt=1,
                    dag_file_path=summary.dag_file,
                    submit_dir=summary.dag_dir,
                    total_nodes=summary.total_nodes,
                    total_edges=summary.total_edges,
                    node_counts=summary.node_counts,
                    total_work_units=summary.work_units,
                    status=DAGStatus.READY,
                )
            )
            repo.update_workflow(wf.id, dag_id=dag.id, total_nodes=summary.total_nodes)
        activity.logger.info(
            "planned %s: %d work units, %d nodes",
            inp.request_name,
            summary.work_units,
            summary.total_nodes,
        )
        return PlanResult(
            dag_file=summary.dag_file,
            work_units=summary.work_units,
            node_counts=summary.node_counts,
            total_nodes=summary.total_nodes,
        )

    @activity.defn(name=Activity.SUBMIT_DAG)
    def submit_dag(self, inp: SubmitDagInput) -> DagHandle:
        """Idempotent: a DAGMan already running this DAG is returned, not duplicated."""
        repo, backend = self.deps.repo, self.deps.backend
        dag_file = Path(inp.dag_file)
        with domain_errors():
            wf = repo.get_workflow_by_request(inp.request_name)
            previous = repo.latest_dag(wf.id)
            if previous is None:
                raise ValueError(f"request {inp.request_name} has no planned DAG")
            if inp.attempt > 1:
                # Whatever the previous run left behind, finished work is never rerun.
                recorded = repo.recorded_work_units(wf.id, before_attempt=inp.attempt)
                ensure_rescue(DagLayout(dag_file.parent), recorded)
            rescues = rescue_files(dag_file)
            record = previous
            if inp.attempt > previous.attempt:
                # A rescue submission is a new DAG record (its own id), linked to the last.
                record = repo.upsert_dag(
                    previous.model_copy(
                        update={
                            "id": uuid.uuid4(),
                            "attempt": inp.attempt,
                            "parent_dag_id": previous.id,
                            "rescue_dag_path": str(rescues[-1]) if rescues else None,
                            "status": DAGStatus.READY,
                            "dagman_cluster_id": None,
                            "submitted_at": None,
                            "completed_at": None,
                        }
                    )
                )
            live = backend.find_dag(dag_file)
            handle = live or backend.submit_dag(dag_file, batch_name=inp.request_name)
            repo.update_dag(
                record.id,
                dagman_cluster_id=handle.cluster_id,
                schedd_name=handle.schedd,
                status=DAGStatus.SUBMITTED,
                submitted_at=record.submitted_at or utcnow(),
            )
            repo.update_workflow(wf.id, dag_id=record.id)
            if live is None:
                repo.append_dag_history(
                    record.id,
                    "submitted",
                    DAGStatus.READY.value,
                    DAGStatus.SUBMITTED.value,
                    detail={"cluster": handle.cluster_id, "attempt": inp.attempt},
                )
        activity.logger.info(
            "%s DAG of %s as cluster %s",
            "found live" if live else "submitted",
            inp.request_name,
            handle.cluster_id,
        )
        return handle

    # ── monitoring ───────────────────────────────────────────────────────────

    @activity.defn(name=Activity.MONITOR_DAG)
    def monitor_dag(self, inp: MonitorInput) -> MonitorResult:
        """Polls the DAG until new work units complete, the DAG ends, or max_seconds pass.

        Heartbeat details carry the poll window's start and the last progress, so a retry
        after a worker restart continues the same window instead of starting over. Work
        units are reported relative to `known_work_units`, which the workflow has
        recorded: a unit is reported again only if an earlier attempt died before its
        result reached the workflow.
        """
        info = activity.info()
        details = info.heartbeat_details
        state = dict(details[0]) if details else {}
        started = float(state.get("window_started", time.time()))
        progress = DagProgress.model_validate(state.get("progress", {}))
        known = set(inp.known_work_units)
        layout = DagLayout(Path(inp.dag.dag_file).parent)
        while True:
            snapshot = self._snapshot(layout)
            status = self.deps.backend.query(inp.dag)
            if snapshot is not None:
                progress = self._progress(layout, snapshot)
            finished = status.state is not JobState.ALIVE
            if finished:
                # Work units that completed between the last poll and DAGMan's exit.
                snapshot = self._snapshot(layout) or snapshot
                if snapshot is not None:
                    progress = self._progress(layout, snapshot)
            unreported: dict[str, str] = {}
            lost = status.state is JobState.MISSING
            if lost:
                reaped = self.deps.backend.reap_orphans(inp.dag)
                status = status.model_copy(
                    update={"detail": f"{status.detail}; {reaped} orphaned node job(s) killed"}
                )
                activity.logger.error("DAGMan of %s lost: %s", inp.request_name, status.detail)
            if finished:
                # The authoritative files, not the last status file: nothing is left out.
                rec = reconcile_work_units(
                    layout, known, dag_succeeded=not lost and status.exit_code == 0
                )
                new = [self._unit(name, report) for name, report in sorted(rec.reports.items())]
                unreported = rec.unreported
                for name, why in unreported.items():
                    activity.logger.error("work unit %s has no usable output: %s", name, why)
            else:
                new = self._completed(layout, snapshot, known)
            if new or finished or time.time() - started >= inp.max_seconds:
                self._record(inp, progress, new, status if finished else None)
                return MonitorResult(
                    new_work_units=new,
                    progress=progress,
                    finished=finished,
                    exit_code=status.exit_code if finished else None,
                    detail=status.detail,
                    unreported_work_units=unreported,
                    lost=lost,
                )
            activity.heartbeat(
                {"window_started": started, "progress": progress.model_dump(), "known": len(known)}
            )
            time.sleep(inp.poll_seconds)
            if activity.is_cancelled():
                # A stop or abort: the workflow no longer wants this DAG's news.
                raise CancelledError(f"monitoring of {inp.request_name} cancelled")

    @staticmethod
    def _snapshot(layout: DagLayout) -> DagSnapshot | None:
        try:
            return read_status_file(layout.status_file)
        except StatusFileIncomplete:
            return None  # being rewritten: read again at the next poll

    @staticmethod
    def _progress(layout: DagLayout, outer: DagSnapshot) -> DagProgress:
        progress = DagProgress(
            work_units_total=len(outer.nodes),
            work_units_done=sum(n.status == DONE for n in outer.nodes.values()),
        )
        for name in outer.nodes:
            try:
                inner = read_status_file(layout.group_dir(name) / "group.dag.status")
            except StatusFileIncomplete:
                inner = None
            if inner is None:
                continue
            progress.nodes_total += len(inner.nodes)
            for node in inner.nodes.values():
                progress.nodes_done += node.status == DONE
                progress.nodes_failed += node.status == ERROR
                progress.nodes_running += node.status in (PRERUN, SUBMITTED, POSTRUN)
        return progress

    @staticmethod
    def _completed(
        layout: DagLayout, snapshot: DagSnapshot | None, known: set[str]
    ) -> list[CompletedWorkUnit]:
        if snapshot is None:
            return []
        out = []
        for name in newly_completed_work_units(snapshot, known):
            try:
                report = read_merge_output(layout.merge_output(name))
            except MergeReportError as e:
                activity.logger.warning("work unit %s done but not readable yet: %s", name, e)
                continue
            out.append(DagActivities._unit(name, report))
        return out

    @staticmethod
    def _unit(name: str, report: dict) -> CompletedWorkUnit:
        return CompletedWorkUnit(
            name=name,
            outputs=[WorkUnitOutput(**merged_file(o)) for o in report["outputs"]],
        )

    def _record(
        self,
        inp: MonitorInput,
        progress: DagProgress,
        new: list[CompletedWorkUnit],
        final: JobStatus | None,
    ) -> None:
        repo = self.deps.repo
        wf = repo.get_workflow_by_request(inp.request_name)
        dag = repo.dag_attempt(wf.id, inp.attempt)  # this attempt's row, never a later one
        if dag is None:
            return
        repo.update_dag(
            dag.id,
            nodes_done=progress.nodes_done,
            nodes_failed=progress.nodes_failed,
            nodes_running=progress.nodes_running,
            completed_work_units=sorted(set(dag.completed_work_units) | {w.name for w in new}),
        )
        status, extra = DAGStatus.RUNNING, {}
        if final is not None:
            status = {0: DAGStatus.COMPLETED, 2: DAGStatus.REMOVED}.get(
                final.exit_code, DAGStatus.FAILED
            )
            extra["completed_at"] = utcnow()
            extra["exit_code"] = final.exit_code
        # A clean stop's STOPPED belongs to await_dag_exit, which may race with us.
        if not repo.set_dag_status(dag.id, status, unless=[DAGStatus.STOPPED], **extra):
            status = DAGStatus.STOPPED
        repo.update_workflow(
            wf.id,
            nodes_done=progress.nodes_done,
            nodes_failed=progress.nodes_failed,
            nodes_running=progress.nodes_running,
        )
        if new or final is not None:
            repo.append_dag_history(
                dag.id,
                "finished" if final else "progress",
                to_status=status.value,
                nodes_done=progress.nodes_done,
                nodes_failed=progress.nodes_failed,
                nodes_running=progress.nodes_running,
                detail={
                    "new_work_units": [w.name for w in new],
                    "exit_code": final.exit_code if final else None,
                },
            )

    # ── stop ─────────────────────────────────────────────────────────────────

    @activity.defn(name=Activity.REMOVE_DAG)
    def remove_dag(self, inp: RemoveInput) -> bool:
        repo = self.deps.repo
        removed = self.deps.backend.remove(inp.dag)
        wf = repo.get_workflow_by_request(inp.request_name)
        dag = repo.latest_dag(wf.id)
        if dag is not None:
            repo.update_dag(dag.id, stop_requested_at=utcnow(), stop_reason=inp.reason)
            repo.append_dag_history(
                dag.id, "remove_requested", detail={"reason": inp.reason, "removed": removed}
            )
        return removed

    @activity.defn(name=Activity.AWAIT_DAG_EXIT)
    def await_dag_exit(self, inp: MonitorInput) -> DagExit:
        """Waits (heartbeating) until DAGMan is gone after a removal; records the rescue DAG."""
        deadline = time.monotonic() + inp.max_seconds
        while (status := self.deps.backend.query(inp.dag)).state is JobState.ALIVE:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"DAGMan {inp.dag.cluster_id} still running "
                    f"{inp.max_seconds:.0f} s after removal"
                )
            activity.heartbeat(status.state.value)
            time.sleep(inp.poll_seconds)
        rescues = rescue_files(Path(inp.dag.dag_file))
        repo = self.deps.repo
        wf = repo.get_workflow_by_request(inp.request_name)
        dag = repo.dag_attempt(wf.id, inp.attempt)
        rescue = str(rescues[-1]) if rescues else None
        # Exit code 0: DAGMan finished the whole DAG before the removal reached it.
        final = DAGStatus.STOPPED
        if status.exit_code == 0:
            final = DAGStatus.COMPLETED
        elif inp.aborted:
            final = DAGStatus.REMOVED
        if dag is not None:
            layout = DagLayout(Path(inp.dag.dag_file).parent)
            snapshot = self._snapshot(layout)
            counts = {}
            if snapshot is not None:
                p = self._progress(layout, snapshot)
                counts = {
                    "nodes_done": p.nodes_done,
                    "nodes_failed": p.nodes_failed,
                    "nodes_running": p.nodes_running,
                }
            repo.update_dag(
                dag.id,
                status=final,
                rescue_dag_path=rescue,
                completed_at=utcnow(),
                exit_code=status.exit_code,
                **counts,
            )
            repo.append_dag_history(
                dag.id,
                "stopped",
                to_status=final.value,
                detail={"rescue": rescue, "exit_code": status.exit_code},
            )
        return DagExit(exit_code=status.exit_code, rescue_file=rescue)

    @activity.defn(name=Activity.QUERY_JOB)
    def query_job(self, handle: DagHandle | JobHandle) -> JobStatus:
        return self.deps.backend.query(handle)

    @activity.defn(name=Activity.PING_BACKEND)
    def ping_backend(self) -> bool:
        return self.deps.backend.ping()
