"""The admission workflow: its queue, state, signals and updates."""

from __future__ import annotations

from datetime import datetime

from pydantic import (
    BaseModel,
    Field,
)

from wms2.messages.signals import SignalInput

ADMISSION_WORKFLOW_ID = "wms2-admission"


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


class LimitChanged(BaseModel):
    """The answer of the admission workflow's `set_limit` update."""

    limit: int
    previous: int


class PriorityChange(BaseModel):
    request_name: str
    priority: int


class EnqueueInput(BaseModel):
    request_name: str
    priority: int
    submitted_at: datetime  # admission order: priority, then submission time
    max_active_dags: int
