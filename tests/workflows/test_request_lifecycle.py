"""RequestWorkflow paths on the Temporal dev server, with the outside world faked."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.workflows.harness import (
    FAST,
    fake_world,
    finish,
    keep_history,
    start,
    state_of,
    statuses,
    until,
    wait_for_status,
)
from wms2.messages import AbortSignal, PriorityRequest, RestartRequest, StopSignal
from wms2.models import CleanupPolicy, ProductionStep, RequestStatus
from workflows.request import RequestWorkflow

S = RequestStatus


async def test_pilot_path_to_completed(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        h = await start(w, env, "req_pilot_v1_x")
        result = await finish(h)
        s = await state_of(h)
        assert result.status is S.COMPLETED and result.work_units_done == 4
        assert statuses(s) == [
            "submitted",
            "queued",
            "pilot_running",
            "planning",
            "active",
            "completed",
        ]
        assert s.pilot_metrics is not None and s.progress.work_units_done == 4
        assert s.completed_work_units == [f"mg_{i:06d}" for i in range(4)]
        assert [t[1] for t in w.transitions] == [
            "queued",
            "pilot_running",
            "planning",
            "active",
            "completed",
        ]
        assert w.calls_of("submit_pilot") == 1 and w.submissions["req_pilot_v1_x"] == [1]
        desc = await h.describe()
        attrs = {k.name: v for k, v in desc.typed_search_attributes}  # type: ignore[attr-defined]
        assert attrs["WMS2Status"] == "completed" and attrs["WMS2Campaign"] == "Run3Test"
        assert attrs["WMS2Priority"] == 100000 and attrs["WMS2Stuck"] is False
        await keep_history(h, "pilot_path")


async def test_urgent_skips_the_pilot(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        h = await start(w, env, "req_urgent", urgent=True)
        assert (await finish(h)).status is S.COMPLETED
        assert statuses(await state_of(h)) == [
            "submitted",
            "queued",
            "planning",
            "active",
            "completed",
        ]
        assert w.calls_of("submit_pilot") == 0


async def test_import_error_fails_with_the_reason(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        w.script("req_bad").import_error = "SplittingAlgo 'Harvest' is not supported"
        h = await start(w, env, "req_bad")
        result = await finish(h)
        assert result.status is S.FAILED
        assert result.reason == "import failed: SplittingAlgo 'Harvest' is not supported"
        assert w.calls_of("import_request") == 1  # non-retryable: tried once
        assert [(n, to) for n, to, _ in w.transitions] == [("req_bad", "failed")]


async def test_a_run_refused_as_a_duplicate_leaves_the_records_alone(
    env: WorkflowEnvironment,
) -> None:
    async with fake_world(env) as w:
        sc = w.script("req_ran")
        sc.import_error = "request 'req_ran' already ran (run 1 ended completed): ..."
        sc.import_error_type = "RequestAlreadyRan"
        result = await finish(await start(w, env, "req_ran"))
        assert result.status is S.FAILED and "already ran" in (result.reason or "")
        assert w.transitions == []  # the earlier run's record says what that run did


async def test_stop_rescue_resume(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        w.script("req_stop").hold_at = 2
        h = await start(w, env, "req_stop", urgent=True)
        await wait_for_status(h, S.ACTIVE)
        while (await state_of(h)).progress.work_units_done < 2:
            pass
        await h.signal(RequestWorkflow.stop, StopSignal(reason="schedd maintenance"))
        result = await finish(h)
        s = await state_of(h)
        assert result.status is S.COMPLETED
        assert statuses(s) == [
            "submitted",
            "queued",
            "planning",
            "active",
            "stopping",
            "resubmitting",
            "queued",
            "active",
            "completed",
        ]
        assert s.transitions[4].reason == "schedd maintenance"
        assert w.submissions["req_stop"] == [1, 2]  # the rescue DAG, no replanning
        assert w.calls_of("plan_dag") == 1 and w.removals["req_stop"] == 1
        assert s.completed_work_units == [f"mg_{i:06d}" for i in range(4)]  # each exactly once
        assert (
            s.priority == 100000 and w.updates[-1].priority is None
        )  # an operator stop demotes nothing
        await keep_history(h, "stop_resume")


async def test_partial_production_two_steps(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        sc = w.script("req_steps")
        sc.production_steps = [
            ProductionStep(fraction=0.25, priority=80000),
            ProductionStep(fraction=0.5, priority=50000),
        ]
        h = await start(w, env, "req_steps")
        result = await finish(h)
        s = await state_of(h)
        assert result.status is S.COMPLETED
        # Each step demotes the running DAG in place: no stop, no resubmission.
        assert "stopping" not in statuses(s) and statuses(s)[-1] == "completed"
        assert [u.priority for u in w.updates] == [80000, 50000]  # demoted in order
        assert [len(u.production_steps) for u in w.updates] == [1, 0]  # steps consumed
        assert w.reprioritized == [("req_steps", 80000), ("req_steps", 50000)]
        assert s.priority == 50000 and s.production_steps == []
        assert w.submissions["req_steps"] == [1] and w.calls_of("submit_pilot") == 1
        assert s.priority_changes[0].by == "partial production: 1/4 work units reached 25%"
        await keep_history(h, "partial_production_in_place")


async def test_priority_change_reaches_the_running_dag(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        sc = w.script("req_prio")
        sc.work_units, sc.pause_at = 4, 1
        h = await start(w, env, "req_prio", urgent=True)
        await until(h, lambda s: s.status is S.ACTIVE)
        changed = await h.execute_update(
            RequestWorkflow.set_priority, PriorityRequest(priority=123456, by="alice")
        )
        assert (changed.previous, changed.priority) == (100000, 123456)
        assert w.reprioritized == [("req_prio", 123456)]
        sc.pause_at = None
        assert (await finish(h)).status is S.COMPLETED


async def test_no_usable_site_waits_with_an_alert(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        w.script("req_nosite").no_site_plans = 2
        fast = FAST.model_copy(update={"site_recheck_sec": 0.2})
        h = await start(w, env, "req_nosite", config=fast, urgent=True)
        s = await until(h, lambda s: any(a.kind == "no_usable_site" for a in s.alerts))
        assert s.status is S.PLANNING and "T2_CH_CERN (banned)" in s.alerts[-1].message
        assert (await finish(h)).status is S.COMPLETED  # planned once a site came back
        s = await state_of(h)
        assert w.calls_of("plan_dag", "req_nosite") == 3
        assert [a.kind for a in s.alerts].count("no_usable_site") == 1  # alerted once
        assert not s.stuck


async def test_small_failure_rescues_automatically(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        sc = w.script("req_rescue")
        sc.work_units, sc.nodes_per_unit, sc.fail_nodes = 10, 30, 1  # 1 of 300 nodes: < 5%
        h = await start(w, env, "req_rescue", urgent=True)
        assert (await finish(h)).status is S.COMPLETED
        assert w.submissions["req_rescue"] == [1, 2]
        assert (await state_of(h)).auto_rescues == 1


async def test_small_failure_rescues_automatically_with_its_failure_report(
    env: WorkflowEnvironment,
) -> None:
    async with fake_world(env) as w:
        sc = w.script("req_report")
        sc.work_units, sc.nodes_per_unit, sc.fail_nodes = 10, 30, 1  # 1 of 300 nodes: < 5%
        h = await start(w, env, "req_report", urgent=True)
        assert (await finish(h)).status is S.COMPLETED
        s = await state_of(h)
        assert w.calls_of("failure_report", "req_report") == 1  # at the failed end only
        assert s.failure_report is not None
        assert s.failure_report.decision == "automatic rescue 1 of 3"
        assert s.failure_summary == (
            "1 node(s) failed, 0 held, 0 recovered (4 failed tries): transient exit 1 x4 "
            "-> automatic rescue 1 of 3"
        )
        assert await h.query(RequestWorkflow.failure_report) == s.failure_report


async def test_a_node_failing_the_same_way_every_round_goes_to_review_not_rescue(
    env: WorkflowEnvironment,
) -> None:
    async with fake_world(env) as w:
        sc = w.script("req_hopeless")
        sc.work_units, sc.nodes_per_unit, sc.fail_nodes = 10, 30, 1  # < 5%: would rescue
        sc.hopeless = ["mg_000003/proc_000007"]
        h = await start(w, env, "req_hopeless", urgent=True)
        s = await wait_for_status(h, S.PARTIAL)
        assert w.submissions["req_hopeless"] == [1] and s.auto_rescues == 0
        assert s.transitions[-1].reason == (
            "1 of 300 nodes failed, exit code 1; 1 node(s) failed the same way in 2 rounds "
            "(mg_000003/proc_000007): no more rescues: review the failure report, then "
            "restart or abort"
        )
        assert s.failure_report is not None
        assert s.failure_report.decision.startswith("review (PARTIAL): 1 node(s) failed")
        assert s.alerts[-1].kind == "failures_need_review"
        assert s.alerts[-1].message == s.failure_summary
        await h.signal(RequestWorkflow.abort, AbortSignal(reason="hopeless"))


async def test_large_failure_fails(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        sc = w.script("req_broken")
        sc.work_units, sc.nodes_per_unit, sc.fail_nodes = 2, 5, 4  # 4 of 10: > 30%
        h = await start(w, env, "req_broken", urgent=True)
        result = await finish(h)
        assert result.status is S.FAILED and "4 of 10 nodes failed" in result.reason


async def test_restart_after_partial(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        sc = w.script("req_partial")
        sc.work_units, sc.nodes_per_unit, sc.fail_nodes = 4, 5, 2  # 2 of 20 = 10%
        h = await start(w, env, "req_partial", urgent=True)
        s = await wait_for_status(h, S.PARTIAL)
        assert "waiting for an operator" in s.transitions[-1].reason
        await h.signal(RequestWorkflow.restart, RestartRequest(reason="fixed the site"))
        assert (await finish(h)).status is S.COMPLETED
        assert statuses(await state_of(h))[-5:] == [
            "partial",
            "resubmitting",
            "queued",
            "active",
            "completed",
        ]
        assert w.submissions["req_partial"] == [1, 2]


@pytest.mark.parametrize(
    "policy", [CleanupPolicy.KEEP_UNTIL_REPLACED, CleanupPolicy.IMMEDIATE_CLEANUP]
)
async def test_catastrophic_restart_creates_the_linked_next_version(
    env: WorkflowEnvironment, policy: CleanupPolicy
) -> None:
    async with fake_world(env) as w:
        name = f"pdmv_task_X__v1_T_{policy.value}"
        w.script(name).monitor_forever = True
        h = await start(w, env, name, urgent=True)
        await wait_for_status(h, S.ACTIVE)
        await h.signal(
            RequestWorkflow.restart,
            RestartRequest(catastrophic=True, cleanup_policy=policy, reason="schedd lost"),
        )
        result = await finish(h)
        new_name = f"pdmv_task_X__v2_T_{policy.value}"
        assert result.status is S.FAILED and result.superseded_by_request == new_name
        assert "superseded by" in result.reason and policy.value in result.reason
        child = env.client.get_workflow_handle_for(RequestWorkflow.run, f"request-{new_name}")
        assert (await finish(child)).status is S.COMPLETED
        cs = await child.query(RequestWorkflow.status)
        assert cs.previous_version_request == name
        assert (await child.describe()).parent_id == f"request-{name}"  # linked in the Web UI too
        # The new version has a summary and details on its page, as a submitted request has.
        child_desc = await child.describe()
        assert (await child_desc.static_summary() or "").endswith("(next version)")
        assert f"next processing version of {name}" in (await child_desc.static_details() or "")


async def test_out_of_place_signals_are_recorded_not_fatal(env: WorkflowEnvironment) -> None:
    from temporalio.client import WorkflowUpdateFailedError

    async with fake_world(env) as w:
        w.script("req_odd").monitor_forever = True
        w.script("req_odd").removal_needs = 99  # DAGMan never exits: STOPPING stays
        h = await start(w, env, "req_odd", urgent=True)
        await wait_for_status(h, S.ACTIVE)
        await h.signal(RequestWorkflow.restart, RestartRequest())  # only PARTIAL restarts
        with pytest.raises(WorkflowUpdateFailedError):
            await h.execute_update(RequestWorkflow.set_priority, -5)
        changed = await h.execute_update(RequestWorkflow.set_priority, 7)
        assert (changed.priority, changed.previous) == (7, 100000)
        s = await until(h, lambda s: s.rejected_signals)
        assert any("restart while active" in r for r in s.rejected_signals)
        assert s.priority == 7 and w.updates[-1].priority == 7
        await h.signal(RequestWorkflow.stop, StopSignal(reason="done testing"))
        await wait_for_status(h, S.STOPPING)
        await h.signal(RequestWorkflow.stop, StopSignal(reason="again"))
        s = await until(h, lambda s: len(s.rejected_signals) == 2)
        assert any("stop (again) while stopping" in r for r in s.rejected_signals)
        await h.signal(RequestWorkflow.abort, AbortSignal(reason="enough"))
        assert (await finish(h)).status is S.ABORTED


async def test_continue_as_new_keeps_state(env: WorkflowEnvironment) -> None:
    from tests.workflows.harness import FAST

    async with fake_world(env) as w:
        w.script("req_can").work_units = 6
        cfg = FAST.model_copy(update={"continue_as_new_after_events": 60})
        h = await start(w, env, "req_can", config=cfg, urgent=True)
        result = await finish(h)
        assert result.status is S.COMPLETED and result.work_units_done == 6
        first_run = env.client.get_workflow_handle(h.id, run_id=h.result_run_id)
        history = await first_run.fetch_history()
        assert history.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
        s = await state_of(h)
        assert statuses(s)[0] == "submitted"  # the whole story survived
        assert s.completed_work_units == [f"mg_{i:06d}" for i in range(6)]
        assert w.submissions["req_can"] == [1]
