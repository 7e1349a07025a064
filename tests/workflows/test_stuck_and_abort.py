"""Per-status stuck timers with their actions (spec DD-10), and abort in every status."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.workflows.harness import (
    FAST,
    fake_world,
    finish,
    start,
    state_of,
    until,
    wait_for_status,
)
from wms2.lifecycle.decisions import STUCK_ACTIONS
from wms2.messages import AbortSignal, LifecycleConfig, StopSignal
from wms2.models import RequestStatus
from workflows.request import RequestWorkflow

S = RequestStatus


def with_timeout(status: RequestStatus, seconds: int) -> LifecycleConfig:
    return FAST.model_copy(update={"stuck_timeouts": {**FAST.stuck_timeouts, status: seconds}})


async def test_stuck_in_submitted_fails(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        w.script("st_sub").hang = "import_request"
        h = await start(w, env, "st_sub", config=with_timeout(S.SUBMITTED, 1))
        result = await finish(h)
        assert result.status is S.FAILED and result.reason.startswith("import failed")


async def test_stuck_in_planning_fails(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        w.script("st_plan").hang = "plan_dag"
        h = await start(w, env, "st_plan", urgent=True, config=with_timeout(S.PLANNING, 1))
        result = await finish(h)
        assert result.status is S.FAILED and result.reason.startswith("planning failed")


async def test_stuck_in_resubmitting_fails(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        sc = w.script("st_resub")
        sc.hold_at, sc.hang = 1, "update_request"
        h = await start(w, env, "st_resub", urgent=True, config=with_timeout(S.RESUBMITTING, 1))
        await until(h, lambda s: s.progress.work_units_done >= 1)
        await h.signal(RequestWorkflow.stop, StopSignal())
        result = await finish(h)
        assert result.status is S.FAILED and result.reason.startswith("stuck in resubmitting")


async def test_stuck_in_queue_alerts_and_keeps_waiting(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        w.script("st_blocker").monitor_forever = True
        cfg = with_timeout(S.QUEUED, 1).model_copy(update={"max_active_dags": 1})
        blocker = await start(w, env, "st_blocker", urgent=True, config=cfg)
        await wait_for_status(blocker, S.ACTIVE)
        h = await start(w, env, "st_queued", urgent=True, config=cfg)
        await wait_for_status(h, S.QUEUED)
        s = await until(h, lambda s: s.stuck)
        assert s.status is S.QUEUED and s.alerts[-1].kind == "stuck_in_queue"
        desc = await h.describe()
        assert {k.name: v for k, v in desc.typed_search_attributes}["WMS2Stuck"] is True  # type: ignore[attr-defined]
        await blocker.signal(RequestWorkflow.abort, AbortSignal())
        assert (await finish(h)).status is S.COMPLETED  # admitted once the slot freed


async def test_stuck_pilot_alerts_while_it_exists(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        w.script("st_pilot").hang = "await_pilot"
        h = await start(w, env, "st_pilot", config=with_timeout(S.PILOT_RUNNING, 1))
        s = await until(h, lambda s: s.stuck)
        assert s.status is S.PILOT_RUNNING and s.alerts[-1].kind == "slow_pilot"
        await h.signal(RequestWorkflow.abort, AbortSignal())
        assert (await finish(h)).status is S.ABORTED


async def test_stuck_pilot_that_vanished_fails(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        sc = w.script("st_gone")
        sc.hang, sc.pilot_missing = "await_pilot", True
        h = await start(w, env, "st_gone", config=with_timeout(S.PILOT_RUNNING, 1))
        result = await finish(h)
        assert (
            result.status is S.FAILED and result.reason == "pilot job vanished without completing"
        )


@pytest.mark.parametrize(("reachable", "kind"), [(True, "slow_dag"), (False, "schedd_unreachable")])
async def test_stuck_active_probes_the_schedd(
    env: WorkflowEnvironment, reachable: bool, kind: str
) -> None:
    async with fake_world(env) as w:
        sc = w.script(f"st_active_{kind}")
        sc.monitor_forever, sc.backend_reachable = True, reachable
        h = await start(w, env, f"st_active_{kind}", urgent=True, config=with_timeout(S.ACTIVE, 1))
        s = await until(h, lambda s: s.stuck)
        assert s.status is S.ACTIVE and s.alerts[-1].kind == kind
        await h.signal(RequestWorkflow.abort, AbortSignal())
        assert (await finish(h)).status is S.ABORTED


async def test_stuck_stopping_retries_the_removal(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        sc = w.script("st_stop")
        sc.hold_at, sc.removal_needs = 1, 2
        h = await start(w, env, "st_stop", urgent=True, config=with_timeout(S.STOPPING, 1))
        await until(h, lambda s: s.progress.work_units_done >= 1)
        await h.signal(RequestWorkflow.stop, StopSignal())
        assert (await finish(h)).status is S.COMPLETED
        s = await state_of(h)
        assert any(a.kind == "stuck_stopping" for a in s.alerts)
        assert w.removals["st_stop"] == 2


def test_every_timed_status_has_an_action() -> None:
    assert set(STUCK_ACTIONS) == set(FAST.stuck_timeouts)


ABORT_SETUPS = {
    S.SUBMITTED: lambda sc: setattr(sc, "hang", "import_request"),
    S.PILOT_RUNNING: lambda sc: setattr(sc, "hang", "await_pilot"),
    S.PLANNING: lambda sc: setattr(sc, "hang", "plan_dag"),
    S.ACTIVE: lambda sc: setattr(sc, "monitor_forever", True),
}


@pytest.mark.parametrize(
    "status",
    [
        S.SUBMITTED,
        S.QUEUED,
        S.PILOT_RUNNING,
        S.PLANNING,
        S.ACTIVE,
        S.STOPPING,
        S.RESUBMITTING,
        S.PARTIAL,
    ],
)
async def test_abort_in_every_non_terminal_status(
    env: WorkflowEnvironment, status: RequestStatus
) -> None:
    async with fake_world(env) as w:
        name = f"ab_{status.value}"
        sc = w.script(name)
        cfg = FAST
        urgent = status is not S.PILOT_RUNNING
        if status in ABORT_SETUPS:
            ABORT_SETUPS[status](sc)
        elif status is S.QUEUED:
            w.script("ab_blocker").monitor_forever = True
            cfg = FAST.model_copy(update={"max_active_dags": 1})
            await wait_for_status(
                await start(w, env, "ab_blocker", urgent=True, config=cfg), S.ACTIVE
            )
        elif status in (S.STOPPING, S.RESUBMITTING):
            sc.hold_at = 1
            if status is S.STOPPING:
                sc.removal_needs = 99
            else:
                sc.hang = "update_request"
        elif status is S.PARTIAL:
            sc.work_units, sc.nodes_per_unit, sc.fail_nodes = 4, 5, 2
        h = await start(w, env, name, urgent=urgent, config=cfg)
        if status in (S.STOPPING, S.RESUBMITTING):
            await until(h, lambda s: s.progress.work_units_done >= 1)
            await h.signal(RequestWorkflow.stop, StopSignal())
        await wait_for_status(h, status)
        await h.signal(RequestWorkflow.abort, AbortSignal(reason=f"abort in {status.value}"))
        # Wait without time skipping (result() would skip time and could fire a status
        # timer before the abort signal is handled).
        await until(h, lambda s: s.status is S.ABORTED)
        result = await finish(h)
        assert result.status is S.ABORTED
        s = await state_of(h)
        assert s.transitions[-1].reason == f"abort in {status.value}"
        assert w.transitions[-1][1] == "aborted" or status is S.SUBMITTED
        if status in (S.ACTIVE, S.STOPPING):
            assert w.removals[name] >= 1  # the DAG was removed
        desc = await h.describe()
        assert {k.name: v for k, v in desc.typed_search_attributes}["WMS2Status"] == "aborted"  # type: ignore[attr-defined]
