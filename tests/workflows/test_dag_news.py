"""An ACTIVE request learns about its DAG from the tracker's `dag_news` signals and
looks at the DAG itself only when it heard nothing for `dag_check_sec`."""

from __future__ import annotations

import asyncio
import uuid

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.harness import (
    FAST,
    fake_world,
    finish,
    keep_history,
    start,
    state_of,
    until,
)
from wms2.messages import (
    Activity,
    CompletedWorkUnit,
    DagNews,
    DagProgress,
    MonitorResult,
    PriorityRequest,
    StopSignal,
    TrackerInput,
    TrackerWindow,
    WorkUnitOutput,
    tracker_workflow_id,
)
from wms2.models import RequestStatus
from workflows.dag_tracker import DagTrackerWorkflow
from workflows.request import RequestWorkflow
from workflows.visibility import PRIORITY, STATUS

S = RequestStatus
QUIET = FAST.model_copy(update={"dag_check_sec": 3600.0})  # only the news moves it


def unit(i: int) -> CompletedWorkUnit:
    return CompletedWorkUnit(
        name=f"mg_{i:06d}",
        outputs=[
            WorkUnitOutput(
                dataset="/A/Era-Proc-v1/AODSIM",
                lfn=f"/store/x/{i}.root",
                site="T2_X",
                size=10,
                events=5,
                adler32="00000001",
            )
        ],
    )


def news(attempt: int, *units: int, finished: bool = False) -> DagNews:
    return DagNews(
        attempt=attempt,
        result=MonitorResult(
            new_work_units=[unit(i) for i in units],
            progress=DagProgress(work_units_total=3, work_units_done=len(units)),
            finished=finished,
            exit_code=0 if finished else None,
        ),
    )


