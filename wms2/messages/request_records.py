"""The request activities: import, transitions, updates, versions."""

from __future__ import annotations

from pydantic import (
    BaseModel,
)

from wms2.models import CleanupPolicy, ProductionStep, RequestStatus


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
