"""One mechanism for blocking activity work: run in a thread, heartbeating meanwhile."""

from __future__ import annotations

import time

import pytest
from pydantic import BaseModel
from temporalio import activity
from temporalio.testing import ActivityEnvironment

import activities.heartbeat
from activities.heartbeat import threaded_activity
from activities.registry import activity_name


class Slow(BaseModel):
    seconds: float


class Steps:
    def __init__(self) -> None:
        self.threads: list[str] = []

    @threaded_activity("slow_step")
    def slow_step(self, inp: Slow) -> str:
        time.sleep(inp.seconds)
        # The activity's context reaches the thread.
        return f"{activity.info().activity_type} after {inp.seconds}"


async def test_a_blocking_step_heartbeats_while_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(activities.heartbeat, "HEARTBEAT_EVERY_SEC", 0.01)
    beats: list[object] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    result = await env.run(Steps().slow_step, Slow(seconds=0.2))
    assert result.endswith("after 0.2") and len(beats) >= 5


def test_the_activity_keeps_its_name_and_input_type() -> None:
    definition = Steps.slow_step.__temporal_activity_definition  # type: ignore[attr-defined]
    assert activity_name(Steps.slow_step) == "slow_step"
    assert definition.is_async and definition.arg_types == [Slow] and definition.ret_type is str