async def test_news_is_recorded_once_and_stale_news_is_dropped(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        name = "req_news_v1_x"
        w.script(name).monitor_forever = True  # a check would find nothing
        w.script(name).work_units = 3
        h = await start(w, env, name, QUIET, urgent=True)
        await until(h, lambda s: s.status is S.ACTIVE)
        await h.signal("dag_news", news(1, 0))
        await h.signal("dag_news", news(1, 0, 1))  # unit 0 again: a tracker that restarted
        await h.signal("dag_news", news(7, 2))  # another attempt's: not this DAG's news
        s = await until(h, lambda s: len(s.completed_work_units) == 2)
        assert s.completed_work_units == ["mg_000000", "mg_000001"]
        await h.signal("dag_news", news(1, 2, finished=True))
        result = await finish(h)
        s = await state_of(h)
        assert result.status is S.COMPLETED, result.reason
        assert s.completed_work_units == ["mg_000000", "mg_000001", "mg_000002"]
        # Each unit was registered once; the DAG was never looked at.
        for i in range(3):
            assert w.data.calls_of(Activity.REGISTER_OUTPUT, f"mg_{i:06d}") == 1
        assert w.calls_of(Activity.CHECK_DAG.value, name) == 0
        assert w.calls_of(Activity.MONITOR_DAG.value, name) == 0
        await keep_history(h, "dag_news")


def counts(attempt: int, nodes_done: int) -> DagNews:
    """Counts-only news: nodes moved, no work unit completed."""
    return DagNews(
        attempt=attempt,
        result=MonitorResult(
            progress=DagProgress(work_units_total=3, nodes_total=12, nodes_done=nodes_done)
        ),
    )


async def upserts(h: WorkflowHandle) -> tuple[int, int]:
    """(upserts of WMS2's search attributes, memo upserts) in the request's history so
    far; not the SDK's own upserts of TemporalChangeVersion, once per patch."""
    sa = memo = 0
    async for e in h.fetch_history_events():
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = e.upsert_workflow_search_attributes_event_attributes.search_attributes
            sa += STATUS.name in fields.indexed_fields
        memo += e.event_type == EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED
    return sa, memo


async def test_search_attributes_and_memo_are_upserted_only_when_they_change(
    env: WorkflowEnvironment,
) -> None:
    """Counts-only news (the tracker's most frequent signal) adds its signal and a workflow
    task to the history, no upsert; a unit changes the progress memo only; a priority
    change upserts the search attributes, with the new value."""
    async with fake_world(env) as w:
        name = "req_upserts_v1_x"
        w.script(name).monitor_forever = True
        w.script(name).work_units = 3
        h = await start(w, env, name, QUIET, urgent=True)
        await until(h, lambda s: s.status is S.ACTIVE)
        sa, memo = await upserts(h)
        for k in range(1, 6):
            await h.signal("dag_news", counts(1, nodes_done=k))
        await until(h, lambda s: s.progress.nodes_done == 5)
        assert await upserts(h) == (sa, memo)
        await h.signal("dag_news", news(1, 0))
        await until(h, lambda s: s.progress.work_units_done == 1)
        # The unit's outputs are fed before it is published: wait for its workflow task.
        for _ in range(50):
            if await upserts(h) != (sa, memo):
                break
            await asyncio.sleep(0.1)
        assert await upserts(h) == (sa, memo + 1)  # the progress memo: 1/3
        await h.execute_update(
            RequestWorkflow.set_priority, PriorityRequest(priority=123456, by="alice")
        )
        assert (await upserts(h))[0] == sa + 1
        found = (await h.describe()).typed_search_attributes
        assert (found.get(PRIORITY), found.get(STATUS)) == (123456, "active")
        assert (await (await h.describe()).memo_value("progress")) == "1/3"
        await h.signal("dag_news", news(1, 1, 2, finished=True))
        assert (await finish(h)).status is S.COMPLETED
        found = (await h.describe()).typed_search_attributes
        assert found.get(STATUS) == "completed"
        await keep_history(h, "search_on_change")


async def test_news_of_the_next_attempt_is_kept_until_it_is_submitted(
    env: WorkflowEnvironment,
) -> None:
    """The tracker can see a resubmitted DAG before the submission's result reaches the
    workflow: its news is kept, not dropped (a dropped unit would be lost: the tracker
    records what it sent)."""
    async with fake_world(env) as w:
        name = "req_next_v1_x"
        w.script(name).monitor_forever = True
        w.script(name).work_units = 3
        h = await start(w, env, name, QUIET, urgent=True)
        await until(h, lambda s: s.status is S.ACTIVE)
        await h.signal("dag_news", news(1, 0))
        await until(h, lambda s: s.completed_work_units == ["mg_000000"])
        await h.signal(RequestWorkflow.stop, StopSignal(reason="schedd maintenance"))
        await h.signal("dag_news", news(2, 1))  # the next attempt's DAG, seen early
        await h.signal("dag_news", news(1, 2))  # the stopped attempt's: not kept
        s = await until(h, lambda s: s.status is S.ACTIVE and s.dag_attempt == 2)
        s = await until(h, lambda s: len(s.completed_work_units) == 2)
        assert s.completed_work_units == ["mg_000000", "mg_000001"]
        await h.signal("dag_news", news(2, 2, finished=True))
        result = await finish(h)
        assert result.status is S.COMPLETED, result.reason


async def test_without_news_the_request_checks_its_dag(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        name = "req_check_v1_x"
        h = await start(w, env, name, FAST.model_copy(update={"dag_check_sec": 0.3}))
        result = await finish(h)
        assert result.status is S.COMPLETED and result.work_units_done == 4
        assert w.calls_of(Activity.CHECK_DAG.value, name) >= 4


async def test_the_tracker_workflow_keeps_one_tracking_call_running(
    env: WorkflowEnvironment,
) -> None:
    """Each window's call returns and the next one starts; a failed call is retried."""
    calls: list[TrackerInput] = []

    @activity.defn(name=Activity.TRACK_DAGS)
    async def track_dags(inp: TrackerInput) -> TrackerWindow:
        calls.append(inp)
        if len(calls) == 2:
            raise RuntimeError("worker lost its database for a moment")
        return TrackerWindow(cycles=1)

    queue = f"tq-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client, task_queue=queue, workflows=[DagTrackerWorkflow], activities=[track_dags]
    ):
        h = await env.client.start_workflow(
            DagTrackerWorkflow.run,
            TrackerInput(task_queue=queue, window_sec=1, heartbeat_sec=5),
            id=tracker_workflow_id(queue),
            task_queue=queue,
        )
        for _ in range(200):
            if len(calls) >= 4:
                break
            await asyncio.sleep(0.05)
        assert len(calls) >= 4 and all(c.task_queue == queue for c in calls)
        await keep_history(h, "dag_tracker")
        await h.terminate("test over")
