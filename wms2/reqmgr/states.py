"""Which ReqMgr2 request states WMS2 may run a request in.

ReqMgr2 moves a request new -> assignment-approved -> assigned -> staging -> staged ->
acquired -> running-open -> running-closed -> completed -> closed-out -> announced
(WMCore's ReqMgr/DataStructs/RequestStatus.py). Up to `staged` no agent holds any of its
work: `assigned` is the hand-off to the workload system, `staging`/`staged` only mean
MSTransferor placed its input. From `acquired` on, a WMAgent has pulled its work queue
elements and may be running jobs that write the same output datasets; everything after
`running-closed` is done, aborted or rejected. WMS2 therefore runs only requests in
assigned, staging or staged by default (WMS2_REQMGR_RUNNABLE_STATES changes the set, e.g.
to take over `acquired` requests from a drained agent during a migration).

A document without RequestStatus was written for WMS2 (the offline catalog, `--file`);
ReqMgr2 always stores one, so such a document is taken as handed to WMS2, i.e. assigned.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from wms2.reqmgr.errors import RequestImportError

# Every state WMCore's RequestStatus.REQUEST_STATE_TRANSITION knows, in its order.
REQMGR_STATES: tuple[str, ...] = (
    "new",
    "assignment-approved",
    "assigned",
    "staging",
    "staged",
    "acquired",
    "running-open",
    "running-closed",
    "force-complete",
    "failed",
    "completed",
    "closed-out",
    "announced",
    "aborted",
    "aborted-completed",
    "rejected",
    "normal-archived",
    "aborted-archived",
    "rejected-archived",
)

DEFAULT_RUNNABLE_STATES: tuple[str, ...] = ("assigned", "staging", "staged")

# What a document without RequestStatus is taken to be in.
UNSTATED = "assigned"


def check_runnable(doc: dict[str, Any], runnable: Collection[str]) -> str:
    """The document's state when WMS2 may run it; else one line naming the state."""
    status = doc.get("RequestStatus")
    if status is None or status == "":
        status = UNSTATED
    if not isinstance(status, str) or status not in REQMGR_STATES:
        raise RequestImportError(f"RequestStatus {status!r} is not a ReqMgr2 request state")
    if status not in runnable:
        raise RequestImportError(
            f"RequestStatus {status!r}: WMS2 runs only requests in "
            f"{', '.join(s for s in REQMGR_STATES if s in runnable)} "
            "(WMS2_REQMGR_RUNNABLE_STATES)"
        )
    return status
