"""`status` shows a request's outputs as their output workflows have them now: an
invalidation after the request ended (its own state can no longer change) reads
"invalidated", with the reason, not "announced"."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from cli import output_states
from cli.status_view import render_state
from wms2.messages import RequestState
from wms2.models import OutputStatus, RequestStatus
from wms2.outputs.messages import OutputProgress, OutputState

DS = "/MinBias/Era-v1/GEN-SIM"


def ended_request() -> RequestState:
    return RequestState(
        request_name="req",
        status=RequestStatus.COMPLETED,
        output_datasets=[DS],
        outputs={DS: OutputProgress(dataset=DS, counts={"announced": 3}, finished=True)},
        outputs_by_state={"announced": 3},
    )


async def test_an_invalidation_after_the_end_shows_in_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []

    async def now(client: Any, wf_id: str, timeout_sec: float) -> OutputState:
        asked.append(wf_id)
        inv = OutputStatus.INVALIDATED
        return OutputState(
            request_name="req", dataset=DS, index=1, invalidate_reason="wrong tune",
            finished_units={"mg_000001": inv, "mg_000002": inv, "mg_000003": inv},
        )  # fmt: skip

    monkeypatch.setattr(output_states, "output_state", now)
    s, invalidated = await output_states.with_current_outputs(None, ended_request(), 5)  # type: ignore[arg-type]
    assert asked == ["output-req-1"]
    assert s.outputs_by_state == {"invalidated": 3} and invalidated == {DS: "wrong tune"}
    console = Console(width=120, record=True)
    console.print(render_state(s, invalidated))
    text = console.export_text()
    assert "outputs invalidated │ 3" in text and "announced" not in text
    assert f"{DS}: wrong tune" in text


async def test_an_output_workflow_that_does_not_answer_keeps_what_the_request_knew(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def gone(client: Any, wf_id: str, timeout_sec: float) -> None:
        return None

    monkeypatch.setattr(output_states, "output_state", gone)
    s, invalidated = await output_states.with_current_outputs(None, ended_request(), 5)  # type: ignore[arg-type]
    assert s.outputs_by_state == {"announced": 3} and invalidated == {}


def test_the_closed_requests_page_says_its_output_counts_are_from_its_end() -> None:
    from workflows.visibility import details

    text = details(ended_request())
    assert "outputs when the request ended: announced 3" in text
    assert "output workflow's page" in text
    running = ended_request().model_copy(update={"status": RequestStatus.PARTIAL})
    assert "outputs: announced 3" in details(running)
