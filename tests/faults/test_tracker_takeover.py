"""A worker tracking a shard SIGKILLed, on the real stack: two worker processes share
the tracker's shards, the dead one's shard resumes on the other, and every work unit is
recorded once (the requests check their DAGs only every 30 min: the tracker alone moves
them)."""

from __future__ import annotations

import asyncio
import socket

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests.conftest import RERECO
from tests.integration.conftest import WorkerSite
from tests.integration.test_end_to_end import assert_registered_once, repo, start
from tests.workflows.harness import until
from wms2.models import RequestStatus
from wms2.tracking.shards import shard_of
from workflows.request import RequestWorkflow

SHARDS = 2


async def trackers(client: Client, site: WorkerSite) -> dict[int, str]:
    """Which worker (pid@host) runs each shard's tracking call now ('' if none)."""
    out = {}
    for k in range(SHARDS):
        wf_id = f"wms2-dag-tracker-{site.task_queue}-{k}of{SHARDS}"
        try:
            desc = await client.get_workflow_handle(wf_id).describe()
        except RPCError:  # not started yet: the workers are starting
            out[k] = ""
            continue
        pending = desc.raw_description.pending_activities
        running = [
            p for p in pending if p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        ]
        out[k] = running[0].last_worker_identity if running else ""
    return out


async def spread(client: Client, site: WorkerSite, timeout: float) -> dict[int, str]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        now = await trackers(client, site)
        if all(now.values()) and len(set(now.values())) == SHARDS:
            return now
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"tracker shards not spread over the workers: {now}")
        await asyncio.sleep(0.5)


async def test_a_killed_workers_shard_resumes_on_the_other_nothing_lost_or_doubled(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    site.tracker_shards = SHARDS
    env = {
        "WMS2_TRACKER_SHARDS": str(SHARDS),
        "WMS2_TRACKER_DECLINE_ATTEMPTS": "2",
        "WMS2_TRACKER_REBALANCE_SEC": "2",
        "WMS2_TRACKER_HEARTBEAT_SEC": "3",
        # The DAG runs long enough to kill its tracker in the middle.
        "WMS2_SYNTHETIC_MAX_SECONDS": "1.5",
    }
    workers = [site.start_worker(env=env), site.start_worker(env=env)]
    client = dev_server.client
    # A worker that won every retry keeps a shard 90 s before handing it back.
    by_shard = await spread(client, site, 200)
    h = await start(dev_server, site, RERECO, urgent=True)
    s = await until(
        h, lambda s: s.status is RequestStatus.ACTIVE and s.progress.work_units_done >= 1, 180
    )
    assert s.dag is not None
    total = s.progress.work_units_total
    assert s.progress.work_units_done < total, "the DAG ended before the kill"
    shard = shard_of(s.dag.schedd, RERECO, SHARDS)
    victim_id = by_shard[shard]
    host = socket.gethostname()
    victim = next(p for p in workers if f"{p.pid}@{host}" == victim_id)
    site.kill(victim)

    # The shard's call times out (3 s heartbeat) and resumes on the survivor.
    survivor = next(f"{p.pid}@{host}" for p in workers if p is not victim)
    deadline = asyncio.get_running_loop().time() + 90
    while (await trackers(client, site))[shard] != survivor:
        assert asyncio.get_running_loop().time() < deadline, "the shard was not taken over"
        await asyncio.sleep(0.5)

    result = await asyncio.wait_for(h.result(), 300)
    assert result.status is RequestStatus.COMPLETED, result.reason
    s = await h.query(RequestWorkflow.status)
    units = [f"mg_{i:06d}" for i in range(total)]
    assert sorted(s.completed_work_units) == units  # each unit once, none lost
    assert s.dagman_losses == 0 and s.auto_rescues == 0
    r = repo(site)
    dag = r.latest_dag(r.get_workflow_by_request(RERECO).id)
    assert dag is not None and sorted(dag.completed_work_units) == units
    outputs = assert_registered_once(site, RERECO)
    assert s.outputs_by_state == {"announced": len(outputs)}
