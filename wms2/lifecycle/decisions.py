"""Pure decisions of the request lifecycle (no Temporal, no I/O), so they are unit-tested
on their own and the workflow code only sequences them."""

from __future__ import annotations

import re
from enum import StrEnum

from wms2.models import ProductionStep, Request, RequestStatus

# Spec 4.8 / 6.1: failure ratio thresholds when a DAG ends with failures.
AUTO_RESCUE_BELOW = 0.05
FAIL_ABOVE = 0.30
MAX_AUTO_RESCUES = 3


class DagOutcome(StrEnum):
    COMPLETED = "completed"
    RESCUE = "rescue"  # resubmit the rescue DAG automatically
    PARTIAL = "partial"  # wait for an operator
    FAILED = "failed"


def dag_outcome(
    nodes_failed: int, nodes_total: int, exit_code: int, auto_rescues: int
) -> DagOutcome:
    """What to do when a DAG has ended (spec 4.8): < 5% failed -> rescue, 5-30% -> PARTIAL,
    > 30% -> FAILED. Automatic rescues are bounded, after which the request is PARTIAL."""
    if exit_code == 0 and nodes_failed == 0:
        return DagOutcome.COMPLETED
    ratio = nodes_failed / max(nodes_total, 1)
    if ratio > FAIL_ABOVE:
        return DagOutcome.FAILED
    if ratio < AUTO_RESCUE_BELOW and auto_rescues < MAX_AUTO_RESCUES:
        return DagOutcome.RESCUE
    return DagOutcome.PARTIAL


def production_step_reached(
    steps: list[ProductionStep], done: int, total: int
) -> ProductionStep | None:
    """The next partial-production step if its fraction of work units is reached."""
    if not steps or total <= 0:
        return None
    return steps[0] if done / total >= steps[0].fraction else None


class StuckAction(StrEnum):
    FAIL = "fail"  # internal statuses: something is broken
    ALERT = "alert"  # QUEUED: slow admission, tell the operator
    PROBE_PILOT = "probe_pilot"  # PILOT_RUNNING: fail if the pilot vanished, else alert
    PROBE_SCHEDD = "probe_schedd"  # ACTIVE: alert, saying whether the schedd answers
    RETRY_REMOVAL = "retry_removal"  # STOPPING: condor_rm again


STUCK_ACTIONS = {
    RequestStatus.SUBMITTED: StuckAction.FAIL,
    RequestStatus.PLANNING: StuckAction.FAIL,
    RequestStatus.RESUBMITTING: StuckAction.FAIL,
    RequestStatus.QUEUED: StuckAction.ALERT,
    RequestStatus.PILOT_RUNNING: StuckAction.PROBE_PILOT,
    RequestStatus.ACTIVE: StuckAction.PROBE_SCHEDD,
    RequestStatus.STOPPING: StuckAction.RETRY_REMOVAL,
}

_VERSION = re.compile(r"_v(\d+)_")


def next_version_name(request_name: str, processing_version: int) -> str:
    """The request name of version N+1 (spec 6.3): `_vN_` becomes `_v(N+1)_`; a name
    without the marker gets `_v(N+1)` appended, so a new name always results."""
    marker = f"_v{processing_version}_"
    if marker in request_name:
        return request_name.replace(marker, f"_v{processing_version + 1}_", 1)
    m = _VERSION.search(request_name)
    if m:
        return request_name[: m.start()] + f"_v{int(m.group(1)) + 1}_" + request_name[m.end() :]
    return f"{request_name}_v{processing_version + 1}"


def _bump_dataset(dataset: str) -> str:
    """/P/Era-ProcStr-vN/TIER -> /P/Era-ProcStr-v(N+1)/TIER: this dataset's own version."""
    return re.sub(r"-v(\d+)/", lambda m: f"-v{int(m.group(1)) + 1}/", dataset, count=1)


def bump_versions(request: Request) -> Request:
    """Spec 6.3's version increment: every step's ProcessingVersion and every output's
    version go up by one, each from its own value (steps may differ)."""
    renamed = {ds: _bump_dataset(ds) for ds in request.output_datasets}
    steps = [
        s.model_copy(
            update={
                "processing_version": s.processing_version + 1,
                "output_datasets": [renamed[d] for d in s.output_datasets],
            }
        )
        for s in request.steps
    ]
    return request.model_copy(
        update={
            "processing_version": request.processing_version + 1,
            "output_datasets": [renamed[d] for d in request.output_datasets],
            "steps": steps,
        }
    )
