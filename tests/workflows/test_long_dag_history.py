"""The longest requests keep each run's history bounded: a DAG of 10,000 work units
(simulated: wms2.condor.simulated writes what DAGMan would), completed a few at a time
and tracked by the real tracker, moves its request through several runs
(continue-as-new), each under 10,000 events, every unit recorded once, and what a run
carries to the next stays small."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.registry import all_activities
from tests.workflows.harness import FAST
from wms2.condor.handles import DagHandle
from wms2.condor.simulated import SimulatedBackend, SimulatedDag, record_simulated_dag
from wms2.config import Settings
from wms2.db import Repository, make_engine, upgrade_database
from wms2.messages import (
    DagProgress,
    RequestInput,
    RequestState,
    TrackerInput,
    TransitionView,
    request_workflow_id,
    tracker_workflow_id,
)
from wms2.models import RequestStatus
from workflows.dag_tracker import DagTrackerWorkflow
from workflows.request import RequestWorkflow

UNITS = 10_000
BATCH = 4  # units completed together: many small signals, the hard case for a history


def active(sim: SimulatedDag) -> RequestState:
    """The request as a worker has it right after submitting its DAG."""
    now = datetime.now(UTC)
    return RequestState(
        request_name=sim.request_name,
        status=RequestStatus.ACTIVE,
        status_since=now,
        imported=True,
        admitted=True,
        enqueued=True,
        dag_file=str(sim.layout.dag_file),
        dag=DagHandle(
            backend="simulated",
            cluster_id="7",
            schedd="simulated",
            dag_file=str(sim.layout.dag_file),
            batch_name=sim.request_name,
        ),
        dag_attempt=1,
        progress=DagProgress(work_units_total=UNITS, nodes_total=UNITS * sim.nodes_per_unit),
        transitions=[TransitionView(from_status=None, to_status=RequestStatus.ACTIVE, at=now)],
    )


async def test_a_10000_unit_dag_keeps_every_run_under_10000_events(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    from worker import build_deps

    queue = f"tq-long-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        state_dir=tmp_path / ".wms2",
        database_url=f"sqlite:///{tmp_path / 'wms2.db'}",
        task_queue=queue,
        tracker_poll_sec=0.02,
        tracker_progress_sec=3600,
        tracker_shards=1,
    )
    upgrade_database(make_engine(settings.database_url))
    deps = build_deps(settings, env.client, SimulatedBackend())
    name = "req_long_v1_x"
    sim = SimulatedDag(tmp_path / "submit" / name, name, UNITS, dataset="")
    sim.create(cluster=7)
    record_simulated_dag(Repository(make_engine(settings.database_url)), sim, 7)
    pool = ThreadPoolExecutor(max_workers=8)
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[RequestWorkflow, DagTrackerWorkflow],
        activities=all_activities(deps),
        activity_executor=pool,
        max_cached_workflows=10,
    ):
        tracker = await env.client.start_workflow(
            DagTrackerWorkflow.run,
            TrackerInput(task_queue=queue, window_sec=30, heartbeat_sec=10),
            id=tracker_workflow_id(queue),
            task_queue=queue,
        )
        # The worker's settings are the defaults but for the safety check: the tracker
        # alone tells the request.
        config = FAST.model_copy(update={"dag_check_sec": 3600.0})
        h = await env.client.start_workflow(
            RequestWorkflow.run,
            RequestInput(request_name=name, config=config, state=active(sim)),
            id=request_workflow_id(name),
            task_queue=queue,
        )
        try:
            for i in range(0, UNITS, BATCH):
                for unit in sim.units[i : i + BATCH]:
                    sim.complete_unit(unit)
                await asyncio.sleep(0.01)
            sim.finish(0)
            result = await asyncio.wait_for(h.result(), 600)
        finally:
            await tracker.terminate("test over")
    pool.shutdown()
    assert result.status is RequestStatus.COMPLETED, result.reason
    assert result.work_units_done == UNITS
    runs = [
        wf async for wf in env.client.list_workflows(f"WorkflowId = '{request_workflow_id(name)}'")
    ]
    assert len(runs) >= 2, "the request never continued as new"
    carried = []
    for run in runs:
        handle = env.client.get_workflow_handle(run.id, run_id=run.run_id)
        desc = await handle.describe()
        assert desc.history_length < 10_000, (run.run_id, desc.history_length)
        first = await anext(handle.fetch_history_events())
        started = first.workflow_execution_started_event_attributes
        if started.continued_execution_run_id:  # a run started by continue-as-new
            carried.append(len(started.input.payloads[0].data))
    # Each later run started with what the one before knew: thousands of unit names,
    # packed into a few hundred bytes of ranges.
    assert carried and max(carried) < 8_000, carried
