"""Which ReqMgr2 request types WMS2 runs, and the one-line refusal of the others.

WMCore's spec types are StepChain, TaskChain, ReReco, DQMHarvest, Resubmission,
StoreResults, DataProcessing and the Tier-0 ones (PromptReco, Express, Repack). WMS2
builds the first three; any other type is refused by name rather than read as a flat
request with the wrong meaning (a DQMHarvest, which has no OutputDatasets, used to fail
on that instead). A document without RequestType was written for WMS2 and is read by its
shape (StepChain/TaskChain keys, else one step from the top level).
"""

from __future__ import annotations

from typing import Any

from wms2.reqmgr.errors import RequestImportError

SUPPORTED_TYPES: tuple[str, ...] = ("StepChain", "TaskChain", "ReReco", "DQMHarvest")

# Why a known WMCore type is not run; any other name is not a ReqMgr2 type at all.
_NOT_BUILT = {
    "Resubmission": "ACDC recovery is not built yet",
    "StoreResults": "StoreResults (user data into global DBS) is not built",
    "DataProcessing": "ReqMgr2 runs DataProcessing as ReReco",
    "MonteCarlo": "WMCore retired MonteCarlo; generation is a StepChain or TaskChain",
    "PromptReco": "Tier-0 types are run by the Tier-0",
    "Express": "Tier-0 types are run by the Tier-0",
    "Repack": "Tier-0 types are run by the Tier-0",
}


def check_request_type(doc: dict[str, Any]) -> str:
    """The document's RequestType ("" when it has none) when WMS2 runs it."""
    value = doc.get("RequestType")
    if value is None or value == "":
        return ""
    supported = ", ".join(SUPPORTED_TYPES)
    if value in _NOT_BUILT:
        origin = doc.get("OriginalRequestName")
        of = f" of {origin!r}" if value == "Resubmission" and origin else ""
        raise RequestImportError(
            f"RequestType {value!r}{of} is not supported ({_NOT_BUILT[value]}): "
            f"WMS2 runs {supported} requests"
        )
    if value not in SUPPORTED_TYPES:
        raise RequestImportError(
            f"RequestType {value!r} is not a request type WMS2 runs ({supported})"
        )
    if value in ("StepChain", "TaskChain") and doc.get(value) is None:
        raise RequestImportError(f"RequestType {value!r} but the document has no {value} count")
    for other in ("StepChain", "TaskChain"):
        if other != value and doc.get(other) is not None:
            raise RequestImportError(
                f"RequestType {value!r} but the document has {other} {doc[other]!r}"
            )
    return str(value)
