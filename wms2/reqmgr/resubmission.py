"""A Resubmission (ACDC) document's recovery arguments, read as WMCore's
ResubmissionWorkloadFactory and ReqMgr2's validate_resubmission_create_args mean them.

ReqMgr2 clones the original's arguments into the Resubmission and adds
OriginalRequestName, OriginalRequestType, InitialTaskPath (/<original>/<task>[/...]),
ACDCServer, ACDCDatabase, CollectionName, IgnoredOutputModules and ResubmissionCount.
WMCore truncates the original's workload to the task at InitialTaskPath. WMS2 runs every
step of a StepChain or TaskChain in one job and merges inside the work unit, so a failed
job is redone whole: the path must name the first task (StepChain: Step1's StepName,
TaskChain: Task1's TaskName, ReReco: DataProcessing). A later task, or a merge task under
it, cannot be started on its own and is refused in one line.
"""

from __future__ import annotations

from typing import Any

from wms2.recovery_spec import Recovery
from wms2.reqmgr.arguments import make_list, unset
from wms2.reqmgr.errors import RequestImportError

RESUBMISSION = "Resubmission"
ACDC_FIELDS = ("OriginalRequestName", "InitialTaskPath", "ACDCServer", "ACDCDatabase")
REPROCESSING_TASK = "DataProcessing"  # WMCore's name of a ReReco's processing task


def _first_task(kind: str, raw: list[dict[str, Any]]) -> str:
    return str(raw[0].get(f"{kind}Name")) if kind else REPROCESSING_TASK


def recovery_of(doc: dict[str, Any], kind: str, raw: list[dict[str, Any]]) -> Recovery | None:
    """The recovery a Resubmission asks for; None for other types, which must not carry
    the ACDC arguments (they would run everything, not the failed work)."""
    request_type = doc.get("RequestType")
    if request_type != RESUBMISSION:
        for name in ACDC_FIELDS:
            if not unset(doc.get(name)):
                raise RequestImportError(
                    f"{name} {doc[name]!r} is set but RequestType is {request_type!r}: "
                    "only a Resubmission recovers failed work"
                )
        return None
    original = doc.get("OriginalRequestName")
    if unset(original) or not isinstance(original, str):
        raise RequestImportError(f"OriginalRequestName {original!r} must name the original")
    path = doc.get("InitialTaskPath")
    parts = path.split("/") if isinstance(path, str) else []
    if len(parts) < 3 or parts[0] or not parts[1] or not parts[2]:
        raise RequestImportError(f"InitialTaskPath {path!r} is not /<request>/<task>[/...]")
    if parts[1] != original:
        raise RequestImportError(
            f"InitialTaskPath {path!r} is not a task of OriginalRequestName {original!r}"
        )
    first = _first_task(kind, raw)
    if parts[2] != first or len(parts) > 3:
        raise RequestImportError(
            f"InitialTaskPath {path!r} starts after the first task: WMS2 runs every task "
            f"of a job in one job and merges in its work unit, so it recovers /{original}/"
            f"{first} only"
        )
    ignored = make_list(doc.get("IgnoredOutputModules") or [])
    if ignored:
        raise RequestImportError(
            f"IgnoredOutputModules {ignored!r} is set: WMS2 writes every output the "
            "original kept (drop the datasets from OutputDatasets instead)"
        )
    count = doc.get("ResubmissionCount", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise RequestImportError(f"ResubmissionCount {count!r} must be a positive integer")
    return Recovery(
        original_request=original,
        original_type=str(doc.get("OriginalRequestType")),
        task_path=path,
        acdc_server=doc.get("ACDCServer") or "https://cmsweb.cern.ch/couchdb",
        acdc_database=doc.get("ACDCDatabase") or "acdcserver",
        # WMCore's truncate: the collection is CollectionName, else the original's name.
        collection=doc.get("CollectionName") or original,
        resubmission_count=count,
    )
