"""Failed work from a WMCore ACDC collection, read in the shapes WMCore stores.

The CouchDB view ACDC/coll_fileset_docs, keyed by [collection, fileset] (the fileset is
the task path), gives one document per failed job (WMCore CouchFileset.makeFilelist):

    {"collection_name": ..., "fileset_name": "/<request>/<task>", "acdc_version": 2,
     "files": {"<lfn>": {"lfn", "first_event", "last_event", "events", "size", "merged",
                         "locations": [...], "parents": [...],
                         "runs": [{"run_number": 1, "lumis": [..]}]}}}

Generation jobs read no file: their "file" is an MCFakeFile-<hash> whose first_event,
events and lumis are the job's range. Documents older than acdc_version 2 list one lumi
too many for those (the upper bound of the job's mask, WMCore issue 9126): it is dropped,
as WMCore's fixupMCFakeLumis does.
"""

from __future__ import annotations

from typing import Any

from wms2.recovery.work import EventRange, RecoveredWork, RecoveryError

MC_FAKE_FILE = "MCFakeFile"


def _runs(lfn: str, record: dict[str, Any]) -> list[tuple[int, list[int]]]:
    runs = record.get("runs")
    if not isinstance(runs, list) or not runs:
        raise RecoveryError(f"ACDC file {lfn!r} has no runs (got {runs!r})")
    found = []
    for run in runs:
        try:
            found.append((int(run["run_number"]), [int(x) for x in run["lumis"]]))
        except (KeyError, TypeError, ValueError):
            raise RecoveryError(
                f"ACDC file {lfn!r} has a run that is not WMCore's shape: {run!r}"
            ) from None
    return found


def _event_range(lfn: str, record: dict[str, Any], version: int) -> EventRange:
    (run, lumis), *more = _runs(lfn, record)
    if more or run != 1:
        raise RecoveryError(f"ACDC file {lfn!r}: a generation job covers run 1 only, got {run}")
    if version < 2 and len(lumis) > 1:
        lumis = lumis[:-1]  # fixupMCFakeLumis
    try:
        return EventRange(int(record["first_event"]), int(record["events"]), tuple(sorted(lumis)))
    except (KeyError, TypeError, ValueError) as e:
        raise RecoveryError(f"ACDC file {lfn!r} has no usable first_event/events: {e}") from None


def work_from_acdc(docs: list[dict[str, Any]], where: str) -> RecoveredWork:
    """The failed work the collection's documents record; `where` names the collection
    and fileset in errors. Duplicate uploads of one job (the ErrorHandler may send a
    document twice) count once."""
    work = RecoveredWork(units=len(docs))
    ranges: list[EventRange] = []
    seen_ranges: set[EventRange] = set()
    for doc in docs:
        version = int(doc.get("acdc_version", 1))
        records = doc.get("files") or {}
        if not isinstance(records, dict):
            raise RecoveryError(f"ACDC {where}: document {doc.get('_id')!r} files is not a dict")
        for lfn, record in records.items():
            if lfn.startswith(MC_FAKE_FILE):
                # Each job's range on its own: WMCore merges ranges of one fake file into
                # a first event and an event sum, which runs the wrong events when the
                # failed jobs were not consecutive.
                r = _event_range(lfn, record, version)
                if r not in seen_ranges:
                    seen_ranges.add(r)
                    ranges.append(r)
                continue
            if lfn.startswith("/store/unmerged/"):
                raise RecoveryError(
                    f"ACDC {where} records unmerged file {lfn} (a failed merge): WMS2 reruns "
                    "processing from the input, name the processing task in InitialTaskPath"
                )
            if lfn not in work.files:
                # Every job record of a file carries the file's events (lumi-based jobs
                # have no better number): counted once per file.
                work.files.add(lfn)
                work.file_events += int(record.get("events") or 0)
            for run, lumis in _runs(lfn, record):
                work.add_lumis(run, lumis)
    if work.files and ranges:
        raise RecoveryError(
            f"ACDC {where} mixes generated event ranges and input files: not one task's failures"
        )
    work.ranges = sorted(ranges, key=lambda r: r.first_event)
    return work
