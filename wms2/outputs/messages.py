"""Inputs, outputs and state of OutputWorkflow and its activities."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from wms2.models import OutputStatus


def output_workflow_id(request_name: str, index: int, run: int = 1) -> str:
    """`output-<request>-<n>`: n is the dataset's 1-based place in the request's list. A
    rerun's are `output-<request>-run<k>-<n>`, so they never collide with the output
    workflows of an earlier run, which may still be finishing."""
    if run > 1:
        return f"output-{request_name}-run{run}-{index}"
    return f"output-{request_name}-{index}"


_COMPACTED = (OutputStatus.ANNOUNCED, OutputStatus.INVALIDATED)


class WorkUnitFile(BaseModel):
    """What the request workflow signals for each completed work unit."""

    work_unit: str
    lfn: str
    site: str
    size: int
    events: int
    adler32: str


class OutputUnit(WorkUnitFile):
    """One work unit's merged file of this dataset, as the pipeline drives it."""

    status: OutputStatus = OutputStatus.PENDING
    source_rule_id: str | None = None
    transfer_rule_ids: list[str] = Field(default_factory=list)
    destinations: list[str] = Field(default_factory=list)
    polls: int = 0
    error: str | None = None
    failed_from: OutputStatus | None = None  # where a retry resumes a FAILED unit
    stuck_rules: list[str] = Field(default_factory=list)


class OutputConfig(BaseModel):
    """Timing and rule shape, filled from Settings by whoever starts the workflow."""

    transfer_poll_sec: float = 300.0
    transfer_copies: int = 1
    transfer_lifetime_sec: int | None = None  # None: the rule never expires
    batch_size: int = 50  # units driven concurrently per step
    keep_unit_details: int = 500  # finished units kept in full in the workflow state
    # A step failing this many times in a row raises an alert (and is still retried).
    alert_after_attempts: int = 10
    continue_as_new_after_events: int | None = None


class OutputAlert(BaseModel):
    kind: str  # stuck_rule
    work_unit: str
    message: str
    at: datetime


class OutputState(BaseModel):
    """Everything an OutputWorkflow knows; carried across continue-as-new."""

    request_name: str
    dataset: str
    index: int
    units: dict[str, OutputUnit] = Field(default_factory=dict)
    # Units that reached ANNOUNCED or INVALIDATED, compacted to their status once many
    # are held (their details are in output_datasets), so the state carried across
    # continue-as-new stays far below Temporal's 2 MB payload limit at 100,000 nodes.
    finished_units: dict[str, OutputStatus] = Field(default_factory=dict)
    closed: bool = False  # the request sends no more work units
    invalidate_reason: str | None = None
    invalidated: bool = False
    retry_requested: bool = False
    duplicates_ignored: int = 0
    alerts: list[OutputAlert] = Field(default_factory=list)  # the newest
    alerts_total: int = 0
    rejected_signals: list[str] = Field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        statuses = [u.status for u in self.units.values()] + list(self.finished_units.values())
        for st in statuses:
            out[st.value] = out.get(st.value, 0) + 1
        return out

    def knows(self, work_unit: str) -> bool:
        return work_unit in self.units or work_unit in self.finished_units

    def compact(self, keep: int) -> None:
        """Keep at most `keep` ANNOUNCED/INVALIDATED units in full."""
        done = [n for n, u in self.units.items() if u.status in _COMPACTED]
        for name in done[: max(0, len(done) - keep)]:
            self.finished_units[name] = self.units.pop(name).status


class OutputInput(BaseModel):
    request_name: str
    dataset: str
    index: int
    parent_workflow_id: str | None = None  # told about progress and the end
    config: OutputConfig = Field(default_factory=OutputConfig)
    load_from_db: bool = False  # a run started only to invalidate: units come from records
    # A run started again after it ended early: units also come from the merge reports
    # (a unit handed to the ended run may never have been recorded).
    load_merged: bool = False
    closed: bool = False
    state: OutputState | None = None  # set by continue-as-new only


class WorkUnitBatch(BaseModel):
    units: list[WorkUnitFile]
    retry_failed: bool = False  # also walk FAILED units on (a restart after a fix)


class InvalidateSignal(BaseModel):
    reason: str


class OutputStepInput(BaseModel):
    """One transition of one unit; the activity returns the unit in its new state."""

    request_name: str
    dataset: str
    unit: OutputUnit
    config: OutputConfig = Field(default_factory=OutputConfig)


class OutputFailure(BaseModel):
    request_name: str
    dataset: str
    unit: OutputUnit
    reason: str


class InvalidateInput(BaseModel):
    request_name: str
    dataset: str
    unit: OutputUnit
    reason: str


class LoadOutputsInput(BaseModel):
    request_name: str
    dataset: str
    include_merged: bool = False  # also unrecorded units from the DAG's merge reports


class OutputProgress(BaseModel):
    """Sent to the request workflow when the counts change and at the end."""

    dataset: str
    counts: dict[str, int] = Field(default_factory=dict)
    finished: bool = False
    failures: list[str] = Field(default_factory=list)
    alerts: list[str] = Field(default_factory=list)


class OutputResult(BaseModel):
    dataset: str
    counts: dict[str, int]
    failures: list[str] = Field(default_factory=list)
    invalidated: bool = False


class RetryOutputsInput(BaseModel):
    """Retry the FAILED outputs of some datasets of a request (after the cause was fixed)."""

    request_name: str
    datasets: dict[int, str]  # index -> dataset
    parent_workflow_id: str
    config: OutputConfig = Field(default_factory=OutputConfig)
    run: int = 1  # the request's run whose output workflows these are
    # Work units that never reached an output workflow that had ended, by dataset index.
    undelivered: dict[int, list[WorkUnitFile]] = Field(default_factory=dict)


class CleanupInput(BaseModel):
    """Invalidate (or keep) a superseded version's outputs."""

    request_name: str  # the previous version
    reason: str
    datasets: list[str] = Field(default_factory=list)  # empty: from its records
    config: OutputConfig = Field(default_factory=OutputConfig)
    run: int | None = None  # whose output workflows act; None: the request's latest run


class DqmUploadInput(BaseModel):
    """Upload the DQM files of a request's finished harvesting jobs."""

    request_name: str
    dag_file: str


class DqmUpload(BaseModel):
    """One DQM file the DQM GUI has (as the request's state and `status` show it)."""

    url: str
    file: str
    size: int


class DqmUploadResult(BaseModel):
    uploads: list[DqmUpload] = Field(default_factory=list)  # every one so far, by file name
    sent: int = 0  # of them, sent by this call (the rest were sent before)
    # Harvesting jobs with nothing to upload, and why: the request is not COMPLETED.
    missing: dict[str, str] = Field(default_factory=dict)
