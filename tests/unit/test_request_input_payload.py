"""What a request's input looks like in Temporal (the Web UI's input panel shows it)."""

from __future__ import annotations

import json

from temporalio.contrib.pydantic import pydantic_data_converter

from wms2.messages import LifecycleConfig, RequestInput, RequestState


def payload_of(inp: RequestInput) -> dict:
    (payload,) = pydantic_data_converter.payload_converter.to_payloads([inp])
    return json.loads(payload.data)


def test_the_input_holds_only_the_fields_given_and_reads_back_the_same() -> None:
    inp = RequestInput(request_name="req_a", urgent=True)
    assert payload_of(inp) == {"request_name": "req_a", "urgent": True, "rerun": False}
    (payload,) = pydantic_data_converter.payload_converter.to_payloads([inp])
    (back,) = pydantic_data_converter.payload_converter.from_payloads([payload], [RequestInput])
    assert back == inp


def test_a_continued_request_keeps_its_state_and_config() -> None:
    inp = RequestInput(
        request_name="req_b", config=LifecycleConfig(), state=RequestState(request_name="req_b")
    )
    data = payload_of(inp)
    assert set(data) == {"request_name", "config", "rerun", "state"}
    (payload,) = pydantic_data_converter.payload_converter.to_payloads([inp])
    (back,) = pydantic_data_converter.payload_converter.from_payloads([payload], [RequestInput])
    assert back == inp
