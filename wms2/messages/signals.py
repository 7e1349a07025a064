"""The base of every signal's input: unknown fields and wrong types refused."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    ConfigDict,
)


class SignalInput(BaseModel):
    """A signal's input: unknown fields and wrong types are refused, never defaulted."""

    model_config = ConfigDict(extra="forbid", strict=True)
