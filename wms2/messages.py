"""Inputs and outputs of WMS2's workflows and activities: one model per call, small
(Temporal payloads stay far below 2 MB), fields added compatibly."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from wms2.condor.handles import DagHandle, JobHandle, JobStatus
from wms2.config import DEFAULT_STUCK_TIMEOUTS, Settings
from wms2.failures.model import FailureReport
from wms2.models import CleanupPolicy, PilotMetrics, ProductionStep, RequestStatus
from wms2.outputs.messages import DqmUpload, OutputConfig, OutputProgress, WorkUnitFile
from wms2.unit_names import PackedNames, unpack

ADMISSION_WORKFLOW_ID = "wms2-admission"


def request_workflow_id(request_name: str) -> str:
    return f"request-{request_name}"


class Activity(StrEnum):
    """Activity names: workflows call activities by name, tests fake them by name."""

    IMPORT_REQUEST = "import_request"
    RECORD_TRANSITION = "record_transition"
    WORKER_SETTINGS = "worker_settings"
    UPDATE_REQUEST = "update_request"
    CREATE_VERSION = "create_version_increment"
    ENQUEUE = "enqueue_for_admission"
    ENDED_REQUESTS = "find_ended_requests"
    SUBMIT_PILOT = "submit_pilot"
    AWAIT_PILOT = "await_pilot"
    READ_PILOT_METRICS = "read_pilot_metrics"
    PLAN_DAG = "plan_dag"
    SUBMIT_DAG = "submit_dag"
    MONITOR_DAG = "monitor_dag"  # before the tracker: kept for recorded histories
    CHECK_DAG = "check_dag"
    TRACK_DAGS = "track_dags"
    REMOVE_DAG = "remove_dag"
    AWAIT_DAG_EXIT = "await_dag_exit"
    QUERY_JOB = "query_job"
    PING_BACKEND = "ping_backend"
    # output pipeline: one activity per transition of a work unit's output
    REGISTER_OUTPUT = "register_output_in_dbs"
    PROTECT_OUTPUT = "protect_output_source"
    REQUEST_TRANSFERS = "request_output_transfers"
    POLL_TRANSFERS = "poll_output_transfers"
    RELEASE_SOURCE = "release_output_source"
    ANNOUNCE_OUTPUT = "announce_output"
    FAIL_OUTPUT = "record_output_failure"
    INVALIDATE_OUTPUT = "invalidate_output"
    LOAD_OUTPUTS = "load_outputs"
    INVALIDATE_REQUEST_OUTPUTS = "invalidate_request_outputs"
    RETRY_OUTPUTS = "retry_failed_outputs"
    # input on tape only: staged to disk by a Rucio rule before planning
    STAGE_INPUT = "stage_input"
    POLL_STAGING = "poll_staging"
    CHANGE_SITE = "change_site"
    SYNC_SITES = "sync_sites"
    REPRIORITIZE_DAG = "reprioritize_dag"
    UPLOAD_DQM = "upload_dqm_files"  # harvesting: DQM files to the DQM GUI after the DAG
    FAILURE_REPORT = "failure_report"
    SIZE_PENDING_UNITS = "size_pending_units"


# ── the request workflow ────────────────────────────────────────────────────


class StagingRule(BaseModel):
    """A Rucio rule that brings a request's tape-only input to disk (None: nothing left
    on tape only)."""

    rule_id: str | None
    rse_expression: str = ""
    blocks: int = 0
    first_block: str = ""
    files: int = 0
    state: str = "REPLICATING"
    since: datetime | None = None


class StageInput(BaseModel):
    request_name: str


class PollStagingInput(BaseModel):
    request_name: str
    rule_id: str


class Alert(BaseModel):
    kind: str  # stuck_in_queue, slow_dag, schedd_unreachable, stuck_stopping, ...
    status: RequestStatus
    message: str
    at: datetime


class TransitionView(BaseModel):
    from_status: RequestStatus | None
    to_status: RequestStatus
    at: datetime
    reason: str = ""


class DagProgress(BaseModel):
    nodes_total: int = 0
    nodes_done: int = 0
    nodes_failed: int = 0
    nodes_running: int = 0
    work_units_total: int = 0
    work_units_done: int = 0


class RequestState(BaseModel):
    """Everything the request workflow knows; carried across continue-as-new."""

    request_name: str
    run: int = 1  # which run of this request name (submit --rerun starts another)
    status: RequestStatus = RequestStatus.SUBMITTED
    status_since: datetime | None = None
    priority: int = 0
    urgent: bool = False
    campaign: str = ""
    request_type: str = ""
    recovery: str | None = None  # a Resubmission: "recovery of <original> from ...: N ..."
    processing_version: int = 1
    production_steps: list[ProductionStep] = Field(default_factory=list)
    cleanup_policy: CleanupPolicy = CleanupPolicy.KEEP_UNTIL_REPLACED
    previous_version_request: str | None = None
    superseded_by_request: str | None = None
    imported: bool = False
    admitted: bool = False
    pilot: JobHandle | None = None
    pilot_metrics: PilotMetrics | None = None
    dag_file: str | None = None
    dag: DagHandle | None = None
    dag_attempt: int = 0
    dag_submitting: bool = False  # a submission was asked for and has not answered
    auto_rescues: int = 0
    dagman_losses: int = 0
    staging: StagingRule | None = None  # input being staged from tape (PLANNING)
    progress: DagProgress = Field(default_factory=DagProgress)
    completed_work_units: list[str] = Field(default_factory=list)
    # completed_work_units as a run carries them to the next (continue-as-new): packed,
    # unpacked into completed_work_units when the next run starts.
    completed_packed: PackedNames | None = None
    dag_news: list[DagNews] = Field(default_factory=list)  # from the tracker, not yet read
    config: LifecycleConfig | None = None  # the worker's settings, as last received
    transitions: list[TransitionView] = Field(default_factory=list)
    alerts: list[Alert] = Field(default_factory=list)
    stuck: bool = False
    rejected_signals: list[str] = Field(default_factory=list)
    stop_reason: str | None = None
    waiting_for: str | None = None  # QUEUED: why admission does not let it in yet
    stop_for_step: bool = False  # the stop was a partial-production step
    hold: str | None = None  # why a stopped request stays out of admission (until release)
    priority_changes: list[PriorityNote] = Field(default_factory=list)  # the last 20
    memo_progress: str | None = None  # the progress last put in the workflow's memo
    memo_hold: str | None = None  # the hold last put in the memo (`list` shows it)
    # The search attributes last upserted in this run (workflows/visibility.search_key);
    # None at each run's start, so a continued run upserts them once.
    search_published: str | None = None
    enqueued: bool = False
    abort_reason: str | None = None
    cancel_reason: str | None = None  # given before a cancellation (starter.py abort)
    restart: RestartRequest | None = None
    failure_reason: str | None = None
    outputs_by_state: dict[str, int] = Field(default_factory=dict)
    output_datasets: list[str] = Field(default_factory=list)
    output_workflows: dict[str, str] = Field(default_factory=dict)  # dataset -> workflow id
    outputs: dict[str, OutputProgress] = Field(default_factory=dict)  # by dataset
    outputs_closed: bool = False
    dag_completed: bool = False  # only outputs were left (a restart retries failed ones)
    # At each DAG end with failures: the failure report (query `failure_report`) and its
    # one line for the Web UI's current details and `starter.py status`.
    failure_report: FailureReport | None = None
    failure_summary: str | None = None
    # Right-sizing rounds (what changed, when, why; the last 10) and the tail boost.
    sizing_checked_at: int = 0  # work units done at the last sizing round
    sizing_changes: list[str] = Field(default_factory=list)
    tail_boosted: bool = False
    # Units for an output workflow that had ended (terminated, invalidated by hand): kept
    # for the restart that starts it again. By dataset.
    undelivered: dict[str, list[WorkUnitFile]] = Field(default_factory=dict)
    # Harvesting: how many jobs the DAG has (its DQM files are uploaded after it), and
    # every DQM file the DQM GUI has from it.
    harvest_jobs: int = 0
    dqm_uploads: list[DqmUpload] = Field(default_factory=list)

    @property
    def interrupted(self) -> bool:
        """An abort or a catastrophic restart is pending: whatever the request waits for
        gives way to it."""
        return self.abort_reason is not None or (
            self.restart is not None and self.restart.catastrophic
        )


class SignalInput(BaseModel):
    """A signal's input: unknown fields and wrong types are refused, never defaulted."""

    model_config = ConfigDict(extra="forbid", strict=True)


