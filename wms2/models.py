"""Domain models shared by every layer: the spec's enums and records (spec section 3.1).

Validators raise ``ValueError`` with messages that name the field and the bad value, so
an operator reading a failed import knows exactly what to fix.
"""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from wms2.recovery_spec import Recovery

# ReqMgr2 request names use these characters only; refusing "/" and a leading dot means a
# request name can always be used as a directory name without escaping its parent.
REQUEST_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}$")
# /Primary/Processed/TIER, e.g. /QCD_Pt-15/Run3Summer23-130X_v1-v2/AODSIM
DATASET_RE = re.compile(r"^/[A-Za-z0-9_\-]+/[A-Za-z0-9_.\-]+/[A-Z][A-Z0-9\-]*$")
# An LFN base: /store and directories of plain names (never "..", never a trailing file).
_LFN_BASE = re.compile(r"^/store(/[A-Za-z0-9_\-]+)+/?$")


def utcnow() -> datetime:
    return datetime.now(UTC)


class RequestStatus(StrEnum):
    NEW = "new"
    SUBMITTED = "submitted"
    QUEUED = "queued"
    PILOT_RUNNING = "pilot_running"
    PLANNING = "planning"
    ACTIVE = "active"
    STOPPING = "stopping"
    RESUBMITTING = "resubmitting"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"
    ABORTED = "aborted"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_REQUEST_STATUSES


TERMINAL_REQUEST_STATUSES = frozenset(
    {RequestStatus.COMPLETED, RequestStatus.FAILED, RequestStatus.ABORTED}
)


class WorkflowStatus(StrEnum):
    NEW = "new"
    PILOT_RUNNING = "pilot_running"
    PLANNING = "planning"
    ACTIVE = "active"
    STOPPING = "stopping"
    RESUBMITTING = "resubmitting"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"
    ABORTED = "aborted"


class DAGStatus(StrEnum):
    PLANNING = "planning"
    READY = "ready"
    SUBMITTED = "submitted"
    RUNNING = "running"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"
    REMOVED = "removed"
    HALTED = "halted"
    STOPPED = "stopped"


# DAGs in these states hold an admission slot.
ACTIVE_DAG_STATUSES = frozenset({DAGStatus.SUBMITTED, DAGStatus.RUNNING})


class OutputStatus(StrEnum):
    PENDING = "pending"
    DBS_REGISTERED = "dbs_registered"
    SOURCE_PROTECTED = "source_protected"
    TRANSFERS_REQUESTED = "transfers_requested"
    TRANSFERRING = "transferring"
    TRANSFERRED = "transferred"
    SOURCE_RELEASED = "source_released"
    ANNOUNCED = "announced"
    INVALIDATED = "invalidated"
    FAILED = "failed"


class SiteStatus(StrEnum):
    """Spec 3.1.5, with `banned` (section 12's failure-driven bans) in place of the unused
    `maintenance`: only an enabled site gets new work."""

    ENABLED = "enabled"
    DRAINING = "draining"  # no new landings; what runs there finishes
    DISABLED = "disabled"  # no new work; pinned work not yet started moves elsewhere
    BANNED = "banned"  # as disabled, for a reason (operator or failure rate), maybe until


class SplittingAlgo(StrEnum):
    FILE_BASED = "FileBased"
    EVENT_BASED = "EventBased"
    LUMI_BASED = "LumiBased"
    EVENT_AWARE_LUMI = "EventAwareLumiBased"


class CleanupPolicy(StrEnum):
    KEEP_UNTIL_REPLACED = "keep_until_replaced"
    IMMEDIATE_CLEANUP = "immediate_cleanup"


class NodeRole(StrEnum):
    LANDING = "Landing"
    PROCESSING = "Processing"
    MERGE = "Merge"
    CLEANUP = "Cleanup"


def check_request_name(value: str, field: str = "request_name") -> str:
    if not isinstance(value, str) or not REQUEST_NAME_RE.fullmatch(value):
        raise ValueError(
            f"{field} {value!r} is invalid: use 1-255 letters, digits, '_', '-' or '.', "
            "not starting with '.' or '-'"
        )
    return value


def check_dataset_name(value: str, field: str) -> str:
    if not isinstance(value, str) or not DATASET_RE.fullmatch(value):
        raise ValueError(
            f"{field} {value!r} is not a dataset name of the form /Primary/Processed/TIER"
        )
    return value


class _Model(BaseModel):
    model_config = ConfigDict(use_enum_values=False, validate_assignment=True)


# Priorities are stored in an INTEGER column (and a Temporal Int search attribute).
PRIORITY_MAX = 2**31 - 1


