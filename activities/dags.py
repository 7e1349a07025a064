"""DAG activities: plan, submit (idempotently), monitor (long-running, heartbeating),
remove, wait for exit, query, ping."""

from __future__ import annotations

import asyncio
import time
import uuid
from asyncio import CancelledError
from pathlib import Path

from temporalio import activity

from activities.dag_records import record_observation
from activities.deps import ActivityDeps, domain_errors
from activities.placement import place
from wms2.condor import IdleEdit, JobState, JobStatus
from wms2.condor.handles import DagHandle, JobHandle
from wms2.condor.several import SeveralSchedds
from wms2.dagfiles import DagLayout, dag_directory
from wms2.dagfiles.layout import DagDirectoryInUse
from wms2.dagfiles.writer import write_priority_file
from wms2.dagman.dagfile import rescue_files
from wms2.messages import (
    Activity,
    DagExit,
    MonitorInput,
    MonitorResult,
    PlanInput,
    PlanResult,
    RemoveInput,
    ReprioritizeInput,
    SubmitDagInput,
)
from wms2.models import DAG, DAGStatus, SiteStatus, utcnow
from wms2.plan_dag import plan_request
from wms2.planning.splitting import NoUsableSite, SplittingError
from wms2.tracking.reconcile import ensure_rescue
from wms2.tracking.watch import observe_dag, progress_of, read_snapshot


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
            settings = self.deps.settings
            unavailable = {
                name: status.value
                for name, status in repo.sites.statuses().items()
                if status is not SiteStatus.ENABLED
            }
            try:
                summary = plan_request(
                    request,
                    services.files,
                    services.replicas,
                    settings,
                    inp.pilot_metrics,
                    unavailable_sites=unavailable,
                )
            except NoUsableSite as e:
                if settings.no_site_policy == "fail":
                    raise SplittingError(str(e)) from e
                raise
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

    @activity.defn(name=Activity.REPRIORITIZE_DAG)
    def reprioritize_dag(self, inp: ReprioritizeInput) -> IdleEdit:
        """DAGMan has no call that changes a running DAG's priority (spec section 12), so:
        the DAG's priority file, which every submit description includes, is rewritten
        (nodes DAGMan submits from now on get the new JobPrio), and the idle node jobs
        already queued get theirs edited (condor_qedit / the local pool)."""
        with domain_errors():
            write_priority_file(DagLayout(Path(inp.dag_file).parent), inp.priority)
            backend = self.deps.backend
            if isinstance(backend, SeveralSchedds):  # only the schedd its DAG runs on
                wf = self.deps.repo.get_workflow_by_request(inp.request_name)
                dag = self.deps.repo.latest_dag(wf.id)
                schedd = (dag.schedd_name if dag is not None else None) or ""
                return backend.edit_idle_jobs(inp.request_name, inp.priority, schedd=schedd)
            return backend.edit_idle_jobs(inp.request_name, priority=inp.priority)

    def _submit(
        self, dag_file: Path, request_name: str, schedd: str | None, pilot_schedd: str | None
    ) -> DagHandle:
        """To the schedd of the DAG's earlier attempt (a rescue stays where its DAG ran),
        else (several submit hosts) to its pilot's schedd while that has room, else to
        one with room for all its scheduler jobs (activities/placement.py)."""
        backend = self.deps.backend
        if not isinstance(backend, SeveralSchedds):
            return backend.submit_dag(dag_file, batch_name=request_name)
        if schedd not in backend.schedds:
            schedd = place(self.deps, backend.schedds, request_name, prefer=pilot_schedd)
        return backend.submit_dag(dag_file, batch_name=request_name, schedd=schedd or "")

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
                ensure_rescue(
                    DagLayout(dag_file.parent), recorded, self.deps.settings.memory_bump_factor
                )
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
                            "stop_requested_at": None,
                            "stop_reason": None,
                            "exit_code": None,
                            "completed_work_units": sorted(inp.known_work_units),
                        }
                    )
                )
            live = backend.find_dag(dag_file)
            handle = live or self._submit(
                dag_file, inp.request_name, previous.schedd_name, wf.pilot_schedd
            )
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

    @activity.defn(name=Activity.CHECK_DAG)
    def check_dag(self, inp: MonitorInput) -> MonitorResult:
        """One look at the DAG (seconds): what a request workflow runs when the tracker's
        news did not come for a while. Units are reported relative to
        `known_work_units`, which the workflow has recorded. Its record (retried with the
        activity, possibly after the tracker's) never replaces a newer one nor records
        a unit or the DAG's end twice (Repository.record_dag_observation)."""
        layout = DagLayout(Path(inp.dag.dag_file).parent)
        res = observe_dag(layout, inp.dag, inp.known(), self.deps.backend)
        self._log_end(inp.request_name, res)
        record_observation(self.deps.repo, inp.request_name, inp.attempt, res)
        return res

    @activity.defn(name=Activity.MONITOR_DAG)
    def monitor_dag(self, inp: MonitorInput) -> MonitorResult:
        """Polls the DAG until new work units complete, the DAG ends, or max_seconds pass.

        Only for workflows that started before the tracker (their histories call it);
        heartbeat details carry the poll window's start, so a retry after a worker
        restart continues the same window instead of starting over.
        """
        details = activity.info().heartbeat_details
        state = dict(details[0]) if details else {}
        started = float(state.get("window_started", time.time()))
        known = inp.known()
        layout = DagLayout(Path(inp.dag.dag_file).parent)
        while True:
            res = observe_dag(layout, inp.dag, known, self.deps.backend)
            if res.new_work_units or res.finished or time.time() - started >= inp.max_seconds:
                self._log_end(inp.request_name, res)
                record_observation(self.deps.repo, inp.request_name, inp.attempt, res)
                return res
            activity.heartbeat({"window_started": started, "known": len(known)})
            time.sleep(inp.poll_seconds)
            if activity.is_cancelled():
                # A stop or abort: the workflow no longer wants this DAG's news.
                raise CancelledError(f"monitoring of {inp.request_name} cancelled")

    @staticmethod
    def _log_end(request_name: str, res: MonitorResult) -> None:
        if res.lost:
            activity.logger.error("DAGMan of %s lost: %s", request_name, res.detail)
        for name, why in res.unreported_work_units.items():
            activity.logger.error("work unit %s has no usable output: %s", name, why)

    # ── stop ─────────────────────────────────────────────────────────────────

    @activity.defn(name=Activity.REMOVE_DAG)
    def remove_dag(self, inp: RemoveInput) -> bool:
        repo, backend = self.deps.repo, self.deps.backend
        # No cluster: the submission was interrupted; the DAGMan of its file, if any.
        handle = inp.dag if inp.dag.cluster_id else backend.find_dag(Path(inp.dag.dag_file))
        removed = handle is not None and backend.remove(handle)
        wf = repo.get_workflow_by_request(inp.request_name)
        dag = repo.latest_dag(wf.id)
        if dag is not None:
            repo.update_dag(dag.id, stop_requested_at=utcnow(), stop_reason=inp.reason)
            repo.append_dag_history(
                dag.id, "remove_requested", detail={"reason": inp.reason, "removed": removed}
            )
        return removed

    @activity.defn(name=Activity.AWAIT_DAG_EXIT)
    async def await_dag_exit(self, inp: MonitorInput) -> DagExit:
        """Waits (heartbeating, holding no thread between queries) until DAGMan is gone
        after a removal; records the rescue DAG."""
        deadline = time.monotonic() + inp.max_seconds
        query = self.deps.backend.query
        while (status := await asyncio.to_thread(query, inp.dag)).state is JobState.ALIVE:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"DAGMan {inp.dag.cluster_id} still running "
                    f"{inp.max_seconds:.0f} s after removal"
                )
            activity.heartbeat(status.state.value)
            await asyncio.sleep(inp.poll_seconds)
        return await asyncio.to_thread(self._record_exit, inp, status)

    def _record_exit(self, inp: MonitorInput, status: JobStatus) -> DagExit:
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
            snapshot = read_snapshot(layout.status_file)
            counts = {}
            if snapshot is not None:
                p = progress_of(layout, snapshot, {})
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
