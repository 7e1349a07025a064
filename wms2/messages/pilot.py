"""The pilot job's activities."""

from __future__ import annotations

from pydantic import (
    BaseModel,
)

from wms2.condor.handles import JobHandle, JobStatus


class PilotInput(BaseModel):
    request_name: str


class AwaitJobInput(BaseModel):
    handle: JobHandle
    max_seconds: float = 300.0
    poll_seconds: float = 5.0


class AwaitJobResult(BaseModel):
    status: JobStatus
    finished: bool
