"""Signal inputs read by hand: a signal cannot be refused at the sender, so the workflow
validates what arrived and lists a bad one under "ignored" with the reason, instead of
dropping it unseen or taking it with defaults."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def read_signal(model: type[M], raw: Any) -> M | str:
    """The model for `raw` (None, no input at all, means its defaults), or a one-line
    reason naming the field and the value."""
    if raw is None:
        return model()
    if isinstance(raw, BaseModel):  # a model from the same process (tests, replays)
        raw = raw.model_dump(mode="json")
    try:
        # JSON mode: enums accept their values, strict types refuse "yes" for a bool.
        return model.model_validate_json(json.dumps(raw))
    except (ValidationError, TypeError, ValueError) as e:
        return f"input {_short(raw)} refused: {_errors(e)}"


def _errors(e: Exception) -> str:
    if not isinstance(e, ValidationError):
        return str(e).splitlines()[0]
    parts = []
    for err in e.errors():
        where = ".".join(str(x) for x in err["loc"]) or "input"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def _short(raw: Any, limit: int = 80) -> str:
    text = repr(raw).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
