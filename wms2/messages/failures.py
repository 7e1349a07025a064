"""The failure report's and the right-sizing's activity inputs and outputs."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    Field,
)


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
