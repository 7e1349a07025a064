"""What operators see of a request in the Web UI and with visibility queries."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from wms2.messages import AdmissionState, RequestState
    from wms2.models import RequestStatus

LIVE_DAG = (RequestStatus.ACTIVE, RequestStatus.STOPPING)

STATUS = SearchAttributeKey.for_keyword("WMS2Status")
CAMPAIGN = SearchAttributeKey.for_keyword("WMS2Campaign")
PRIORITY = SearchAttributeKey.for_int("WMS2Priority")
REQUEST_TYPE = SearchAttributeKey.for_keyword("WMS2RequestType")
STUCK = SearchAttributeKey.for_bool("WMS2Stuck")
ALL_KEYS = (STATUS, CAMPAIGN, PRIORITY, REQUEST_TYPE, STUCK)


PROGRESS_MEMO = "progress-memo"  # workflow.patched id
HOLD_MEMO = "hold-memo"  # workflow.patched id: `list` and `admission` show held requests


# workflow.patched id: search attributes upserted only when one changed (each upsert is a
# history event and a visibility write; a request publishes at every tracker signal).
SEARCH_ON_CHANGE = "search-attributes-on-change"


def search_key(s: RequestState) -> str:
    """The search attributes' values, as one string to compare with the last upserted."""
    return f"{s.status.value}|{s.campaign or '-'}|{s.priority}|{s.request_type or '-'}|{s.stuck}"


def publish(s: RequestState) -> None:
    """Upsert the search attributes and the memo (progress, held) where they changed,
    and refresh the one-screen summary (no history event)."""
    key = search_key(s)
    # Compared first: patched is asked only once nothing changed, so a history recorded
    # before the change replays with its upsert at every publish.
    if key != s.search_published or not workflow.patched(SEARCH_ON_CHANGE):
        s.search_published = key
        workflow.upsert_search_attributes(
            [
                STATUS.value_set(s.status.value),
                CAMPAIGN.value_set(s.campaign or "-"),
                PRIORITY.value_set(s.priority),
                REQUEST_TYPE.value_set(s.request_type or "-"),
                STUCK.value_set(s.stuck),
            ]
        )
    progress = f"{s.progress.work_units_done}/{s.progress.work_units_total}"
    if progress != s.memo_progress and workflow.patched(PROGRESS_MEMO):
        s.memo_progress = progress
        workflow.upsert_memo({"progress": progress})
    # Held is not a status of its own (it is QUEUED): the memo lets a list show it.
    if (s.hold or "") != (s.memo_hold or "") and workflow.patched(HOLD_MEMO):
        s.memo_hold = s.hold or ""
        workflow.upsert_memo({"held": s.memo_hold})
    workflow.set_current_details(details(s))


def nodes(s: RequestState) -> str:
    """Running nodes only while a DAG runs: the count is the DAG's last news, and after
    a stop or the DAG's end nothing of that DAG runs any more."""
    p = s.progress
    running = f"{p.nodes_running} running, " if s.status in LIVE_DAG else ""
    return f"{p.nodes_done} done, {running}{p.nodes_failed} failed of {p.nodes_total}"


def details(s: RequestState) -> str:
    p = s.progress
    lines = [
        f"**{s.request_name}**",
        f"status: **{s.status.value}** (priority {s.priority}{', urgent' if s.urgent else ''})",
        f"work units: {p.work_units_done}/{p.work_units_total}   nodes: {nodes(s)}",
    ]
    if s.waiting_for and s.status.value == "queued":
        lines.append(f"waiting: {s.waiting_for}")
    if s.staging is not None and s.staging.rule_id is not None and s.staging.state != "OK":
        st = s.staging
        lines.append(
            f"staging input: rule {st.rule_id} to {st.rse_expression} is {st.state} "
            f"({st.files} file(s) in {st.blocks} block(s))"
        )
    if s.recovery:
        lines.append(s.recovery)
    if s.run > 1:
        lines.append(f"run {s.run} (submitted again with --rerun)")
    if s.hold is not None:
        lines.append(f"held out of admission until release: {s.hold}")
    elif s.status is RequestStatus.QUEUED:
        lines.append(
            "waiting for admission: the wms2-admission workflow's page (or `starter.py "
            "admission`) shows its place in the queue and whether admission is paused"
        )
    if s.priority_changes:
        c = s.priority_changes[-1]
        lines.append(f"priority {c.previous} -> {c.priority} by {c.by} at {c.at:%Y-%m-%d %H:%M}")
    if s.dag is not None:
        lines.append(f"DAG: cluster {s.dag.cluster_id} on {s.dag.schedd} (attempt {s.dag_attempt})")
    if s.dqm_uploads:
        urls = ", ".join(sorted({u.url for u in s.dqm_uploads}))
        lines.append(f"DQM files uploaded: {len(s.dqm_uploads)} to {urls}")
    if s.outputs_by_state:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(s.outputs_by_state.items()))
        if s.status.is_terminal:
            # A closed workflow's page cannot change; its outputs can (an invalidation
            # starts their output workflows again): say where the current state is.
            lines.append(
                f"outputs when the request ended: {counts} (an invalidation since shows on "
                "each output workflow's page, Relationships, and in `starter.py status`)"
            )
        else:
            lines.append(f"outputs: {counts}")
    if s.production_steps:
        steps = ", ".join(f"{st.fraction:.0%}->{st.priority}" for st in s.production_steps)
        lines.append(f"production steps left: {steps}")
    if s.failure_summary:
        lines.append(f"failures: {s.failure_summary}")
    if s.sizing_changes:
        lines.append(f"changed: {s.sizing_changes[-1]}")
    if s.alerts:
        a = s.alerts[-1]
        lines.append(f"ALERT {a.kind}: {a.message}")
    if s.failure_reason:
        lines.append(f"reason: {s.failure_reason}")
    if s.superseded_by_request:
        lines.append(f"superseded by {s.superseded_by_request}")
    return "\n".join(lines)


def admission_details(a: AdmissionState, shown: int = 10) -> str:
    """The admission workflow's page: limit, pause, the queue's head, the slot holders."""
    lines = [
        f"**admission**: {len(a.active)}/{a.limit} slots taken, {len(a.queue)} queued, "
        f"{a.admitted_total} admitted so far",
    ]
    if a.paused:
        lines.append(f"PAUSED: {a.paused} (no one is admitted until resume)")
    for i, e in enumerate(a.queue[:shown], 1):
        lines.append(f"{i}. {e.request_name} (priority {e.priority})")
    if len(a.queue) > shown:
        lines.append(f"... and {len(a.queue) - shown} more (`starter.py admission`)")
    if a.active:
        lines.append("active: " + ", ".join(a.active[:shown]))
    return "\n".join(lines)
