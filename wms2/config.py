"""WMS2 settings, read from the environment (prefix ``WMS2_``) and an optional ``.env`` file.

Dict-valued settings take JSON, e.g. ``WMS2_STUCK_TIMEOUTS='{"queued": 3600}'``; keys
that are not given keep their defaults.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from wms2.capacity import ScheddLimits
from wms2.models import DEFAULT_CATEGORY_THROTTLES, RequestStatus
from wms2.reqmgr.states import DEFAULT_RUNNABLE_STATES, REQMGR_STATES

# Spec section 4.2: how long a request may stay in each status before the
# status-aware stuck handling (DD-10) kicks in, in seconds.
DEFAULT_STUCK_TIMEOUTS: dict[RequestStatus, int] = {
    RequestStatus.SUBMITTED: 3600,
    RequestStatus.QUEUED: 7 * 86400,
    RequestStatus.PILOT_RUNNING: 86400,
    RequestStatus.PLANNING: 3600,
    RequestStatus.ACTIVE: 30 * 86400,
    RequestStatus.STOPPING: 3600,
    RequestStatus.RESUBMITTING: 600,
}


class ExecutionBackend(StrEnum):
    LOCAL = "local"
    HTCONDOR = "htcondor"


class ServiceBackend(StrEnum):
    CATALOG = "catalog"
    CMSWEB = "cmsweb"


def _state_dir() -> Path:
    return Path(os.environ.get("WMS2_STATE_DIR", ".wms2"))


class LocalGPUs(BaseModel):
    """The GPUs of one local-pool site: how many, and what each offers."""

    gpus: int = Field(ge=1)
    memory_mb: int = Field(gt=0)  # GlobalMemoryMB, compared with GPUParams.GPUMemoryMB
    capability: str = Field(pattern=r"^\d+\.\d+$")  # CUDA compute capability, e.g. 8.0
    runtime: str = Field(pattern=r"^\d+\.\d+(\.\d+)?$")  # newest CUDA runtime, e.g. 12.2


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WMS2_", env_file=".env", extra="ignore", validate_default=True
    )

    state_dir: Path = Field(default_factory=_state_dir)
    database_url: str = ""

    temporal_address: str = Field(
        default="localhost:7233",
        validation_alias=AliasChoices("WMS2_TEMPORAL_ADDRESS", "TEMPORAL_ADDRESS"),
    )
    temporal_namespace: str = Field(
        default="default",
        validation_alias=AliasChoices("WMS2_TEMPORAL_NAMESPACE", "TEMPORAL_NAMESPACE"),
    )
    task_queue: str = "wms2"

    execution_backend: ExecutionBackend = ExecutionBackend.LOCAL
    service_backend: ServiceBackend = ServiceBackend.CATALOG
    catalog_dir: Path = Path("catalog")
    submit_dir: Path = Field(default_factory=lambda: _state_dir() / "submit")
    output_dir: Path = Field(default_factory=lambda: _state_dir() / "storage")
    local_site: str = "T2_CH_WMS2Local"
    local_slots: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1)
    local_status_interval_sec: float = Field(default=2.0, gt=0)

    reqmgr_url: str = "https://cmsweb.cern.ch/reqmgr2"
    dbs_url: str = "https://cmsweb.cern.ch/dbs/prod/global/DBSReader"
    dbs_writer_url: str = "https://cmsweb.cern.ch/dbs/prod/global/DBSWriter"
    rucio_url: str = "https://cms-rucio.cern.ch"
    rucio_account: str = "wms2"
    x509_cert: Path | None = None
    x509_key: Path | None = None
    x509_ca_dir: Path = Path("/etc/grid-security/certificates")
    http_timeout_sec: float = Field(default=30.0, gt=0)
    http_retries: int = Field(default=3, ge=0)

    collector_host: str | None = None
    schedd_name: str | None = None
    # What each schedd lets WMS2's owner run (wms2.capacity), by schedd name ("*": any):
    # {"*": {"scheduler_jobs_per_owner": 200}}. Unset fields: the schedd's configuration
    # where the backend reads it, else HTCondor's defaults.
    schedd_limits: dict[str, ScheddLimits] = Field(default_factory=dict)
    # How long a worker keeps a schedd's configuration once read (wms2/condor/limits.py).
    schedd_limits_ttl_sec: float = Field(default=300.0, ge=0)
    # Several submit hosts: the schedds requests are spread over (htcondor: schedd
    # names; local: names of "schedds", each a state directory under state_dir/schedds).
    # Empty: the one schedd (schedd_name, or the local one).
    submit_schedds: list[str] = Field(default_factory=list)
    # Which schedd a new DAG goes to: the one with the most free scheduler jobs
    # ("most_free", spreading requests), or the first listed with room ("first_fit").
    schedd_policy: str = Field(default="most_free", pattern="^(most_free|first_fit)$")

    payload_mode: str = Field(default="synthetic", pattern="^(synthetic|cmssw)$")
    synthetic_time_scale: float = Field(default=0.01, ge=0)
    synthetic_size_scale: float = Field(default=1e-4, ge=0)
    synthetic_max_seconds: float = Field(default=2.0, ge=0)
    synthetic_max_output_bytes: int = Field(default=1_000_000, ge=1)

    max_active_dags: int = Field(default=300, ge=1)
    query_timeout_sec: float = Field(default=20.0, gt=0)  # starter.py: a request's answer
    monitor_window_sec: float = Field(default=300.0, gt=0)
    monitor_poll_sec: float = Field(default=10.0, gt=0)
    heartbeat_timeout_sec: float = Field(default=60.0, gt=0)
    # The DAG tracker (worker-owned): how often it looks at every active DAG, how often
    # progress counts alone are worth a signal, how long one tracking activity runs.
    tracker_poll_sec: float = Field(default=1.0, gt=0, le=60)
    tracker_progress_sec: float = Field(default=60.0, ge=0)
    tracker_progress_per_cycle: int = Field(default=100, ge=1)
    # Workflows a worker keeps in memory between their tasks: beyond it, a workflow's next
    # task replays its whole history. Sized for thousands of active requests.
    worker_cached_workflows: int = Field(default=5000, ge=0)
    tracker_window_sec: float = Field(default=600.0, ge=1)
    # Tracking is split in this many shards (a tracker workflow and activity each; a DAG
    # belongs to one by its schedd and request): the task queue's workers share them, a
    # shard whose worker dies resumes on another. Every worker of a queue must agree.
    tracker_shards: int = Field(default=4, ge=1, le=256)
    # A worker holding its fair share of shards (shards / live workers) declines another
    # this many times, so another worker takes it; then it takes it anyway (takeover).
    tracker_decline_attempts: int = Field(default=5, ge=0)
    # How often a shard's activity asks whether its worker holds more than its share
    # (another worker joined): then it ends its window, and the next call lands elsewhere.
    tracker_rebalance_sec: float = Field(default=30.0, gt=0)
    tracker_heartbeat_sec: float = Field(default=30.0, gt=0)
    # A request that heard nothing from the tracker for this long checks its DAG itself.
    dag_check_sec: float = Field(default=1800.0, gt=0)
    metrics_interval_sec: float = Field(default=30.0, gt=0)
    stuck_timeouts: dict[RequestStatus, int] = Field(
        default_factory=lambda: dict(DEFAULT_STUCK_TIMEOUTS)
    )
    category_throttles: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_CATEGORY_THROTTLES)
    )
    target_merged_size_bytes: int = Field(default=4 * 1000**3, gt=0)
    # POST script cool-off before DAGMan retries a failed node (spec 6.4).
    post_cooloff_transient_sec: float = Field(default=60.0, ge=0)  # times 2**retry
    post_cooloff_site_sec: float = Field(default=300.0, ge=0)
    post_cooloff_max_sec: float = Field(default=1800.0, ge=0)
    dagman_max_post_scripts: int = Field(default=20, ge=1)
    # A node whose every rescue round ends in the same failure (class and exit code) is
    # not rescued again after this many rounds: the request goes to review (PARTIAL).
    rescue_round_cap: int = Field(default=2, ge=1)
    # Right-sized jobs (wms2.sizing): a sizing round each time this many more work units
    # finished (0: never), once at least sizing_min_finished_units have; events per job
    # toward target_job_length_sec, memory toward the measured peak plus the margin,
    # between sizing_min_memory_mb and cores x sizing_max_memory_per_core_mb.
    sizing_every_units: int = Field(default=2, ge=0)
    sizing_min_finished_units: int = Field(default=2, ge=1)
    sizing_memory_margin: float = Field(default=0.2, ge=0, le=2)
    sizing_min_memory_mb: int = Field(default=500, ge=1)
    sizing_max_memory_per_core_mb: int = Field(default=2500, ge=1)
    # The tail: once this fraction of a request's work units is done, its remaining idle
    # jobs get JobPrio + tail_priority_boost (0: never).
    tail_fraction: float = Field(default=0.9, ge=0, le=1)
    tail_priority_boost: int = Field(default=10000, ge=0)
    # ReqMgr2 states a request is imported and run in (wms2.reqmgr.states explains the
    # default); any other state is refused at import, naming it.
    reqmgr_runnable_states: list[str] = Field(
        default_factory=lambda: list(DEFAULT_RUNNABLE_STATES), min_length=1
    )
    # EventsPerJob a request leaves unset fills this much TimePerEvent (WMCore: 12 h).
    target_job_length_sec: float = Field(default=12 * 3600, gt=0)
    # Input on tape only: a Rucio rule stages it to disk before planning (else refused).
    stage_tape_input: bool = True
    staging_rse_expression: str = "rse_type=DISK"  # where staged input goes (no whitelist)
    # The site manager (wms2.sites): the CRIC (or catalog) sync's interval, when a PRE
    # script with no usable site tries again, failure-driven alerts and bans.
    cric_url: str = "https://cms-cric.cern.ch"
    site_sync_sec: float = Field(default=3600.0, ge=10)
    site_recheck_sec: float = Field(default=300.0, gt=0)
    site_failure_window_sec: float = Field(default=3600.0, gt=0)
    site_failure_rate: float = Field(default=0.5, gt=0, le=1)
    site_failure_min_jobs: int = Field(default=20, ge=1)
    site_auto_ban_sec: float = Field(default=0.0, ge=0)  # 0: alert only, never ban
    # A request whose work has no enabled site: wait for one (alerted) or fail.
    no_site_policy: str = Field(default="wait", pattern="^(wait|fail)$")
    # The local backend's pool: {"T2_CH_CERN": 4, ...}; unset, one site (local_site)
    # with local_slots slots that takes any job whatever its DESIRED_Sites.
    local_sites: dict[str, int] = Field(default_factory=dict)
    # The local pool stops a job whose resident memory passes its request_memory, as a
    # slot's cgroup does (evicted, or held for memory: README "Memory").
    local_memory_limits: bool = True
    # Memory (README "Memory"). A processing job evicted or held for using more memory
    # than it asked for asks memory_bump_factor times more, up to the request's Memory
    # or memory_per_core_mb per core, whichever is more (what a pool's slots offer).
    memory_per_core_mb: int = Field(default=2000, ge=100)
    memory_bump_factor: float = Field(default=1.5, ge=1.1, le=4)
    # Processing jobs carry HTCondor's own retry (retry_request_memory_increase/_max,
    # HTCondor 25.2 and later); false leaves memory-held jobs to WMS2's release alone.
    condor_memory_retry: bool = True
    # How often the tracker looks for jobs held for memory (one scheduler query a look).
    memory_release_sec: float = Field(default=60.0, gt=0)
    # GPU sites of the local pool: {"T2_US_Wisconsin": {"gpus": 2, "memory_mb": 16000,
    # "capability": "8.0", "runtime": "12.2"}}; a job asking for a GPU runs only there.
    local_gpus: dict[str, LocalGPUs] = Field(default_factory=dict)
    transfer_poll_interval_sec: float = Field(default=300, gt=0)
    transfer_copies: int = Field(default=1, ge=1)
    transfer_lifetime_sec: int | None = Field(default=None, gt=0)

    @field_validator("database_url", mode="after")
    @classmethod
    def _default_database(cls, v: str, info: Any) -> str:
        if v:
            return v
        state_dir = info.data.get("state_dir") or _state_dir()
        return f"sqlite:///{Path(state_dir) / 'wms2.db'}"

    @field_validator("reqmgr_runnable_states", mode="after")
    @classmethod
    def _known_states(cls, v: list[str]) -> list[str]:
        unknown = [s for s in v if s not in REQMGR_STATES]
        if unknown:
            raise ValueError(
                f"reqmgr_runnable_states {unknown[0]!r} is not a ReqMgr2 request state "
                f"({', '.join(REQMGR_STATES)})"
            )
        return v

    @field_validator("stuck_timeouts", mode="after")
    @classmethod
    def _merge_timeouts(cls, v: dict[RequestStatus, int]) -> dict[RequestStatus, int]:
        for status, seconds in v.items():
            if seconds <= 0:
                raise ValueError(f"stuck_timeouts[{status.value}] {seconds!r} must be > 0")
        return {**DEFAULT_STUCK_TIMEOUTS, **v}

    @field_validator("category_throttles", mode="after")
    @classmethod
    def _merge_throttles(cls, v: dict[str, int]) -> dict[str, int]:
        for category, limit in v.items():
            if limit < 1:
                raise ValueError(f"category_throttles[{category}] {limit!r} must be >= 1")
        return {**DEFAULT_CATEGORY_THROTTLES, **v}
