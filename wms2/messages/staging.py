"""Input staging from tape: the rule and the staging activities' inputs."""

from __future__ import annotations

from datetime import datetime

from pydantic import (
    BaseModel,
)


class StagingRule(BaseModel):
    """A Rucio rule that brings a request's tape-only input to disk (None: nothing left
    on tape only)."""

    rule_id: str | None
    rse_expression: str = ""
    blocks: int = 0
    first_block: str = ""
    files: int = 0
    state: str = "REPLICATING"
    since: datetime | None = None


class StageInput(BaseModel):
    request_name: str


class PollStagingInput(BaseModel):
    request_name: str
    rule_id: str
