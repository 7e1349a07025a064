"""Input staged from tape, through the request workflow (fake activities): a slow or
stuck rule alerts and the request keeps waiting; an abort ends the wait."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from tests.workflows.harness import FAST, fake_world, finish, keep_history, start, until
from wms2.messages import AbortSignal
from wms2.models import RequestStatus as S
from workflows.request import RequestWorkflow

# PLANNING times out after 1 s: staging outlasts it and alerts, but does not fail.
SHORT = FAST.model_copy(update={"stuck_timeouts": {**FAST.stuck_timeouts, S.PLANNING: 1}})


async def test_staging_waits_through_a_stuck_rule_then_plans(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        polls = ["REPLICATING"] * 3 + ["STUCK"] * 8 + ["REPLICATING"] * 3 + ["OK"]
        w.script("tape_slow").tape_rule_states = polls
        h = await start(w, env, "tape_slow", urgent=True, config=SHORT)
        result = await finish(h)
        assert result.status is S.COMPLETED, result.reason
        s = await h.query(RequestWorkflow.status)
        kinds = [a.kind for a in s.alerts]
        assert kinds.count("staging_stuck") == 1  # once, when the rule turned STUCK
        assert kinds.count("slow_staging") == 1  # the PLANNING timeout: alert, no failure
        assert s.staging is not None and s.staging.state == "OK"
        assert [t.to_status.value for t in s.transitions][2:5] == ["planning", "planning", "active"]
        assert w.calls_of("stage_input") == 1
        await keep_history(h, "staging")


async def test_an_abort_ends_the_staging_wait(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        w.script("tape_abort").tape_rule_states = ["REPLICATING"]
        h = await start(w, env, "tape_abort", urgent=True)
        s = await until(h, lambda s: s.staging is not None and s.staging.rule_id is not None)
        assert s.status is S.PLANNING and s.staging.files == 12
        await h.signal(RequestWorkflow.abort, AbortSignal(reason="wrong dataset"))
        result = await finish(h)
        assert result.status is S.ABORTED
