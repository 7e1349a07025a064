"""The site manager's workflows on the dev server with the real activities (catalog,
SQLite, local pool): a change as an operator or the `temporal` CLI starts it, a refused
one, the scheduled sync as a worker sets it up."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.deps import ActivityDeps
from activities.sites import SiteActivities
from tests.workflows.harness import keep_history
from wms2.models import SiteStatus
from wms2.sites.messages import (
    SiteChanged,
    SiteSyncInput,
    SiteSyncResult,
    site_sync_schedule_id,
    site_workflow_id,
)
from worker import ensure_site_sync
from workflows.sites import SiteChangeWorkflow, SiteSyncWorkflow


@pytest.fixture
def task_queue() -> str:
    return f"sites-{uuid.uuid4().hex[:8]}"


def site_worker(env: WorkflowEnvironment, deps: ActivityDeps, task_queue: str) -> Worker:
    acts = SiteActivities(deps)
    return Worker(
        env.client,
        task_queue=task_queue,
        workflows=[SiteChangeWorkflow, SiteSyncWorkflow],
        activities=[acts.change_site, acts.sync_sites],
        activity_executor=ThreadPoolExecutor(4),  # the activities are blocking, as in worker.py
    )


async def test_sync_then_a_change_as_the_cli_starts_it(
    env: WorkflowEnvironment, deps: ActivityDeps, task_queue: str
) -> None:
    async with site_worker(env, deps, task_queue):
        sync = await env.client.start_workflow(
            SiteSyncWorkflow.run, SiteSyncInput(), id=f"sync-{task_queue}", task_queue=task_queue
        )
        synced = await sync.result()
        assert isinstance(synced, SiteSyncResult) and "T2_DE_DESY" in synced.added
        await keep_history(sync, "site_sync")
        # The input as `temporal workflow execute --input '{...}'` sends it: plain JSON.
        change = await env.client.start_workflow(
            "SiteChangeWorkflow",
            {"site": "T2_DE_DESY", "action": "drain", "reason": "downtime", "by": "alice",
             "until": "2030-01-01T00:00:00Z"},
            id=site_workflow_id("T2_DE_DESY") + task_queue,
            task_queue=task_queue,
            result_type=SiteChanged,
        )  # fmt: skip
        done = await change.result()
        assert (done.previous, done.status) == (SiteStatus.ENABLED, SiteStatus.DRAINING)
        assert done.until is not None and done.until.year == 2030
        await keep_history(change, "site_change")
        desy = deps.repo.sites.get("T2_DE_DESY")
        assert (desy.status_by, desy.status_reason) == ("alice", "downtime")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"site": "T2_DE_DESY", "action": "explode"}, "action: Input should be 'drain'"),
        ({"site": "rm -rf", "action": "ban"}, "is not a CMS site name"),
        ({"site": "T3_XX_Nowhere", "action": "ban"}, "unknown site 'T3_XX_Nowhere'"),
    ],
)
async def test_a_refused_change_fails_with_one_line(
    env: WorkflowEnvironment, deps: ActivityDeps, task_queue: str, raw: dict, message: str
) -> None:
    async with site_worker(env, deps, task_queue):
        handle = await env.client.start_workflow(
            "SiteChangeWorkflow", raw, id=f"bad-{uuid.uuid4().hex[:6]}", task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as err:
            await asyncio.wait_for(handle.result(), 30)
    cause = err.value.cause
    while getattr(cause, "cause", None) is not None:
        cause = cause.cause
    assert message in str(cause) and "\n" not in str(cause)
    # The refusal is the workflow's own one line, not an activity's failure with the
    # activity's stack trace under it.
    assert err.value.cause is cause and "activities/" not in (cause.failure or "").__str__()


async def test_the_worker_sets_up_the_scheduled_sync(
    env: WorkflowEnvironment, deps: ActivityDeps, task_queue: str
) -> None:
    deps.settings.task_queue = task_queue
    deps.settings.site_sync_sec = 3600
    async with site_worker(env, deps, task_queue):
        await ensure_site_sync(env.client, deps.settings)
        handle = env.client.get_schedule_handle(site_sync_schedule_id(task_queue))
        try:
            for _ in range(100):  # created with an immediate first run
                if deps.repo.sites.list():
                    break
                await asyncio.sleep(0.2)
            assert {s.name for s in deps.repo.sites.list()} >= {"T2_CH_CERN", "T2_DE_DESY"}
            # A worker with another interval brings the schedule in line with it.
            deps.settings.site_sync_sec = 600
            await ensure_site_sync(env.client, deps.settings)
            spec = (await handle.describe()).schedule.spec
            assert [i.every.total_seconds() for i in spec.intervals] == [600]
        finally:
            await handle.delete()
