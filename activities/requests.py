"""Request records: import from ReqMgr2 (or the catalog), transitions, updates, versions."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity

from activities.deps import ActivityDeps, domain_errors
from wms2.db.repository import RecordNotFound, Repository
from wms2.lifecycle.decisions import bump_versions, next_version_name
from wms2.messages import (
    Activity,
    ImportInput,
    ImportResult,
    LifecycleConfig,
    RequestUpdate,
    ResumePoint,
    TransitionInput,
    TransitionRecorded,
    VersionInput,
)
from wms2.models import RequestStatus, Workflow, WorkflowStatus
from wms2.recovery.resolve import resolve_recovery
from wms2.reqmgr import RequestAlreadyRan, RerunRefused, request_from_reqmgr

_WORKFLOW_STATUS = {s.value for s in WorkflowStatus}


class RequestActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @activity.defn(name=Activity.IMPORT_REQUEST)
    def import_request(self, inp: ImportInput) -> ImportResult:
        repo = self.deps.repo
        this_run = activity.info().workflow_run_id
        with domain_errors():
            earlier = repo.request_run(inp.request_name)
            rerun = earlier is not None and earlier.run_id not in (None, this_run)
            if rerun and not inp.rerun:
                assert earlier is not None
                raise RequestAlreadyRan(
                    f"request {inp.request_name!r} already ran (run {earlier.number} ended "
                    f"{earlier.status}): submit it with --rerun to run it again"
                    if RequestStatus(earlier.status).is_terminal
                    else f"request {inp.request_name!r} is still running (run {earlier.number}, "
                    f"status {earlier.status}): stop, restart or abort it instead"
                )
            if inp.request_document is not None:
                doc = inp.request_document
            else:
                try:  # a version increment was created by WMS2 itself; a rerun's record
                    existing = repo.get_request(inp.request_name)
                except RecordNotFound:
                    existing = None
                doc = (
                    None
                    if existing is not None
                    else self.deps.services.requests.get_request(inp.request_name)
                )
            request = (
                request_from_reqmgr(
                    doc,
                    inp.request_name,
                    self.deps.settings.target_job_length_sec,
                    self.deps.settings.reqmgr_runnable_states,
                )
                if doc is not None
                else existing
            )
            if doc is not None:  # a Resubmission: cut to its original's failed work
                request = resolve_recovery(request, repo, self.deps.services.acdc)
            updates = {}
            if inp.previous_version_request:
                updates["previous_version_request"] = inp.previous_version_request
            if inp.cleanup_policy:
                updates["cleanup_policy"] = inp.cleanup_policy
            request = request.model_validate({**request.model_dump(), **updates})
            resume = resume_point(repo, inp.request_name) if rerun else None
            stored = repo.upsert_request(request)
            run = repo.start_run(stored.request_name, this_run)
            repo.upsert_workflow(
                Workflow(
                    request_name=stored.request_name,
                    input_dataset=stored.input_dataset,
                    splitting_algo=stored.splitting_algo,
                    splitting_params=stored.splitting_params,
                    category_throttles=self.deps.settings.category_throttles,
                )
            )
        # --urgent belongs to this submission: the record keeps the document's value.
        urgent = stored.urgent if inp.urgent is None else inp.urgent
        activity.logger.info("imported request %s (run %d)", stored.request_name, run)
        return ImportResult(
            request_name=stored.request_name,
            priority=stored.priority,
            urgent=urgent,
            campaign=stored.campaign,
            request_type=stored.request_type,
            processing_version=stored.processing_version,
            production_steps=[] if urgent else stored.production_steps,
            cleanup_policy=stored.cleanup_policy,
            output_datasets=stored.output_datasets,
            run=run,
            resume=resume,
            recovery=stored.recovery.describe() if stored.recovery else None,
        )

    @activity.defn(name=Activity.RECORD_TRANSITION)
    def record_transition(self, inp: TransitionInput) -> TransitionRecorded:
        """Append the transition (not recorded when the request has no record: its import
        failed); answer with the worker's current settings."""
        repo = self.deps.repo
        config = LifecycleConfig.from_settings(self.deps.settings)
        try:
            repo.record_transition(inp.request_name, inp.to_status, inp.reason)
        except RecordNotFound:
            return TransitionRecorded(recorded=False, config=config)
        if inp.to_status.value in _WORKFLOW_STATUS and inp.to_status is not RequestStatus.QUEUED:
            try:
                wf = repo.get_workflow_by_request(inp.request_name)
                repo.update_workflow(wf.id, status=inp.to_status.value)
            except RecordNotFound:
                pass
        return TransitionRecorded(recorded=True, config=config)

    @activity.defn(name=Activity.WORKER_SETTINGS)
    def worker_settings(self) -> LifecycleConfig:
        """The lifecycle settings of the worker that runs this: a request started without
        them (starter.py, the temporal CLI, a schedule) takes them at its start."""
        return LifecycleConfig.from_settings(self.deps.settings)

    @activity.defn(name=Activity.UPDATE_REQUEST)
    def update_request(self, inp: RequestUpdate) -> None:
        fields = inp.model_dump(exclude={"request_name"}, exclude_none=True)
        with domain_errors():
            self.deps.repo.update_request(inp.request_name, **fields)

    @activity.defn(name=Activity.CREATE_VERSION)
    def create_version_increment(self, inp: VersionInput) -> str:
        """Spec 6.3: a new request with processing_version + 1, linked both ways."""
        repo = self.deps.repo
        with domain_errors():
            old = repo.get_request(inp.request_name)
            new_name = next_version_name(old.request_name, old.processing_version)
            bumped = bump_versions(old)
            new = bumped.model_copy(
                update={
                    "request_name": new_name,
                    "previous_version_request": old.request_name,
                    "superseded_by_request": None,
                    "cleanup_policy": inp.cleanup_policy,
                    "status": RequestStatus.SUBMITTED,
                    "status_transitions": [],
                }
            )
            repo.upsert_request(new.model_validate(new.model_dump()))
            repo.update_request(old.request_name, superseded_by_request=new_name)
        return new_name


def resume_point(repo: Repository, request_name: str) -> ResumePoint | None:
    """The DAG an earlier run of the request planned, for a rerun to pick up; None when no
    DAG was planned (the rerun plans one). A DAG whose file is gone cannot be resumed, and
    planning anew would redo recorded work: refused."""
    try:
        wf = repo.get_workflow_by_request(request_name)
    except RecordNotFound:
        return None
    dag = repo.latest_dag(wf.id)
    if dag is None:
        return None
    # Handed over: an output workflow of an earlier run recorded the unit's output, and
    # owns it. A unit that is only done (on a DAG record or in DAGMan's files) is not run
    # again either (the rescue DAG marks it DONE), but this run's monitor hands it over.
    handed_over = {o.work_unit for o in repo.list_outputs(wf.id)}
    if not Path(dag.dag_file_path).is_file():
        done = handed_over | repo.recorded_work_units(wf.id, before_attempt=dag.attempt + 1)
        if done:
            raise RerunRefused(
                f"request {request_name!r}: its DAG file {dag.dag_file_path} is gone but "
                f"{len(done)} work unit(s) are done; a rerun would redo them "
                "(restore the DAG directory, or use a catastrophic restart)"
            )
        return None
    return ResumePoint(
        dag_file=dag.dag_file_path,
        attempt=dag.attempt,
        work_units=dag.total_work_units or 0,
        total_nodes=dag.total_nodes or 0,
        handed_over=sorted(handed_over),
        harvest_jobs=(dag.node_counts or {}).get("Harvest", 0),
    )