def check_priority(value: int, field: str = "priority") -> int:
    """A priority the database and the search attribute can hold, or a one-line error."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= PRIORITY_MAX:
        raise ValueError(
            f"{field} {value!r} is out of range: it must be an integer from 0 to {PRIORITY_MAX}"
        )
    return value


class ProductionStep(_Model):
    """One step of partial production: at `fraction` of work units done, stop and resume
    the remainder at `priority`."""

    fraction: float
    priority: int

    @field_validator("fraction")
    @classmethod
    def _fraction_in_range(cls, v: float) -> float:
        if not 0.0 < v < 1.0:
            raise ValueError(f"production_steps fraction {v!r} must be strictly between 0 and 1")
        return v

    @field_validator("priority")
    @classmethod
    def _priority_in_range(cls, v: int) -> int:
        return check_priority(v, "production_steps priority")


class StatusTransition(_Model):
    from_status: RequestStatus | None
    to_status: RequestStatus
    timestamp: datetime = Field(default_factory=utcnow)
    reason: str = ""


class LumiRange(_Model):
    run: int = Field(ge=1)
    lumi_start: int = Field(ge=1)
    lumi_end: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> LumiRange:
        if self.lumi_end < self.lumi_start:
            raise ValueError(
                f"lumi_end {self.lumi_end} is before lumi_start {self.lumi_start} in run {self.run}"
            )
        return self


@dataclass(slots=True)
class InputFile:
    """One input file as planning sees it. A slotted dataclass, not a pydantic model: a
    plan holds 100,000 of them (about 200 bytes each instead of 1.3 kB, and assigning
    `locations` costs no validation)."""

    lfn: str
    size_bytes: int
    events: int | None  # None: DBS does not know (event_count null)
    checksums: dict[str, str] = field(default_factory=dict)
    locations: list[str] = field(default_factory=list)
    parent_lfns: list[str] = field(default_factory=list)
    block: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.lfn, str) or not self.lfn:
            raise ValueError(f"input file lfn {self.lfn!r} is not a file name")
        for name in ("size_bytes", "events"):
            value = getattr(self, name)
            if value is None and name == "events":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"input file {self.lfn}: {name} {value!r} is not a count")


class StepSpec(_Model):
    """One cmsRun step of a request (a StepChain step, a TaskChain task, or the only step
    of a flat request), with the values ReqMgr2 gives it (per-step dicts resolved)."""

    name: str
    cmssw_version: str
    scram_arch: str
    global_tag: str = ""
    config_cache_id: str | None = None
    acquisition_era: str = ""
    processing_string: str = ""
    processing_version: int = Field(default=1, ge=0)
    memory_mb: int = Field(default=2300, gt=0)
    multicore: int = Field(default=1, ge=1)
    event_streams: int = Field(default=0, ge=0)
    time_per_event_sec: float | None = Field(default=None, gt=0)  # None: the job's total
    size_per_event_kb: float = Field(default=512.0, gt=0)
    filter_efficiency: float = Field(default=1.0, gt=0)
    keep_output: bool = True
    input_step: str | None = None
    output_datasets: list[str] = Field(default_factory=list)
    pileup_dataset: str | None = None  # MCPileup or DataPileup
    pileup_type: str | None = None  # "mc" or "data"
    # RequiresGPU (forbidden, optional, required) and the decoded GPUParams (wms2.reqmgr.gpu)
    requires_gpu: str = "forbidden"
    gpu_params: dict[str, Any] | None = None

    @field_validator("pileup_dataset")
    @classmethod
    def _pileup(cls, v: str | None) -> str | None:
        return None if v is None else check_dataset_name(v, "pileup_dataset")


def kept_fraction(steps: list[StepSpec], name: str) -> float:
    """The share of a job's events that step `name` writes out: every filter efficiency
    up to and including its own."""
    kept = 1.0
    for s in steps:
        kept *= s.filter_efficiency
        if s.name == name:
            break
    return kept


class Request(_Model):
    """A production request as WMS2 sees it (ReqMgr2-compatible, spec 3.1.1)."""

    request_name: str
    requestor: str
    requestor_dn: str | None = None
    group: str = ""
    request_type: str = ""  # StepChain, TaskChain, ReReco, ... (metadata only)

    input_dataset: str | None = None  # None for generation requests
    secondary_input_dataset: str | None = None
    output_datasets: list[str] = Field(default_factory=list)

    cmssw_version: str
    scram_arch: str
    global_tag: str = ""

    memory_mb: int = Field(default=2048, gt=0)
    time_per_event_sec: float = Field(default=1.0, gt=0)
    size_per_event_kb: float = Field(default=1.5, gt=0)
    multicore: int = Field(default=1, ge=1)
    # What the job asks of a GPU, over its steps (wms2.reqmgr.gpu.job_gpu).
    requires_gpu: str = "forbidden"
    gpu_params: dict[str, Any] | None = None
    # DQM harvesting (DQMHarvest, or EnableHarvesting in a chain): wms2.reqmgr.harvest
    harvest: dict[str, Any] | None = None

    site_whitelist: list[str] = Field(default_factory=list)
    site_blacklist: list[str] = Field(default_factory=list)

    splitting_algo: SplittingAlgo
    splitting_params: dict[str, Any] = Field(default_factory=dict)

    campaign: str = ""
    processing_string: str = ""
    acquisition_era: str = ""
    processing_version: int = Field(default=1, ge=0)
    priority: int = 100000
    urgent: bool = False
    production_steps: list[ProductionStep] = Field(default_factory=list)

    payload_config: dict[str, Any] = Field(default_factory=dict)
    steps: list[StepSpec] = Field(default_factory=list)  # empty: imported before steps
    merged_lfn_base: str | None = None  # None: /store/mc or /store/data by the tiers
    unmerged_lfn_base: str = "/store/unmerged"
    trust_sitelists: bool = False
    trust_pu_sitelists: bool = False

    # A Resubmission: the original whose failed work this request redoes (and, once
    # imported, how much); its splitting_params select exactly that work.
    recovery: Recovery | None = None

    previous_version_request: str | None = None
    superseded_by_request: str | None = None
    cleanup_policy: CleanupPolicy = CleanupPolicy.KEEP_UNTIL_REPLACED

    status: RequestStatus = RequestStatus.SUBMITTED
    status_transitions: list[StatusTransition] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @field_validator("request_name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_request_name(v)

    @field_validator("previous_version_request", "superseded_by_request")
    @classmethod
    def _linked_name(cls, v: str | None, info: Any) -> str | None:
        return None if v is None else check_request_name(v, info.field_name)

    @field_validator("input_dataset", "secondary_input_dataset")
    @classmethod
    def _input(cls, v: str | None, info: Any) -> str | None:
        return None if v is None else check_dataset_name(v, info.field_name)

    @field_validator("output_datasets")
    @classmethod
    def _outputs(cls, v: list[str]) -> list[str]:
        for name in v:
            check_dataset_name(name, "output_datasets")
        return v

    @field_validator("priority")
    @classmethod
    def _priority(cls, v: int) -> int:
        return check_priority(v)

    @field_validator("merged_lfn_base", "unmerged_lfn_base")
    @classmethod
    def _lfn_base(cls, v: str | None, info: Any) -> str | None:
        if v is not None and not _LFN_BASE.match(v):
            raise ValueError(f"{info.field_name} {v!r} must look like /store/<dir>[/<dir>...]")
        return None if v is None else v.rstrip("/")

    def output_step(self, dataset: str) -> StepSpec | None:
        """The step that writes `dataset` (None for requests imported without steps)."""
        return next((s for s in self.steps if dataset in s.output_datasets), None)

    def output_size_per_event_kb(self, dataset: str) -> float:
        """kB written to `dataset` per event the job starts with: the writing step's
        SizePerEvent times the share of events it keeps (every filter up to and including
        its own, as WMCore scales a generator's SizePerEvent by FilterEfficiency)."""
        step = self.output_step(dataset)
        if step is None:
            return self.size_per_event_kb
        return step.size_per_event_kb * kept_fraction(self.steps, step.name)

    @model_validator(mode="after")
    def _production_steps(self) -> Request:
        steps = self.production_steps
        if steps and self.urgent:
            raise ValueError(
                f"urgent=True and production_steps ({len(steps)} steps) are mutually exclusive"
            )
        for prev, step in itertools.pairwise(steps):
            if step.fraction <= prev.fraction:
                raise ValueError(
                    f"production_steps fractions must be strictly increasing: "
                    f"{step.fraction!r} follows {prev.fraction!r}"
                )
            if step.priority >= prev.priority:
                raise ValueError(
                    f"production_steps priorities must be strictly decreasing: "
                    f"{step.priority!r} follows {prev.priority!r}"
                )
        if steps and steps[0].priority >= self.priority:
            raise ValueError(
                f"production_steps priority {steps[0].priority!r} must be below the request "
                f"priority {self.priority!r}"
            )
        return self


class StepProfile(_Model):
    step_name: str
    time_per_event_sec: float = Field(ge=0)
    memory_peak_mb: int = Field(ge=0)
    output_size_per_event_kb: float = Field(ge=0)
    threads_used: int = Field(default=1, ge=1)


class PilotMetrics(_Model):
    time_per_event_sec: float = Field(gt=0)
    memory_peak_mb: int = Field(ge=0)
    output_size_per_event_kb: float = Field(ge=0)
    cpu_efficiency: float = Field(ge=0)
    events_processed: int = Field(ge=0)
    steps_profiled: list[StepProfile] = Field(default_factory=list)
    recommended_events_per_job: int = Field(gt=0)
    recommended_memory_mb: int = Field(gt=0)
    recommended_time_per_job_sec: int = Field(gt=0)


DEFAULT_CATEGORY_THROTTLES = {"Processing": 5000, "Merge": 100, "Cleanup": 50, "MergeGroup": 10}


class Workflow(_Model):
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    request_name: str
    input_dataset: str | None = None
    splitting_algo: SplittingAlgo
    splitting_params: dict[str, Any] = Field(default_factory=dict)
    sandbox_url: str = ""
    config_data: dict[str, Any] = Field(default_factory=dict)
    pilot_cluster_id: str | None = None
    pilot_schedd: str | None = None
    pilot_output_path: str | None = None
    pilot_metrics: PilotMetrics | None = None
    dag_id: uuid.UUID | None = None
    category_throttles: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_CATEGORY_THROTTLES)
    )
    total_nodes: int = 0
    nodes_done: int = 0
    nodes_failed: int = 0
    nodes_queued: int = 0
    nodes_running: int = 0
    status: WorkflowStatus = WorkflowStatus.NEW
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DAG(_Model):
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    workflow_id: uuid.UUID
    attempt: int = Field(default=1, ge=1)  # 1 = original DAG, 2+ = rescue submissions
    dag_file_path: str
    submit_dir: str
    rescue_dag_path: str | None = None
    dagman_cluster_id: str | None = None
    schedd_name: str | None = None
    parent_dag_id: uuid.UUID | None = None
    stop_requested_at: datetime | None = None
    stop_reason: str | None = None
    total_nodes: int = 0
    total_edges: int = 0
    node_counts: dict[str, int] = Field(default_factory=dict)
    nodes_idle: int = 0
    nodes_running: int = 0
    nodes_done: int = 0
    nodes_failed: int = 0
    nodes_held: int = 0
    total_work_units: int = 0
    completed_work_units: list[str] = Field(default_factory=list)
    status: DAGStatus = DAGStatus.PLANNING
    created_at: datetime = Field(default_factory=utcnow)
    submitted_at: datetime | None = None
    completed_at: datetime | None = None
    exit_code: int | None = None


