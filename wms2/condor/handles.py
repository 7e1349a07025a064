"""Small serialisable handles and states that workflows carry between activities."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class JobState(StrEnum):
    ALIVE = "alive"  # queued or running
    FINISHED = "finished"  # gone from the queue, with an exit code
    MISSING = "missing"  # unknown to the scheduler: never submitted, or history lost


class DagHandle(BaseModel):
    backend: str
    cluster_id: str
    schedd: str
    dag_file: str
    batch_name: str = ""


class JobHandle(BaseModel):
    backend: str
    cluster_id: str
    schedd: str
    submit_file: str


class JobStatus(BaseModel):
    state: JobState
    exit_code: int | None = None
    detail: str = ""


class IdleEdit(BaseModel):
    """What an edit of idle node jobs did (Schedd.edit / the local pool)."""

    edited: int = 0
    removed: int = 0  # left with no site they may run at: DAGMan's retry re-elects


class HeldJob(BaseModel):
    """A node job held for using more memory than it asked for, that WMS2 may release
    with more (its submit description gave a maximum)."""

    job_id: str  # "cluster.proc"
    request_name: str
    node: str = ""  # the DAG node, as DAGMan names it (DAGNodeName)
    request_mb: int  # RequestMemory now
    max_mb: int  # the most WMS2 may give it (WMS2_MaxMemoryMB)
    hold_code: int
    hold_subcode: int = 0
    reason: str = ""
    usage_mb: float | None = None  # MemoryUsage when it was held, if known
