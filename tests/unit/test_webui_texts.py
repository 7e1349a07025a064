"""What a request's Web UI page says (issue 28): the fixed summary carries no priority
(it changes), chains show their Step1/Task1 input, the current details follow a priority
change, drop running nodes after a stop and tell a queued request where to look; the
admission workflow's page shows its queue."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from cli.submit import static_texts
from tests.conftest import SAMPLE_CATALOG, TASKCHAIN
from wms2.config import Settings
from wms2.messages import AdmissionEntry, AdmissionState, PriorityNote, RequestState
from wms2.models import RequestStatus
from workflows.visibility import admission_details, details

S = RequestStatus


def test_a_taskchain_shows_its_task1_input_and_no_fixed_priority() -> None:
    doc = json.loads((SAMPLE_CATALOG / "requests" / f"{TASKCHAIN}.json").read_text())
    texts = static_texts(TASKCHAIN, doc, Settings())
    assert texts["static_summary"] == f"TaskChain {doc['Campaign']}"
    assert f"input: {doc['Task1']['InputDataset']}" in texts["static_details"]
    assert "submitted at priority 85000" in texts["static_details"]


def test_details_follow_a_priority_change_and_a_stop() -> None:
    s = RequestState(request_name="req", status=S.ACTIVE, priority=85000)
    s.progress.nodes_running, s.progress.nodes_total = 17, 40
    assert "17 running" in details(s)
    s.priority = 95000
    s.priority_changes.append(
        PriorityNote(priority=95000, previous=85000, by="alice", at=datetime.now(UTC))
    )
    s.status = S.QUEUED  # stopped: DAGMan removed, its last count is history
    text = details(s)
    assert "priority 95000" in text and "85000 -> 95000 by alice" in text
    assert "running" not in text and "waiting for admission" in text


def test_the_admission_page_shows_its_queue() -> None:
    when = datetime(2026, 12, 1, tzinfo=UTC)
    a = AdmissionState(
        limit=2,
        active=["a", "b"],
        paused="schedd upgrade",
        queue=[AdmissionEntry(request_name="c", priority=9, enqueued_at=when)],
    )
    text = admission_details(a)
    assert "2/2 slots taken, 1 queued" in text and "PAUSED: schedd upgrade" in text
    assert "1. c (priority 9)" in text and "active: a, b" in text


def test_details_carry_the_failure_reports_line_and_the_last_sizing_change() -> None:
    s = RequestState(request_name="req_f", status=RequestStatus.PARTIAL)
    s.failure_summary = "2 node(s) failed in 1 group: site error at T2_XX_Bad (banned)"
    s.sizing_changes = ["mg_000003: 1000 -> 500 events per job", "mg_000004: 2000 -> 1000 MB"]
    text = details(s)
    assert "failures: 2 node(s) failed in 1 group: site error at T2_XX_Bad (banned)" in text
    assert "changed: mg_000004: 2000 -> 1000 MB" in text and "mg_000003" not in text
