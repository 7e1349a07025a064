"""The job's time per event and memory, as WMCore means a request's estimates.

TimePerEvent is the wall time per event of the job as it runs, with all its cores (WMCore
EventBased: jobTime = eventsPerJob * timePerEvent; never divided by cores).

- StepChain and flat requests: one TimePerEvent and one Memory for the whole job, the
  top-level numbers (WMCore's StepChain and Resubmission read only those: a dict per step
  is not a shape WMCore accepts for them). A step's own Memory/TimePerEvent is not read,
  as in WMCore.
- TaskChain: WMCore runs each task as jobs of its own, with the task's TimePerEvent and
  Memory; WMS2 runs every task in one job, so the job's time per input event is the sum
  of each task's, weighted by the share of events that reach it (the filter efficiencies
  of the tasks it reads from, back to the first), and its memory the largest task's.
"""

from __future__ import annotations

from typing import Any

from wms2.models import StepSpec
from wms2.reqmgr.arguments import unset
from wms2.reqmgr.errors import RequestImportError

# WMCore's defaults (StdBase/StepChain create args).
DEFAULT_TIME_PER_EVENT = 12.0
DEFAULT_MEMORY_MB = 2300.0


def _one_number(doc: dict[str, Any], field: str, default: float, kind: str) -> float:
    value = doc.get(field)
    if unset(value):
        return default
    if isinstance(value, dict):
        what = "a StepChain" if kind == "Step" else "this request type"
        raise RequestImportError(
            f"{field} {value!r} is given per step, but {what} has one {field} for the "
            "whole job (WMCore reads the top-level number)"
        )
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RequestImportError(f"{field} {value!r} must be a number > 0")
    try:
        number = float(value)
    except ValueError:
        raise RequestImportError(f"{field} {value!r} must be a number > 0") from None
    if number <= 0:
        raise RequestImportError(f"{field} {value!r} must be a number > 0")
    return number


def reaching(steps: list[StepSpec]) -> dict[str, float]:
    """Share of the job's input events each step processes: the product of the filter
    efficiencies of the steps it reads from (InputTask/InputStep), back to the first."""
    by_name = {s.name: s for s in steps}
    share: dict[str, float] = {}
    for s in steps:  # ReqMgr2 orders a chain so a step's input comes before it
        parent = by_name.get(s.input_step or "")
        share[s.name] = 1.0 if parent is None else share[parent.name] * parent.filter_efficiency
    return share


def job_time_per_event(doc: dict[str, Any], kind: str, steps: list[StepSpec]) -> float:
    if kind != "Task":
        return _one_number(doc, "TimePerEvent", DEFAULT_TIME_PER_EVENT, kind)
    share = reaching(steps)
    return sum((s.time_per_event_sec or DEFAULT_TIME_PER_EVENT) * share[s.name] for s in steps)


def job_memory_mb(doc: dict[str, Any], kind: str, steps: list[StepSpec]) -> int:
    if kind == "Task":
        return max(s.memory_mb for s in steps)
    return int(_one_number(doc, "Memory", DEFAULT_MEMORY_MB, kind))
