"""The failed work a recovery runs again, whichever source it was read from, and how it
becomes the resubmission's input selection.

Data processing is recovered by lumi: the input files that failed and, per file, the
lumis that did; planning reads the input dataset cut to exactly those (a lumi mask and
the file names). Generation is recovered by event range: each failed job's first event,
event count and lumis, run again with the same numbers so the events and lumis that were
produced are never produced twice and the ones that were not keep their identity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from wms2.recovery_spec import EVENT_RANGES, RECOVERY_FILES, Recovery
from wms2.reqmgr.errors import RequestImportError


class RecoveryError(RequestImportError):
    """The failed work cannot be recovered as asked (one line naming what and why): the
    import fails, as for any other request it cannot run."""


@dataclass(frozen=True)
class EventRange:
    first_event: int
    events: int
    lumis: tuple[int, ...]  # sorted; generation runs in run 1

    def __post_init__(self) -> None:
        if self.first_event < 1 or self.events < 1 or not self.lumis or min(self.lumis) < 1:
            raise RecoveryError(
                f"event range first_event {self.first_event}, events {self.events}, "
                f"lumis {list(self.lumis)[:5]} is not a range of generated events"
            )


@dataclass
class RecoveredWork:
    units: int  # failed work units (WMS2) or failed job records (ACDC)
    files: set[str] = field(default_factory=set)  # input LFNs (data processing)
    lumis: dict[int, set[int]] = field(default_factory=dict)  # run -> lumis of those files
    file_events: int = 0  # as recorded: the events of the failed jobs' input
    ranges: list[EventRange] = field(default_factory=list)  # generation

    def add_lumis(self, run: int, lumis: Iterable[int]) -> None:
        self.lumis.setdefault(run, set()).update(lumis)

    @property
    def lumi_count(self) -> int:
        if self.ranges:
            return sum(len(r.lumis) for r in self.ranges)
        return sum(len(ls) for ls in self.lumis.values())

    @property
    def events(self) -> int:
        return sum(r.events for r in self.ranges) if self.ranges else self.file_events

    def lumi_mask(self) -> dict[str, list[list[int]]]:
        """The recovered lumis in golden-JSON shape, as WMCore's getLumiWhitelist."""
        return {str(run): compact(sorted(ls)) for run, ls in sorted(self.lumis.items()) if ls}


def compact(lumis: list[int]) -> list[list[int]]:
    """Sorted lumis -> [[first, last], ...] of consecutive runs of them."""
    ranges: list[list[int]] = []
    for lumi in lumis:
        if ranges and ranges[-1][1] + 1 == lumi:
            ranges[-1][1] = lumi
        else:
            ranges.append([lumi, lumi])
    return ranges


def apply_recovery(
    params: dict[str, Any], recovery: Recovery, work: RecoveredWork, source: str, generation: bool
) -> tuple[dict[str, Any], Recovery]:
    """The resubmission's splitting parameters, cut to the recovered work, and its
    recovery record with the counts; RecoveryError when there is nothing to recover or
    the work does not fit the request (ranges for a data request, files for generation)."""
    what = f"{recovery.original_request} ({recovery.task_path})"
    if not work.files and not work.ranges:
        raise RecoveryError(
            f"OriginalRequestName {recovery.original_request!r}: {source} records no failed "
            f"work for {recovery.task_path}: nothing to recover"
        )
    params = dict(params)
    if generation:
        if work.files:
            raise RecoveryError(
                f"{what} failed on input files (first {min(work.files)}) but the "
                "resubmission generates events: not the same request"
            )
        params[EVENT_RANGES] = [[r.first_event, r.events, list(r.lumis)] for r in work.ranges]
        params["request_num_events"] = work.events
    else:
        if work.ranges:
            raise RecoveryError(
                f"{what} failed on generated event ranges but the resubmission reads "
                "an input dataset: not the same request"
            )
        # The recovered lumis lie inside the original's selection: they replace its mask.
        params["lumi_mask"] = work.lumi_mask()
        params[RECOVERY_FILES] = sorted(work.files)
    counted = recovery.model_copy(
        update={
            "source": source,
            "work_units": work.units,
            "files": len(work.files),
            "lumis": work.lumi_count,
            "events": work.events,
        }
    )
    return params, counted
