"""The operator's status table shows outputs by state, per dataset, and failed outputs."""

from __future__ import annotations

import io

from rich.console import Console

from wms2.messages import RequestState
from wms2.models import RequestStatus
from wms2.outputs.messages import OutputProgress
from wms2.status_view import outputs_summary, render_state


def test_outputs_by_state_per_dataset_and_failures() -> None:
    s = RequestState(request_name="req_x", status=RequestStatus.ACTIVE)
    s.outputs_by_state = {"announced": 3, "failed": 1}
    s.outputs = {
        "/A/B-v1/AODSIM": OutputProgress(
            dataset="/A/B-v1/AODSIM",
            counts={"announced": 3, "failed": 1},
            failures=["mg_000002: register_output_in_dbs refused: HTTP 400"],
        )
    }
    out = io.StringIO()
    Console(file=out, width=200).print(render_state(s))
    text = out.getvalue()
    assert "outputs announced" in text and "outputs failed" in text
    assert "/A/B-v1/AODSIM: announced 3, failed 1" in text
    assert "mg_000002: register_output_in_dbs refused: HTTP 400" in text
    assert outputs_summary({}) == "none yet"
    assert outputs_summary({"transferring": 2, "announced": 1}) == "announced 1, transferring 2"


def test_a_rerun_shows_its_run_number() -> None:
    def text_of(s: RequestState) -> str:
        out = io.StringIO()
        Console(file=out, width=200).print(render_state(s))
        return out.getvalue()

    assert "--rerun" not in text_of(RequestState(request_name="req_x"))
    assert "2 (submitted again with --rerun)" in text_of(RequestState(request_name="req_x", run=2))
