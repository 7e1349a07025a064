"""Splitting algorithm and parameters of a request, with WMCore's defaults."""

from __future__ import annotations

from typing import Any

from wms2.models import SplittingAlgo
from wms2.reqmgr.arguments import TARGET_JOB_LENGTH_SEC, unset
from wms2.reqmgr.errors import RequestImportError


def events_per_job_and_lumi(
    per_job: int | None,
    per_lumi: int | None,
    time_per_event: float,
    requested: int | None = None,
    target_job_length: float = TARGET_JOB_LENGTH_SEC,
) -> tuple[int, int]:
    """WMCore's StdBase.calcEvtsPerJobLumi: EventsPerJob defaults to a target job length
    of TimePerEvent, is at most RequestNumEvents, and is always a multiple of
    EventsPerLumi (which defaults to, and never exceeds, EventsPerJob)."""
    if per_job is None:
        per_job = max(int(target_job_length / time_per_event), 1)
    if requested and per_job > requested:
        per_job = requested
    if per_lumi is None or per_lumi > per_job:
        return per_job, per_job
    return per_lumi * max(round(per_job / per_lumi), 1), per_lumi


def _positive(field: str, value: Any) -> int | None:
    if unset(value):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestImportError(f"{field} {value!r} must be a positive integer")
    return value


def splitting(
    first: dict[str, Any],
    where: str,
    generation: bool,
    time_per_event: float,
    filter_efficiency: float,
    target_job_length: float,
) -> tuple[SplittingAlgo, dict[str, Any]]:
    """(algorithm, parameters) from the first step (or the top level of a flat request)."""
    name = first.get("SplittingAlgo")
    if generation:
        name = "EventBased"  # WMCore forces it for a chain that generates
    elif unset(name):
        name = "EventAwareLumiBased"
    try:
        algo = SplittingAlgo(name)
    except ValueError:
        allowed = ", ".join(a.value for a in SplittingAlgo)
        raise RequestImportError(
            f"{where}SplittingAlgo {name!r} is not supported (use {allowed})"
        ) from None

    def arg(key: str) -> int | None:
        return _positive(f"{where}{key}", first.get(key))

    params: dict[str, Any] = {}
    requested = None
    if generation:
        total = arg("RequestNumEvents")
        if total is None:
            raise RequestImportError(f"{where}RequestNumEvents is missing (generation)")
        # Filtered generation must generate more events to keep the requested number.
        requested = max(int(total / filter_efficiency), 1)
        params["request_num_events"] = requested
        params["first_event"] = arg("FirstEvent") or 1
        params["first_lumi"] = arg("FirstLumi") or 1
    if algo in (SplittingAlgo.EVENT_BASED, SplittingAlgo.EVENT_AWARE_LUMI):
        per_job, per_lumi = events_per_job_and_lumi(
            arg("EventsPerJob"),
            arg("EventsPerLumi"),
            time_per_event,
            requested,
            target_job_length,
        )
        params["events_per_job"] = per_job
        if algo is SplittingAlgo.EVENT_BASED:
            params["events_per_lumi"] = per_lumi
    elif algo is SplittingAlgo.LUMI_BASED:
        params["lumis_per_job"] = arg("LumisPerJob") or 8
        if first.get("SplitOnRun") is not None:
            params["split_on_run"] = bool(first["SplitOnRun"])
    elif algo is SplittingAlgo.FILE_BASED:
        params["files_per_job"] = arg("FilesPerJob") or 1
    return algo, params
