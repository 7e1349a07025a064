"""A request's DAG: planning, submission, monitoring, news, removal, exit."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    Field,
)

from wms2.condor.handles import DagHandle
from wms2.models import PilotMetrics
from wms2.unit_names import PackedNames, unpack


class DagProgress(BaseModel):
    nodes_total: int = 0
    nodes_done: int = 0
    nodes_failed: int = 0
    nodes_running: int = 0
    work_units_total: int = 0
    work_units_done: int = 0


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


class RemoveInput(BaseModel):
    request_name: str
    dag: DagHandle
    reason: str


class DagExit(BaseModel):
    exit_code: int | None
    rescue_file: str | None = None
