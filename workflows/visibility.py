"""What operators see of a request in the Web UI and with visibility queries."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from wms2.messages import RequestState

STATUS = SearchAttributeKey.for_keyword("WMS2Status")
CAMPAIGN = SearchAttributeKey.for_keyword("WMS2Campaign")
PRIORITY = SearchAttributeKey.for_int("WMS2Priority")
REQUEST_TYPE = SearchAttributeKey.for_keyword("WMS2RequestType")
STUCK = SearchAttributeKey.for_bool("WMS2Stuck")
ALL_KEYS = (STATUS, CAMPAIGN, PRIORITY, REQUEST_TYPE, STUCK)


PROGRESS_MEMO = "progress-memo"  # workflow.patched id


def publish(s: RequestState) -> None:
    """Upsert the search attributes, the progress memo (`starter.py list` shows it; only
    when it changed) and refresh the one-screen summary."""
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
    workflow.set_current_details(details(s))


def details(s: RequestState) -> str:
    p = s.progress
    lines = [
        f"**{s.request_name}**",
        f"status: **{s.status.value}** (priority {s.priority}{', urgent' if s.urgent else ''})",
        f"work units: {p.work_units_done}/{p.work_units_total}   "
        f"nodes: {p.nodes_done} done, {p.nodes_running} running, {p.nodes_failed} failed "
        f"of {p.nodes_total}",
    ]
    if s.waiting_for and s.status.value == "queued":
        lines.append(f"waiting: {s.waiting_for}")
    if s.staging is not None and s.staging.rule_id is not None and s.staging.state != "OK":
        st = s.staging
        lines.append(
            f"staging input: rule {st.rule_id} to {st.rse_expression} is {st.state} "
            f"({st.files} file(s) in {st.blocks} block(s))"
        )
    if s.run > 1:
        lines.append(f"run {s.run} (submitted again with --rerun)")
    if s.hold is not None:
        lines.append(f"held out of admission until release: {s.hold}")
    if s.priority_changes:
        c = s.priority_changes[-1]
        lines.append(f"priority {c.previous} -> {c.priority} by {c.by} at {c.at:%Y-%m-%d %H:%M}")
    if s.dag is not None:
        lines.append(f"DAG: cluster {s.dag.cluster_id} on {s.dag.schedd} (attempt {s.dag_attempt})")
    if s.outputs_by_state:
        lines.append(
            "outputs: " + ", ".join(f"{k} {v}" for k, v in sorted(s.outputs_by_state.items()))
        )
    if s.production_steps:
        steps = ", ".join(f"{st.fraction:.0%}->{st.priority}" for st in s.production_steps)
        lines.append(f"production steps left: {steps}")
    if s.alerts:
        a = s.alerts[-1]
        lines.append(f"ALERT {a.kind}: {a.message}")
    if s.failure_reason:
        lines.append(f"reason: {s.failure_reason}")
    if s.superseded_by_request:
        lines.append(f"superseded by {s.superseded_by_request}")
    return "\n".join(lines)
