"""Which ReqMgr2 request types WMS2 runs, and the one-line refusal of the others.

WMCore's spec types are StepChain, TaskChain, ReReco, DQMHarvest, Resubmission,
StoreResults, DataProcessing and the Tier-0 ones (PromptReco, Express, Repack). WMS2
builds the first four, and a Resubmission of a StepChain, TaskChain or ReReco (the
recovery of its failed work, wms2.reqmgr.resubmission); any other type is refused by
name rather than read as a flat request with the wrong meaning. A document without
RequestType was written for WMS2 and is read by its shape (StepChain/TaskChain keys,
else one step from the top level).
"""

from __future__ import annotations

from typing import Any

from wms2.reqmgr.errors import RequestImportError

SUPPORTED_TYPES: tuple[str, ...] = (
    "StepChain",
    "TaskChain",
    "ReReco",
    "DQMHarvest",
    "Resubmission",
)
# A Resubmission has its original's shape (wms2.reqmgr.resubmission); these are built.
BUILT_SHAPES: tuple[str, ...] = ("StepChain", "TaskChain", "ReReco")

# Why a known WMCore type is not run; any other name is not a ReqMgr2 type at all.
_NOT_BUILT = {
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
        raise RequestImportError(
            f"RequestType {value!r} is not supported ({_NOT_BUILT[value]}): "
            f"WMS2 runs {supported} requests"
        )
    if value not in SUPPORTED_TYPES:
        raise RequestImportError(
            f"RequestType {value!r} is not a request type WMS2 runs ({supported})"
        )
    shape, field = value, "RequestType"
    if value == "Resubmission":
        shape, field = doc.get("OriginalRequestType"), "OriginalRequestType"
        if shape not in BUILT_SHAPES:
            raise RequestImportError(
                f"OriginalRequestType {shape!r} of the Resubmission is not a type WMS2 runs "
                f"({', '.join(BUILT_SHAPES)})"
            )
    if shape in ("StepChain", "TaskChain") and doc.get(shape) is None:
        raise RequestImportError(f"{field} {shape!r} but the document has no {shape} count")
    for other in ("StepChain", "TaskChain"):
        if other != shape and doc.get(other) is not None:
            raise RequestImportError(
                f"{field} {shape!r} but the document has {other} {doc[other]!r}"
            )
    return str(value)


def request_shape(doc: dict[str, Any], request_type: str) -> str:
    """The type whose arguments the document has: a Resubmission's original's type."""
    if request_type == "Resubmission":
        return str(doc.get("OriginalRequestType"))
    return request_type
