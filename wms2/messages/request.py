"""The request workflow: its input, state, result, signals, updates, settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import (
    BaseModel,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from wms2.condor.handles import DagHandle, JobHandle
from wms2.config import DEFAULT_STUCK_TIMEOUTS, Settings
from wms2.failures.model import FailureReport
from wms2.messages.dags import DagNews, DagProgress
from wms2.messages.signals import SignalInput
from wms2.messages.staging import StagingRule
from wms2.models import CleanupPolicy, PilotMetrics, ProductionStep, RequestStatus
from wms2.outputs.messages import DqmUpload, OutputConfig, OutputProgress, WorkUnitFile
from wms2.unit_names import PackedNames


def request_workflow_id(request_name: str) -> str:
    return f"request-{request_name}"


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


RequestState.model_rebuild()
RequestInput.model_rebuild()
