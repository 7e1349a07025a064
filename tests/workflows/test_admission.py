"""AdmissionWorkflow: priority order, the limit, re-ordering and continue-as-new."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.harness import (
    FAST,
    fake_world,
    finish,
    keep_history,
    start,
    state_of,
    wait_for_status,
)
from wms2.messages import (
    ADMISSION_WORKFLOW_ID,
    AbortSignal,
    AdmissionEntry,
    AdmissionInput,
    AdmissionState,
)
from wms2.models import RequestStatus
from workflows.admission import AdmissionWorkflow
from workflows.request import RequestWorkflow

S = RequestStatus


async def test_limit_one_priorities_and_a_change_while_queued(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        cfg = FAST.model_copy(update={"max_active_dags": 1})
        w.script("adm_blocker").monitor_forever = True
        blocker = await start(w, env, "adm_blocker", urgent=True, config=cfg)
        await wait_for_status(blocker, S.ACTIVE)
        handles = {}
        for name, priority in [("adm_low", 10), ("adm_high", 30), ("adm_mid", 20)]:
            w.script(name).priority = priority
            handles[name] = await start(w, env, name, urgent=True, config=cfg)
            await wait_for_status(handles[name], S.QUEUED)
        admission = env.client.get_workflow_handle_for(AdmissionWorkflow.run, ADMISSION_WORKFLOW_ID)
        # QUEUED is published before the enqueue signal lands: wait for all three.
        for _ in range(100):
            snap: AdmissionState = await admission.query(AdmissionWorkflow.snapshot)
            if len(snap.queue) == 3:
                break
            await asyncio.sleep(0.05)
        assert [e.request_name for e in snap.queue] == ["adm_high", "adm_mid", "adm_low"]
        assert snap.active == ["adm_blocker"] and snap.limit == 1

        # The lowest one is promoted while it waits.
        changed = await handles["adm_low"].execute_update(RequestWorkflow.set_priority, 50)
        assert (changed.priority, changed.previous) == (50, 10)
        await blocker.signal(RequestWorkflow.abort, AbortSignal())
        for h in handles.values():
            assert (await finish(h)).status is S.COMPLETED
        admitted_at = {
            name: next(t.at for t in (await state_of(h)).transitions if t.to_status is S.PLANNING)
            for name, h in handles.items()
        }
        assert sorted(admitted_at, key=admitted_at.get) == ["adm_low", "adm_high", "adm_mid"]
        snap = await admission.query(AdmissionWorkflow.snapshot)
        assert snap.queue == [] and snap.active == [] and snap.admitted_total == 4
        await keep_history(admission, "admission")


async def test_limit_is_changed_by_a_validated_update(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        cfg = FAST.model_copy(update={"max_active_dags": 1})
        for name in ("lim_a", "lim_b"):
            w.script(name).monitor_forever = True
        a = await start(w, env, "lim_a", urgent=True, config=cfg)
        await wait_for_status(a, S.ACTIVE)
        b = await start(w, env, "lim_b", urgent=True, config=cfg)
        await wait_for_status(b, S.QUEUED)
        admission = env.client.get_workflow_handle_for(AdmissionWorkflow.run, ADMISSION_WORKFLOW_ID)
        with pytest.raises(WorkflowUpdateFailedError):
            await admission.execute_update(AdmissionWorkflow.set_limit, 0)
        changed = await admission.execute_update(AdmissionWorkflow.set_limit, 2)
        assert (changed.limit, changed.previous) == (2, 1)
        await wait_for_status(b, S.ACTIVE)  # the new slot admits the waiting request
        for h in (a, b):
            await h.signal(RequestWorkflow.abort, AbortSignal())
            assert (await finish(h)).status is S.ABORTED


async def test_queue_survives_continue_as_new(env: WorkflowEnvironment) -> None:
    tq = f"adm-{uuid.uuid4().hex[:6]}"
    wf_id = f"admission-can-{uuid.uuid4().hex[:6]}"
    base = datetime(2026, 1, 1, tzinfo=UTC)
    entries = [
        AdmissionEntry(
            request_name=f"q{i}", priority=i % 3, enqueued_at=base + timedelta(minutes=i)
        )
        for i in range(5)
    ]
    state = AdmissionState(limit=1, queue=[], active=["someone"], admitted_total=7)
    async with Worker(env.client, task_queue=tq, workflows=[AdmissionWorkflow]):
        h = await env.client.start_workflow(
            AdmissionWorkflow.run, AdmissionInput(limit=1, state=state), id=wf_id, task_queue=tq
        )
        for e in entries:
            await h.signal(AdmissionWorkflow.enqueue, e)
        snap = await h.query(AdmissionWorkflow.snapshot)
        assert [e.request_name for e in snap.queue] == ["q2", "q1", "q4", "q0", "q3"]
        assert snap.admitted_total == 7 and snap.active == ["someone"]  # carried in
        await h.signal(AdmissionWorkflow.release, "q4")  # a queued request ended
        snap = await h.query(AdmissionWorkflow.snapshot)
        assert [e.request_name for e in snap.queue] == ["q2", "q1", "q0", "q3"]
        await h.terminate("test over")


async def test_duplicate_enqueue_keeps_one_entry(env: WorkflowEnvironment) -> None:
    tq = f"adm-{uuid.uuid4().hex[:6]}"
    async with Worker(env.client, task_queue=tq, workflows=[AdmissionWorkflow]):
        h = await env.client.start_workflow(
            AdmissionWorkflow.run,
            AdmissionInput(limit=1, state=AdmissionState(limit=1, active=["x"])),
            id=f"adm-dup-{uuid.uuid4().hex[:6]}",
            task_queue=tq,
        )
        e = AdmissionEntry(
            request_name="r", priority=1, enqueued_at=datetime(2026, 1, 1, tzinfo=UTC)
        )
        await h.signal(AdmissionWorkflow.enqueue, e)
        await h.signal(AdmissionWorkflow.enqueue, e)  # a retried activity
        snap = await h.query(AdmissionWorkflow.snapshot)
        assert [x.request_name for x in snap.queue] == ["r"]
        await h.terminate("test over")


async def test_admission_continues_as_new_with_its_queue(env: WorkflowEnvironment) -> None:
    tq = f"adm-{uuid.uuid4().hex[:6]}"
    base = datetime(2026, 1, 1, tzinfo=UTC)
    async with Worker(env.client, task_queue=tq, workflows=[AdmissionWorkflow]):
        h = await env.client.start_workflow(
            AdmissionWorkflow.run,
            AdmissionInput(
                limit=1, state=AdmissionState(limit=1, active=["holder"]), continue_as_new_after=2
            ),
            id=f"adm-can-{uuid.uuid4().hex[:6]}",
            task_queue=tq,
        )
        first_run = (await h.describe()).run_id
        for i in range(5):
            entry = AdmissionEntry(request_name=f"gone{i}", priority=i, enqueued_at=base)
            await h.signal(AdmissionWorkflow.enqueue, entry)
        # Requests that no longer exist are admitted and dropped one by one.
        await h.signal(AdmissionWorkflow.release, "holder")
        for _ in range(200):
            snap = await h.query(AdmissionWorkflow.snapshot)
            # The last one is admitted, then dropped once its signal fails.
            if snap.admitted_total == 5 and not snap.active:
                break
            await asyncio.sleep(0.05)
        assert snap.admitted_total == 5 and snap.queue == [] and snap.active == []
        assert (await h.describe()).run_id != first_run  # it continued as new, state intact
        await h.terminate("test over")


async def test_schedd_capacity_limits_admission_and_the_waiting_request_is_told(
    env: WorkflowEnvironment,
) -> None:
    """25 scheduler jobs, 11 per request (its DAGMan + MergeGroup 10): two run, the third
    waits for capacity, says so (admission's snapshot, the request's status) and is
    admitted when one of the two ends."""
    async with fake_world(env) as w:
        w.admission_cost, w.admission_capacity = 11, 25
        handles = {}
        for name in ["cap_a", "cap_b", "cap_c"]:
            w.script(name).monitor_forever = True
            handles[name] = await start(w, env, name, urgent=True)
            await asyncio.sleep(0.3)  # admission order: a, b, c
        await wait_for_status(handles["cap_a"], S.ACTIVE)
        await wait_for_status(handles["cap_b"], S.ACTIVE)
        admission = env.client.get_workflow_handle_for(AdmissionWorkflow.run, ADMISSION_WORKFLOW_ID)
        for _ in range(100):
            s = await state_of(handles["cap_c"])
            if s.waiting_for:
                break
            await asyncio.sleep(0.05)
        assert s.status is S.QUEUED and "22 of 25 scheduler jobs" in (s.waiting_for or "")
        snap: AdmissionState = await admission.query(AdmissionWorkflow.snapshot)
        assert snap.active == ["cap_a", "cap_b"] and snap.costs == {"cap_a": 11, "cap_b": 11}
        assert "cap_c needs 11" in (snap.waiting_for or "")
        await handles["cap_a"].signal(RequestWorkflow.abort, AbortSignal(reason="make room"))
        s = await wait_for_status(handles["cap_c"], S.ACTIVE)
        assert s.waiting_for is None
        snap = await admission.query(AdmissionWorkflow.snapshot)
        assert sorted(snap.active) == ["cap_b", "cap_c"] and snap.waiting_for is None
        for name in ["cap_b", "cap_c"]:
            await handles[name].signal(RequestWorkflow.abort, AbortSignal(reason="test over"))


async def test_admission_packs_requests_schedd_by_schedd(env: WorkflowEnvironment) -> None:
    """Two schedds of 16 scheduler jobs, 10 per request: the total (32) has room for
    three, but no schedd has room for a second DAG, so the third waits (placement would
    find no schedd with room) and is told that no schedd has them free."""
    async with fake_world(env) as w:
        w.admission_cost, w.admission_capacity, w.admission_capacities = 10, 32, [16, 16]
        handles = {}
        for name in ["pack_a", "pack_b", "pack_c"]:
            w.script(name).monitor_forever = True
            handles[name] = await start(w, env, name, urgent=True)
            await asyncio.sleep(0.3)  # admission order: a, b, c
        await wait_for_status(handles["pack_a"], S.ACTIVE)
        await wait_for_status(handles["pack_b"], S.ACTIVE)
        for _ in range(100):
            s = await state_of(handles["pack_c"])
            if s.waiting_for:
                break
            await asyncio.sleep(0.05)
        assert s.status is S.QUEUED
        assert "20 of 32 scheduler jobs in use on 2 schedd(s)" in (s.waiting_for or "")
        assert "none has them free" in (s.waiting_for or "")
        admission = env.client.get_workflow_handle_for(AdmissionWorkflow.run, ADMISSION_WORKFLOW_ID)
        snap: AdmissionState = await admission.query(AdmissionWorkflow.snapshot)
        assert snap.capacities == [16, 16] and snap.active == ["pack_a", "pack_b"]
        await handles["pack_a"].signal(RequestWorkflow.abort, AbortSignal(reason="make room"))
        await wait_for_status(handles["pack_c"], S.ACTIVE)
        for name in ["pack_b", "pack_c"]:
            await handles[name].signal(RequestWorkflow.abort, AbortSignal(reason="test over"))