class OutputDataset(_Model):
    """One work unit's merged output of one dataset, tracked through the output pipeline."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    workflow_id: uuid.UUID
    dataset_name: str
    work_unit: str  # outer DAG node name, e.g. mg_000003
    source_site: str | None = None
    lfn: str | None = None
    size_bytes: int | None = None
    events: int | None = None
    adler32: str | None = None
    dbs_registered: bool = False
    dbs_registered_at: datetime | None = None
    source_rule_id: str | None = None
    source_protected: bool = False
    transfer_rule_ids: list[str] = Field(default_factory=list)
    transfer_destinations: list[str] = Field(default_factory=list)
    transfers_complete: bool = False
    transfers_complete_at: datetime | None = None
    last_transfer_check: datetime | None = None
    source_released: bool = False
    invalidated: bool = False
    invalidated_at: datetime | None = None
    invalidation_reason: str | None = None
    dbs_invalidated: bool = False
    rucio_rules_deleted: bool = False
    error: str | None = None
    status: OutputStatus = OutputStatus.PENDING
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @field_validator("dataset_name")
    @classmethod
    def _dataset(cls, v: str) -> str:
        return check_dataset_name(v, "dataset_name")


class Site(_Model):
    name: str
    total_slots: int = Field(default=0, ge=0)
    running_slots: int = Field(default=0, ge=0)
    pending_slots: int = Field(default=0, ge=0)
    status: SiteStatus = SiteStatus.ENABLED
    status_until: datetime | None = None  # a drain or ban ends by itself then
    status_reason: str = ""
    status_by: str = ""
    status_changed_at: datetime | None = None
    source: str = ""  # where the site list came from: cric, catalog, local-pool
    thresholds: dict[str, int] = Field(default_factory=dict)
    schedd_name: str | None = None
    collector_host: str | None = None
    storage_element: str | None = None
    storage_path: str | None = None
    config_data: dict[str, Any] = Field(default_factory=dict)
    updated_at: datetime = Field(default_factory=utcnow)
