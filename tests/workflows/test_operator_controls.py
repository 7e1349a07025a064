"""Operator controls: a stop that holds the request out of admission until `release`,
pausing and resuming admission, and who changed a priority when."""

from __future__ import annotations

import asyncio

from temporalio.testing import WorkflowEnvironment

from tests.workflows.harness import FAST, fake_world, finish, start, until
from wms2.messages import (
    ADMISSION_WORKFLOW_ID,
    PauseAdmission,
    PriorityRequest,
    StopSignal,
)
from wms2.models import RequestStatus
from workflows.admission import AdmissionWorkflow
from workflows.request import RequestWorkflow

S = RequestStatus


async def test_stop_hold_keeps_a_request_out_until_release(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        w.script("held").hold_at = 1
        h = await start(w, env, "held", urgent=True)
        await until(h, lambda s: s.status is S.ACTIVE and len(s.completed_work_units) >= 1)
        await h.signal(RequestWorkflow.stop, StopSignal(reason="site downtime", hold=True))
        s = await until(h, lambda s: s.status is S.QUEUED and s.hold is not None)
        await asyncio.sleep(1)
        s = await until(h, lambda s: s.status is S.QUEUED)
        assert s.hold == "site downtime" and not s.admitted and w.submissions["held"] == [1]
        # Held is in the memo: `list` and `admission` tell it from plain queued.
        assert await (await h.describe()).memo_value("held") == "site downtime"
        await h.signal(RequestWorkflow.release)
        result = await finish(h)
        assert result.status is S.COMPLETED and w.submissions["held"] == [1, 2]
        assert await (await h.describe()).memo_value("held") == ""


async def test_a_release_of_a_request_not_held_is_ignored(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        w.script("not_held").monitor_forever = True
        h = await start(w, env, "not_held", urgent=True)
        await until(h, lambda s: s.status is S.ACTIVE)
        await h.signal(RequestWorkflow.release)
        s = await until(h, lambda s: bool(s.rejected_signals))
        assert "release while active: the request is not held" in s.rejected_signals[-1]
        await h.cancel()


async def test_admission_pause_and_resume(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        first = await start(w, env, "p_first", urgent=True)
        await finish(first)
        admission = env.client.get_workflow_handle_for(AdmissionWorkflow.run, ADMISSION_WORKFLOW_ID)
        snap = await admission.execute_update(
            AdmissionWorkflow.pause, PauseAdmission(reason="database upgrade")
        )
        assert snap.paused == "database upgrade"
        h = await start(w, env, "p_second", urgent=True)
        await until(h, lambda s: s.status is S.QUEUED and s.enqueued)
        await asyncio.sleep(1)
        snap = await admission.query(AdmissionWorkflow.snapshot)
        assert [e.request_name for e in snap.queue] == ["p_second"] and snap.active == []
        await admission.execute_update(AdmissionWorkflow.resume)
        assert (await finish(h)).status is S.COMPLETED


async def test_status_says_who_changed_the_priority(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        w.script("prio").monitor_forever = True
        h = await start(w, env, "prio", FAST, urgent=True)
        await until(h, lambda s: s.status is S.ACTIVE)
        await h.execute_update(
            RequestWorkflow.set_priority, PriorityRequest(priority=200000, by="alice@lxplus")
        )
        await h.execute_update(RequestWorkflow.set_priority, 150000)  # the temporal CLI's
        s = await until(h, lambda s: len(s.priority_changes) == 2)
        first, second = s.priority_changes
        assert (first.previous, first.priority, first.by) == (100000, 200000, "alice@lxplus")
        assert (second.previous, second.priority) == (200000, 150000)
        assert second.by.startswith("unknown")
        await h.cancel()