class SizingInput(BaseModel):
    request_name: str
    dag_file: str


class SizingResult(BaseModel):
    finished_units: int = 0
    measurement: str = ""
    resized: list[str] = Field(default_factory=list)
    change: str = ""  # "" when nothing changed


class FailureReportInput(BaseModel):
    request_name: str
    dag_file: str
    decision: str = ""  # what the request does about it (rescue, review, failed)


class RestartRequest(SignalInput):
    catastrophic: bool = False
    cleanup_policy: CleanupPolicy = CleanupPolicy.KEEP_UNTIL_REPLACED
    reason: str = ""


class LifecycleConfig(BaseModel):
    """Timing of a request workflow. Workflow code cannot read the environment: the
    worker's Settings reach it through an activity (`worker_settings` at start, and the
    answer of `record_transition` at every status change), unless whoever starts the
    request fixes them in its input (tests)."""

    stuck_timeouts: dict[RequestStatus, int] = Field(
        default_factory=lambda: dict(DEFAULT_STUCK_TIMEOUTS)
    )
    monitor_window_sec: float = 300.0  # a monitor call returns at least this often
    poll_sec: float = 10.0  # how often it reads the status file
    heartbeat_sec: float = 60.0
    # With the tracker: how long an ACTIVE request waits for its news before it looks at
    # its DAG itself (a lost signal delays news by at most this; each look is ~11 events).
    dag_check_sec: float = 1800.0
    max_active_dags: int = 300
    # PLANNING with no usable site (WMS2_NO_SITE_POLICY=wait): how often it plans again.
    site_recheck_sec: float = 300.0
    continue_as_new_after_events: int | None = None  # None: when the server suggests it
    output: OutputConfig = Field(default_factory=OutputConfig)
    # Off unless the worker's settings turn them on (requests started with a fixed config
    # keep the behaviour they were written for).
    sizing_every_units: int = 0
    tail_fraction: float = 0.0
    tail_priority_boost: int = 0

    def timeout(self, status: RequestStatus) -> int | None:
        return self.stuck_timeouts.get(status)

    @classmethod
    def from_settings(cls, settings: Settings) -> LifecycleConfig:
        return cls(
            stuck_timeouts=settings.stuck_timeouts,
            monitor_window_sec=settings.monitor_window_sec,
            poll_sec=settings.monitor_poll_sec,
            heartbeat_sec=settings.heartbeat_timeout_sec,
            dag_check_sec=settings.dag_check_sec,
            max_active_dags=settings.max_active_dags,
            site_recheck_sec=settings.site_recheck_sec,
            sizing_every_units=settings.sizing_every_units,
            tail_fraction=settings.tail_fraction,
            tail_priority_boost=settings.tail_priority_boost,
            output=OutputConfig(
                transfer_poll_sec=settings.transfer_poll_interval_sec,
                transfer_copies=settings.transfer_copies,
                transfer_lifetime_sec=settings.transfer_lifetime_sec,
            ),
        )


