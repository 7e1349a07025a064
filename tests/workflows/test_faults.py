"""The request workflow under faults around it: an output workflow that ended, a Temporal
cancellation. It never fails on an unhandled error and always frees its admission slot."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import CancelledError
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
from wms2.messages import (
    ADMISSION_WORKFLOW_ID,
    AbortSignal,
    Activity,
    AdmissionInput,
    RequestState,
    RestartRequest,
    StopSignal,
)
from wms2.models import PRIORITY_MAX, RequestStatus
from wms2.outputs.messages import output_workflow_id
from workflows.admission import AdmissionWorkflow
from workflows.request import RequestWorkflow

S = RequestStatus


async def slot_released(env: WorkflowEnvironment, request: str) -> bool:
    """The admission workflow no longer counts `request` as active (signals are async)."""
    admission = env.client.get_workflow_handle(ADMISSION_WORKFLOW_ID)
    for _ in range(100):
        if request not in (await admission.query(AdmissionWorkflow.snapshot)).active:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_an_ended_output_workflow_leaves_the_request_partial_not_dead(
    env: WorkflowEnvironment,
) -> None:
    async with fake_world(env) as w:
        sc = w.script("og_gone")
        sc.pause_at = 1
        h = await start(w, env, "og_gone", urgent=True)
        await until(h, lambda s: s.progress.work_units_done >= 1 and bool(s.output_workflows))
        out = env.client.get_workflow_handle(output_workflow_id("og_gone", 1))
        await out.terminate("ended by hand")
        sc.pause_at = None  # the DAG goes on: its next units find no output workflow
        s = await wait_for_status(h, S.PARTIAL)
        assert any(a.kind == "output_workflow_gone" for a in s.alerts)
        assert "output-og_gone-1" in s.transitions[-1].reason
        assert await slot_released(env, "og_gone")
        # A restart starts the output workflow anew and hands it every unit it missed.
        await h.signal(RequestWorkflow.restart, RestartRequest(reason="output fixed"))
        result = await finish(h)
        assert result.status is S.COMPLETED, result.reason
        s = await state_of(h)
        assert s.outputs_by_state == {"announced": 4}


async def test_a_temporal_cancellation_aborts_the_request(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        w.script("cancelled").monitor_forever = True
        h = await start(w, env, "cancelled", urgent=True)
        await wait_for_status(h, S.ACTIVE)
        await h.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await asyncio.wait_for(h.result(), 30)
        assert isinstance(failure.value.cause, CancelledError)
        s = await state_of(h)
        assert s.status is S.ABORTED and "cancellation" in s.transitions[-1].reason
        assert w.removals["cancelled"] == 1  # the DAG was removed
        assert [t[1] for t in w.transitions if t[0] == "cancelled"][-1] == "aborted"
        assert await slot_released(env, "cancelled")


async def cancel_once(h: WorkflowHandle, reached: Callable[[], bool]) -> RequestState:
    """Cancel the request once `reached()` holds (an activity is in flight); its state
    after the workflow ended Canceled."""
    for _ in range(200):
        if reached():
            break
        await asyncio.sleep(0.05)
    await h.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        await asyncio.wait_for(h.result(), 30)
    assert isinstance(failure.value.cause, CancelledError)
    return await state_of(h)


async def test_a_cancellation_during_submission_aborts_and_removes_the_dag(
    env: WorkflowEnvironment,
) -> None:
    """Found by running the README's CLI lines: a cancel that reached a request while its
    DAG was being submitted ended it FAILED ("DAG submission failed: Cancelled") and left
    the DAG running. It is an abort: the DAG of its file is removed, ABORTED, Canceled."""
    async with fake_world(env) as w:
        w.script("cancel_submit").hang = Activity.SUBMIT_DAG.value
        h = await start(w, env, "cancel_submit", urgent=True)
        s = await cancel_once(h, lambda: w.calls_of(Activity.SUBMIT_DAG.value, "cancel_submit") > 0)
        assert s.status is S.ABORTED, s.transitions[-1]
        assert w.removals["cancel_submit"] == 1  # whatever DAGMan runs its DAG file


async def test_a_cancellation_while_a_transition_is_recorded_aborts(
    env: WorkflowEnvironment,
) -> None:
    """Found by running the README's CLI lines: a cancel that reached a request while it
    recorded a status change (resubmitting -> queued, right after a stop) cancelled that
    activity and ended the request FAILED ("unexpected failure in queued: Cancelled"). A
    cancellation is an abort, whichever activity it interrupts."""
    async with fake_world(env) as w:
        sc = w.script("cancel_record")
        sc.hang_transition = "active"
        h = await start(w, env, "cancel_record", urgent=True)
        s = await cancel_once(h, lambda: sc.hang == Activity.RECORD_TRANSITION.value)
        assert s.status is S.ABORTED, s.transitions[-1]
        assert w.removals["cancel_record"] == 1


async def test_a_cancellation_while_aborting_still_ends_aborted(
    env: WorkflowEnvironment,
) -> None:
    async with fake_world(env) as w:
        w.script("abort_then_cancel").monitor_forever = True
        h = await start(w, env, "abort_then_cancel", urgent=True)
        await wait_for_status(h, S.ACTIVE)
        await h.signal(RequestWorkflow.abort, AbortSignal(reason="operator"))
        await h.cancel()
        # Whichever comes first ends it ABORTED, with the DAG removed once.
        with contextlib.suppress(WorkflowFailureError):
            await asyncio.wait_for(h.result(), 30)
        s = await state_of(h)
        assert s.status is S.ABORTED and w.removals["abort_then_cancel"] == 1
        assert await slot_released(env, "abort_then_cancel")


@pytest.mark.parametrize("priority", [2**63, 2**31, -1])
async def test_an_out_of_range_priority_is_refused_and_the_request_goes_on(
    env: WorkflowEnvironment, priority: int
) -> None:
    name = f"prio_{priority & 0xFFFF}"
    async with fake_world(env) as w:
        w.script(name).pause_at = 1
        h = await start(w, env, name, urgent=True)
        await wait_for_status(h, S.ACTIVE)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await h.execute_update(RequestWorkflow.set_priority, priority)
        assert str(priority) in str(refused.value.cause)
        changed = await h.execute_update(RequestWorkflow.set_priority, PRIORITY_MAX)
        assert (changed.priority, changed.previous) == (PRIORITY_MAX, 100000)
        w.script(name).pause_at = None
        result = await finish(h)
        assert result.status is S.COMPLETED
        assert (await state_of(h)).priority == PRIORITY_MAX


async def test_signals_of_the_wrong_shape_are_listed_as_ignored(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        w.script("bad_signals").pause_at = 1
        h = await start(w, env, "bad_signals", urgent=True)
        await wait_for_status(h, S.ACTIVE)
        await h.signal("stop", "now")
        await h.signal("stop", ["a", "b"])
        await h.signal("stop", {"reson": "typo"})
        await h.signal("abort", {"reason": 42})
        await h.signal("restart", {"catastrophic": "maybe"})
        s = await until(h, lambda s: len(s.rejected_signals) >= 5)
        assert s.status is S.ACTIVE and s.stop_reason is None and s.abort_reason is None
        joined = "\n".join(s.rejected_signals)
        for fragment in ("stop", "'now'", "reson", "abort", "42", "catastrophic", "maybe"):
            assert fragment in joined, fragment
        assert all("\n" not in r for r in s.rejected_signals)  # one line each
        await h.signal("stop")  # no input: the defaults
        s = await until(h, lambda s: s.status is S.QUEUED or s.stop_reason is not None)
        assert s.stop_reason == "operator stop"
        await h.signal(RequestWorkflow.abort, AbortSignal(reason="done"))
        assert (await finish(h)).status is S.ABORTED


async def test_a_stop_racing_the_dag_end_completes_without_resubmission(
    env: WorkflowEnvironment,
) -> None:
    async with fake_world(env) as w:
        sc = w.script("race_end")
        sc.hold_at, sc.finish_during_stop = 1, True
        h = await start(w, env, "race_end", urgent=True)
        await until(h, lambda s: s.progress.work_units_done >= 1)
        await h.signal(RequestWorkflow.stop, StopSignal(reason="operator stop"))
        result = await finish(h)
        assert result.status is S.COMPLETED, result.reason
        assert w.submissions["race_end"] == [1]  # never submitted again
        s = await state_of(h)
        assert [t.to_status.value for t in s.transitions][-3:] == [
            "active",
            "stopping",
            "completed",
        ]
        assert sorted(s.completed_work_units) == [f"mg_{i:06d}" for i in range(4)]
        # `status` says what became of the stop (issue 28: it left no trace).
        assert any(
            "stop (operator stop): the DAG finished before the removal" in r
            for r in s.rejected_signals
        ), s.rejected_signals


async def test_units_without_a_usable_output_leave_the_request_partial(
    env: WorkflowEnvironment,
) -> None:
    async with fake_world(env) as w:
        sc = w.script("unreported")
        sc.unreported = {"mg_000002": "merge report mg_000002/merge_output.json is unusable"}
        sc.per_poll = 4  # every unit finishes in one poll, as the DAG ends
        h = await start(w, env, "unreported", urgent=True)
        s = await wait_for_status(h, S.PARTIAL)
        assert "mg_000002" in s.transitions[-1].reason and "unusable" in s.transitions[-1].reason
        assert any(a.kind == "work_units_unreported" for a in s.alerts)
        assert "mg_000002" not in s.completed_work_units
        # The other units were not held back.
        await until(h, lambda s: s.outputs_by_state.get("announced") == 3)
        await h.signal(RequestWorkflow.abort, AbortSignal(reason="give up"))
        assert (await finish(h)).status is S.ABORTED


async def test_a_unit_whose_step_keeps_failing_alerts_and_holds_back_no_other(
    env: WorkflowEnvironment,
) -> None:
    async with fake_world(env) as w:
        w.data.failing_units = {"mg_000001"}  # DBS answers 503 for this one, always
        cfg = FAST.model_copy(
            update={"output": FAST.output.model_copy(update={"alert_after_attempts": 2})}
        )
        h = await start(w, env, "one_failing", urgent=True, config=cfg)
        s = await until(
            h,
            lambda s: (
                s.outputs_by_state.get("announced") == 3
                and any("failed 2 times" in a.message for a in s.alerts)
            ),
            timeout=60,
        )
        assert s.status is S.ACTIVE and s.outputs_by_state["pending"] == 1
        alert = next(a for a in s.alerts if "failed 2 times" in a.message)
        assert "mg_000001" in alert.message and "register_output_in_dbs" in alert.message
        w.data.failing_units = set()  # DBS is back: the unit goes through
        assert (await finish(h)).status is S.COMPLETED


async def test_a_lost_dagman_is_resubmitted_without_using_an_automatic_rescue(
    env: WorkflowEnvironment,
) -> None:
    async with fake_world(env) as w:
        w.script("lost_dagman").lose_dagman_at = 2
        h = await start(w, env, "lost_dagman", urgent=True)
        result = await finish(h)
        assert result.status is S.COMPLETED, result.reason
        s = await state_of(h)
        assert w.submissions["lost_dagman"] == [1, 2] and s.auto_rescues == 0
        assert s.dagman_losses == 1
        lost = [a for a in s.alerts if a.kind == "dagman_lost"]
        assert len(lost) == 1 and "orphaned" in lost[0].message
        # Every unit reported once: none of the two done before the loss came again.
        assert sorted(s.completed_work_units) == [f"mg_{i:06d}" for i in range(4)]
        assert s.outputs_by_state == {"announced": 4}


async def test_admission_frees_the_slot_of_a_request_whose_run_ended(
    env: WorkflowEnvironment,
) -> None:
    """A holder terminated by hand never releases its slot: admission finds it ended."""
    async with fake_world(env) as w:
        await env.client.start_workflow(
            AdmissionWorkflow.run,
            AdmissionInput(limit=1, holder_check_sec=1),
            id=ADMISSION_WORKFLOW_ID,
            task_queue=w.task_queue,
        )
        w.script("holder").monitor_forever = True
        holder = await start(w, env, "holder", urgent=True)
        await wait_for_status(holder, S.ACTIVE)
        waiter = await start(w, env, "waiter", urgent=True)
        await wait_for_status(waiter, S.QUEUED)
        await holder.terminate("ended by hand")
        assert (await finish(waiter)).status is S.COMPLETED
        assert await slot_released(env, "holder")


async def test_an_abort_waits_for_the_dag_to_end_so_its_record_is_final(
    env: WorkflowEnvironment,
) -> None:
    async with fake_world(env) as w:
        w.script("abort_rec").monitor_forever = True
        h = await start(w, env, "abort_rec", urgent=True)
        await wait_for_status(h, S.ACTIVE)
        await h.signal(RequestWorkflow.abort, AbortSignal(reason="operator"))
        assert (await finish(h)).status is S.ABORTED
        assert w.calls_of("remove_dag", "abort_rec") == 1
        assert w.calls_of("await_dag_exit", "abort_rec") == 1
