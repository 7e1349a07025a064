"""OutputWorkflow and the request's output pipeline on the Temporal dev server, with DBS
and Rucio faked (tests/workflows/fake_outputs.py)."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.workflows.harness import fake_world, finish, keep_history, start, state_of, until
from wms2.messages import Activity, RequestResult, RestartRequest
from wms2.models import CleanupPolicy, OutputStatus, RequestStatus
from wms2.outputs.messages import (
    InvalidateSignal,
    OutputConfig,
    OutputInput,
    OutputResult,
    OutputState,
    WorkUnitBatch,
    WorkUnitFile,
    output_workflow_id,
)
from workflows.output import OutputWorkflow

S, Out = RequestStatus, OutputStatus
AOD, MINI = "/A/Era-Proc-v1/AODSIM", "/A/Era-Proc-v1/MINIAODSIM"
WALK = [
    Activity.REGISTER_OUTPUT,
    Activity.PROTECT_OUTPUT,
    Activity.REQUEST_TRANSFERS,
    Activity.POLL_TRANSFERS,
    Activity.RELEASE_SOURCE,
    Activity.ANNOUNCE_OUTPUT,
]


async def output_state(h: WorkflowHandle) -> OutputState:
    for attempt in range(5):
        try:
            return await asyncio.wait_for(h.query(OutputWorkflow.status), 5)
        except TimeoutError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def unit_file(i: int) -> WorkUnitFile:
    return WorkUnitFile(
        work_unit=f"mg_{i:06d}", lfn=f"/store/x{i}.root", site="T2_X", size=10, events=5,
        adler32="00000001",
    )  # fmt: skip


async def start_output(w, env: WorkflowEnvironment, cfg: OutputConfig) -> WorkflowHandle:  # type: ignore[no-untyped-def]
    name = f"out_{uuid.uuid4().hex[:6]}"
    return await env.client.start_workflow(
        OutputWorkflow.run,
        OutputInput(request_name=name, dataset=AOD, index=1, config=cfg),
        id=output_workflow_id(name, 1),
        task_queue=w.task_queue,
    )


async def one_unit_through(w, env: WorkflowEnvironment, cfg: OutputConfig):  # type: ignore[no-untyped-def]
    """One work unit signalled and the workflow closed: its handle, result and the
    (skipped) seconds it took."""
    h = await start_output(w, env, cfg)
    await h.signal(OutputWorkflow.add_work_units, WorkUnitBatch(units=[unit_file(0)]))
    await h.signal(OutputWorkflow.close)
    result = await finish(h)
    # Measured on the workflow's own history: once nothing is left to run, the server's
    # clock may skip far ahead before the client reads it.
    events = (await h.fetch_history()).events
    began, ended = events[0].event_time.ToDatetime(), events[-1].event_time.ToDatetime()
    return h, result, (ended - began).total_seconds()


async def test_request_completes_only_with_every_output_announced(
    env: WorkflowEnvironment,
) -> None:
    async with fake_world(env) as w:
        w.script("req_out").datasets = [AOD, MINI]
        w.data.outage_calls = 2  # DBS answers 503 twice: retried, not failed
        h = await start(w, env, "req_out")
        result = await finish(h)
        s = await state_of(h)
        assert result.status is S.COMPLETED
        assert s.outputs_by_state == {"announced": 8}  # 4 work units x 2 datasets
        assert "8 outputs announced" in s.transitions[-1].reason
        assert s.output_workflows == {
            AOD: output_workflow_id("req_out", 1),
            MINI: output_workflow_id("req_out", 2),
        }
        for i in range(4):
            unit = f"mg_{i:06d}"
            for dataset in (AOD, MINI):
                walked = [a for a, d, u in w.data.calls if u == unit and d == dataset]
                # A registration that met the 503s shows up more than once: it was retried.
                collapsed = [a for k, a in enumerate(walked) if k == 0 or a != walked[k - 1]]
                assert collapsed == [a.value for a in WALK]
        assert w.data.calls_of(Activity.REGISTER_OUTPUT) == 8 + 2
        assert w.data.calls_of(Activity.FAIL_OUTPUT) == 0
        child = env.client.get_workflow_handle(
            output_workflow_id("req_out", 2), result_type=OutputResult
        )
        out = await child.result()
        assert out.counts == {"announced": 4} and out.failures == []


async def test_transfers_polled_on_a_durable_timer_until_done(
    skipping_env: WorkflowEnvironment,
) -> None:
    env = skipping_env  # 900 s of timers
    async with fake_world(env) as w:
        w.data.polls_to_ok = 3
        h, result, seconds = await one_unit_through(w, env, OutputConfig(transfer_poll_sec=300))
        assert result.counts == {"announced": 1}
        assert w.data.calls_of(Activity.POLL_TRANSFERS) == 3
        # three polls, each a 300 s durable timer after the rule request or last poll
        assert seconds >= 900
        timers = [
            e
            for e in (await h.fetch_history()).events
            if e.HasField("timer_started_event_attributes")
        ]
        assert len(timers) >= 3
        await keep_history(h, "output_polls")


async def test_stuck_rule_raises_a_visible_alert(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        w.data.stuck_units = {"mg_000001"}
        h = await start(w, env, "req_stuck_rule")
        s = await until(h, lambda s: any(a.kind == "stuck_rule" for a in s.alerts), timeout=30)
        alert = next(a for a in s.alerts if a.kind == "stuck_rule")
        assert "mg_000001" in alert.message and "STUCK" in alert.message
        s = await until(h, lambda s: s.outputs_by_state.get("announced") == 3, timeout=30)
        assert s.status is S.ACTIVE and s.outputs_by_state == {"announced": 3, "transferring": 1}
        assert not s.stuck  # a rule alert does not stop the request's own status timer
        child = env.client.get_workflow_handle(output_workflow_id("req_stuck_rule", 1))
        o = await output_state(child)
        assert o.units["mg_000001"].status is Out.TRANSFERRING and len(o.alerts) == 1
        await h.terminate("test over")
        await child.terminate("test over")


async def test_a_refused_output_fails_alone_and_a_restart_retries_it(
    env: WorkflowEnvironment,
) -> None:
    async with fake_world(env) as w:
        w.script("req_refused").datasets = [AOD, MINI]
        w.data.refused_datasets = {MINI}
        h = await start(w, env, "req_refused")
        s = await until(h, lambda s: s.status is S.PARTIAL, timeout=30)
        reason = s.transitions[-1].reason
        assert "4 output(s) failed" in reason and MINI in reason and "HTTP 400" in reason
        assert "restart retries them" in reason
        assert s.outputs[AOD].counts == {"announced": 4}
        assert s.outputs[MINI].counts == {"failed": 4}
        assert w.data.calls_of(Activity.FAIL_OUTPUT) == 4
        # the refused dataset never went further than the refused step
        assert not [c for c in w.data.calls if c[1] == MINI and c[0] == "protect_output_source"]

        w.data.refused_datasets = set()  # DBS fixed: the operator restarts the request
        await h.signal("restart", RestartRequest(reason="dbs fixed"))
        result = await finish(h)
        s = await state_of(h)
        assert result.status is S.COMPLETED, result.reason
        assert s.outputs_by_state == {"announced": 8}
        assert [t.to_status.value for t in s.transitions[-3:]] == ["partial", "active", "completed"]
        assert [r.datasets for r in w.data.retries] == [{2: MINI}]
        assert w.data.calls_of(Activity.REGISTER_OUTPUT) == 4 + 4 + 4  # AOD, refused, retried
        assert w.submissions["req_refused"] == [1]  # no DAG was resubmitted


async def test_duplicate_work_unit_signal_is_ignored(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        h = await start_output(w, env, OutputConfig(transfer_poll_sec=1))
        batch = WorkUnitBatch(units=[unit_file(0), unit_file(1)])
        await h.signal(OutputWorkflow.add_work_units, batch)
        await h.signal(OutputWorkflow.add_work_units, batch)
        await h.signal(OutputWorkflow.add_work_units, WorkUnitBatch(units=[unit_file(1)]))
        await h.signal(OutputWorkflow.close)
        result = await finish(h)
        assert result.counts == {"announced": 2}
        assert w.data.calls_of(Activity.REGISTER_OUTPUT) == 2
        assert (await output_state(h)).duplicates_ignored == 3


async def test_units_survive_continue_as_new_compacted(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        cfg = OutputConfig(
            transfer_poll_sec=1, continue_as_new_after_events=30, keep_unit_details=2
        )
        h = await start_output(w, env, cfg)
        for i in range(6):
            await h.signal(OutputWorkflow.add_work_units, WorkUnitBatch(units=[unit_file(i)]))
        o = await until_output(h, lambda o: o.counts() == {"announced": 6})
        assert len(o.finished_units) >= 4 and len(o.units) <= 2  # compacted, still counted
        await h.signal(OutputWorkflow.add_work_units, WorkUnitBatch(units=[unit_file(0)]))
        await h.signal(OutputWorkflow.close)
        result = await finish(h)
        assert result.counts == {"announced": 6}
        assert w.data.calls_of(Activity.REGISTER_OUTPUT) == 6
        assert w.data.calls_of(Activity.ANNOUNCE_OUTPUT) == 6
        assert (await output_state(h)).duplicates_ignored == 1  # a compacted unit too
        first = env.client.get_workflow_handle(h.id, run_id=h.first_execution_run_id)
        first_run = (await first.fetch_history()).events
        assert first_run[-1].HasField("workflow_execution_continued_as_new_event_attributes")


async def test_invalidate_signal_undoes_every_unit(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        h = await start_output(w, env, OutputConfig(transfer_poll_sec=1))
        await h.signal(OutputWorkflow.add_work_units, WorkUnitBatch(units=[unit_file(0)]))
        o = await until_output(h, lambda o: o.counts() == {"announced": 1})
        announced = o.units["mg_000000"]
        await h.signal(OutputWorkflow.invalidate, InvalidateSignal(reason="bad conditions"))
        result = await finish(h)
        assert result.invalidated and result.counts == {"invalidated": 1}
        # announced with transfers: transfer rules deleted (source already released), DBS
        assert w.data.undone == [
            ("mg_000000", "delete_transfer_rule", announced.transfer_rule_ids[0]),
            ("mg_000000", "invalidate_dbs", "/store/x0.root"),
        ]


async def until_output(h: WorkflowHandle, predicate, timeout: float = 20) -> OutputState:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        o = await output_state(h)
        if predicate(o):
            return o
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{h.id}: {o.counts()}")
        await asyncio.sleep(0.05)


async def catastrophic(env: WorkflowEnvironment, name: str, policy: CleanupPolicy):  # type: ignore[no-untyped-def]
    async with fake_world(env) as w:
        w.script(name).hold_at = 2  # two work units done, then the schedd is lost
        h = await start(w, env, name)
        await until(h, lambda s: s.outputs_by_state.get("announced") == 2, timeout=30)
        await h.signal(
            "restart",
            RestartRequest(catastrophic=True, cleanup_policy=policy, reason="schedd lost"),
        )
        old = await finish(h)
        new = env.client.get_workflow_handle(
            f"request-{old.superseded_by_request}", result_type=RequestResult
        )
        new_result = await finish(new)
        return w, old, new_result, await state_of(new)


async def test_catastrophic_restart_immediate_cleanup_invalidates_the_old_outputs(
    env: WorkflowEnvironment,
) -> None:
    w, old, new, s = await catastrophic(env, "req_cat_v1_x", CleanupPolicy.IMMEDIATE_CLEANUP)
    assert old.status is S.FAILED and new.status is S.COMPLETED
    assert [c.request_name for c in w.data.cleanups] == ["req_cat_v1_x"]
    assert "outputs of req_cat_v1_x invalidated (immediate_cleanup)" in s.transitions[-1].reason
    assert "superseded by" in w.data.cleanups[0].reason


async def test_catastrophic_restart_keep_until_replaced_keeps_them(
    env: WorkflowEnvironment,
) -> None:
    w, old, new, s = await catastrophic(env, "req_keep_v1_x", CleanupPolicy.KEEP_UNTIL_REPLACED)
    assert old.status is S.FAILED and new.status is S.COMPLETED
    assert w.data.cleanups == []
    assert "outputs of req_keep_v1_x kept (keep_until_replaced)" in s.transitions[-1].reason
    # the old version's two outputs went on to ANNOUNCED and stay valid
    old_out = env.client.get_workflow_handle(
        output_workflow_id("req_keep_v1_x", 1), result_type=OutputResult
    )
    assert (await old_out.result()).counts == {"announced": 2}
    assert w.data.calls_of(Activity.INVALIDATE_OUTPUT) == 0


async def test_no_destination_moves_on_without_waiting_for_the_timer(
    env: WorkflowEnvironment,
) -> None:
    async with fake_world(env) as w:
        w.data.destinations = []
        _, result, seconds = await one_unit_through(w, env, OutputConfig(transfer_poll_sec=3600))
        assert result.counts == {"announced": 1}
        assert w.data.calls_of(Activity.POLL_TRANSFERS) == 1
        assert seconds < 3600
        # the source rule is the output's home: not released
        assert not w.data.rules[w.data.records[(AOD, "mg_000000")].source_rule_id]["deleted"]