class TransitionRecorded(BaseModel):
    """What `record_transition` answers: whether the request has a record, and the
    worker's current settings (a running request takes them at each status change)."""

    recorded: bool
    config: LifecycleConfig


class RequestInput(BaseModel):
    request_name: str
    # None (starter.py, the temporal CLI, schedules): the worker's settings. Given: fixed
    # for the request's life (tests).
    config: LifecycleConfig | None = None
    urgent: bool | None = None  # overrides the request document when given
    request_document: dict | None = None  # a ReqMgr2 document (starter.py --file)
    previous_version_request: str | None = None
    cleanup_policy: CleanupPolicy | None = None
    rerun: bool = False  # run a request name that ran before (starter.py submit --rerun)
    state: RequestState | None = None  # set by continue-as-new only

    @model_serializer(mode="wrap")
    def _given_fields(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Only the fields given: the Web UI's input panel showed a column of nulls."""
        return {k: v for k, v in handler(self).items() if v is not None}


class RequestResult(BaseModel):
    request_name: str
    status: RequestStatus
    reason: str | None = None
    work_units_done: int = 0
    superseded_by_request: str | None = None


class StopSignal(SignalInput):
    reason: str = "operator stop"
    hold: bool = False  # kept out of admission after the stop until `release`


class AbortSignal(SignalInput):
    reason: str = "operator abort"


# ── admission ────────────────────────────────────────────────────────────────


class AdmissionEntry(BaseModel):
    request_name: str
    priority: int
    enqueued_at: datetime
    # Scheduler jobs the request's DAG holds at most (wms2.capacity.dag_scheduler_jobs),
    # and the schedds' scheduler jobs for WMS2 as the enqueuing worker knows them (None:
    # no such limit, as on the local backend without WMS2_SCHEDD_LIMITS).
    cost: int = 1
    capacity: int | None = None
    capacities: list[int] | None = None  # each schedd's, for admission-per-schedd


class AdmissionState(BaseModel):
    limit: int
    queue: list[AdmissionEntry] = Field(default_factory=list)
    active: list[str] = Field(default_factory=list)
    admitted_total: int = 0
    paused: str | None = None  # why admission is paused (starter.py admission --pause)
    capacity: int | None = None  # scheduler jobs the schedds allow WMS2 (None: no limit)
    capacities: list[int] | None = None  # the same, schedd by schedd (None: only the total)
    costs: dict[str, int] = Field(default_factory=dict)  # scheduler jobs per active request
    waiting_for: str | None = None  # why the next request waits (the snapshot fills it)
    told_waiting: str | None = None  # the queue head last told why it waits


class PauseAdmission(SignalInput):
    reason: str = "operator pause"


class AdmissionInput(BaseModel):
    limit: int = 300
    state: AdmissionState | None = None
    continue_as_new_after: int | None = None  # admissions per run; None: when suggested
    # While requests wait and every slot is held: how often the holders are checked for
    # runs that ended without releasing (terminated, crashed).
    holder_check_sec: float = 300.0


class PriorityRequest(SignalInput):
    """The `set_priority` update's input: a bare integer (the temporal CLI) or this, which
    says who asks (starter.py sends user@host)."""

    priority: int
    by: str = "unknown (temporal CLI or API)"

    @classmethod
    def read(cls, raw: Any) -> PriorityRequest:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return cls(priority=raw)
        if isinstance(raw, dict):
            return cls.model_validate(raw)
        raise ValueError(f"priority {raw!r} must be an integer or {{'priority': N, 'by': who}}")


class PriorityNote(BaseModel):
    """One priority change, as `status` shows it."""

    at: datetime
    priority: int
    previous: int
    by: str


class PriorityChanged(BaseModel):
    """The answer of the `set_priority` update: the new value, and the one it replaced."""

    priority: int
    previous: int


class LimitChanged(BaseModel):
    """The answer of the admission workflow's `set_limit` update."""

    limit: int
    previous: int


class PriorityChange(BaseModel):
    request_name: str
    priority: int


# ── activities ───────────────────────────────────────────────────────────────


class ImportInput(BaseModel):
    request_name: str
    urgent: bool | None = None  # this submission only; the record keeps the document's
    request_document: dict | None = None
    previous_version_request: str | None = None
    cleanup_policy: CleanupPolicy | None = None
    rerun: bool = False


class ResumePoint(BaseModel):
    """Where a rerun picks up the DAG that an earlier run of the request planned: it is
    resubmitted with a rescue DAG (done work is not run again), and the work units whose
    outputs an earlier run's output workflows hold are not handed over again."""

    dag_file: str
    attempt: int  # the last attempt submitted
    work_units: int
    total_nodes: int
    handed_over: list[str]
    harvest_jobs: int = 0  # its harvesting jobs (their DQM files uploaded after it)


class ImportResult(BaseModel):
    request_name: str
    priority: int
    urgent: bool
    campaign: str
    request_type: str
    processing_version: int
    production_steps: list[ProductionStep]
    cleanup_policy: CleanupPolicy
    output_datasets: list[str]
    run: int = 1
    resume: ResumePoint | None = None  # a rerun of a request whose DAG was planned
    recovery: str | None = None  # a Resubmission: what it recovers, of which request


class TransitionInput(BaseModel):
    request_name: str
    to_status: RequestStatus
    reason: str = ""


class RequestUpdate(BaseModel):
    request_name: str
    priority: int | None = None
    production_steps: list[ProductionStep] | None = None
    superseded_by_request: str | None = None


class VersionInput(BaseModel):
    request_name: str
    cleanup_policy: CleanupPolicy


class EnqueueInput(BaseModel):
    request_name: str
    priority: int
    submitted_at: datetime  # admission order: priority, then submission time
    max_active_dags: int


class PilotInput(BaseModel):
    request_name: str


class AwaitJobInput(BaseModel):
    handle: JobHandle
    max_seconds: float = 300.0
    poll_seconds: float = 5.0


class AwaitJobResult(BaseModel):
    status: JobStatus
    finished: bool


class PlanInput(BaseModel):
    request_name: str
    pilot_metrics: PilotMetrics | None = None


class PlanResult(BaseModel):
    dag_file: str
    work_units: int
    node_counts: dict[str, int]
    total_nodes: int


class SubmitDagInput(BaseModel):
    request_name: str
    dag_file: str
    attempt: int
    # The units this run of the request has: the tracker's starting point for the new
    # attempt (an earlier run may have been told of more and never handed them over).
    known_work_units: list[str] = Field(default_factory=list)


class ReprioritizeInput(BaseModel):
    """A running DAG's new priority: its not yet submitted nodes and its idle jobs."""

    request_name: str
    dag_file: str
    priority: int


class MonitorInput(BaseModel):
    request_name: str
    dag: DagHandle
    attempt: int
    known_work_units: list[str] = Field(default_factory=list)
    known_packed: PackedNames | None = None  # the same, packed (requests of many units)
    max_seconds: float = 300.0
    poll_seconds: float = 5.0
    aborted: bool = False  # await_dag_exit after an abort: the DAG's end is REMOVED

    def known(self) -> set[str]:
        """Every unit the workflow has recorded, however it was sent."""
        packed = unpack(self.known_packed) if self.known_packed is not None else []
        return {*self.known_work_units, *packed}


class WorkUnitOutput(BaseModel):
    dataset: str
    lfn: str
    site: str
    size: int
    events: int
    adler32: str


class CompletedWorkUnit(BaseModel):
    name: str
    outputs: list[WorkUnitOutput]


class MonitorResult(BaseModel):
    new_work_units: list[CompletedWorkUnit] = Field(default_factory=list)
    progress: DagProgress = Field(default_factory=DagProgress)
    finished: bool = False
    exit_code: int | None = None
    detail: str = ""
    # At the DAG's end: units that finished but whose output cannot be read, with why.
    unreported_work_units: dict[str, str] = Field(default_factory=dict)
    lost: bool = False  # DAGMan vanished without an exit code (killed, node lost)


class DagNews(BaseModel):
    """The tracker's signal to a request workflow: what changed in one DAG attempt."""

    attempt: int
    result: MonitorResult


class TrackerInput(BaseModel):
    """The DAG tracker workflow's timing, from the settings of the worker that starts it,
    and which shard of the task queue's DAGs it tracks (wms2.tracking.shards.shard_of)."""

    task_queue: str
    window_sec: float = 600.0  # one track_dags call; then the workflow calls it again
    heartbeat_sec: float = 30.0
    shard: int = 0
    shards: int = 1


class TrackerWindow(BaseModel):
    cycles: int = 0
    dags: int = 0  # active DAGs at the window's end
    news_sent: int = 0
    send_failures: int = 0
    declined: bool = False  # this worker has its share: another worker should take it
    worker: str = ""  # the worker that tracked the window (its identity)


def tracker_workflow_id(task_queue: str, shard: int = 0, shards: int = 1) -> str:
    """One shard keeps the id of the single tracker that came before shards."""
    base = f"wms2-dag-tracker-{task_queue}"
    return base if shards <= 1 else f"{base}-{shard}of{shards}"


def tracker_workflow_ids(task_queue: str, shards: int) -> list[str]:
    return [tracker_workflow_id(task_queue, k, shards) for k in range(shards)]


class RemoveInput(BaseModel):
    request_name: str
    dag: DagHandle
    reason: str


class DagExit(BaseModel):
    exit_code: int | None
    rescue_file: str | None = None


# Models that name a later one are completed here, at import: completed lazily, on first
# use, pydantic would look the names up in sys.modules, which inside a workflow's sandbox
# is the sandbox's own (workflows/runner.py) and may not hold this module.
RequestState.model_rebuild()
RequestInput.model_rebuild()
