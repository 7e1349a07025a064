"""WMS2 worker: all workflows and activities on one task queue.

    python worker.py [--metrics-port 9464]

Connects to TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE (default localhost:7233 / default),
uses the task queue, database, service and execution backends from the WMS2_ settings,
and shuts down gracefully on SIGINT/SIGTERM (running activities are given time to end;
long-running ones resume elsewhere from their heartbeats).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.common import MetricMeter, WorkflowIDConflictPolicy
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.deps import ActivityDeps
from activities.registry import all_activities
from cli.common import connect
from wms2.condor import Backend, build_backend
from wms2.config import Settings
from wms2.db import Repository, open_repository
from wms2.messages import TrackerInput, tracker_workflow_id, tracker_workflow_ids
from wms2.service_factory import build_services
from workflows.admission import AdmissionWorkflow
from workflows.dag_tracker import DagTrackerWorkflow
from workflows.output import OutputWorkflow
from workflows.request import RequestWorkflow
from workflows.runner import workflow_runner
from workflows.sites import SiteChangeWorkflow, SiteSyncWorkflow

WORKFLOWS = [
    RequestWorkflow,
    AdmissionWorkflow,
    OutputWorkflow,
    DagTrackerWorkflow,
    SiteChangeWorkflow,
    SiteSyncWorkflow,
]


def metrics_runtime(metrics_port: int) -> Runtime:
    """A Temporal runtime that serves the SDK's and WMS2's metrics for Prometheus."""
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"0.0.0.0:{metrics_port}"))
    )


def build_deps(
    settings: Settings, client: Client | None, backend: Backend | None = None
) -> ActivityDeps:
    return ActivityDeps(
        settings=settings,
        repo=open_repository(settings.database_url),
        services=build_services(settings),
        backend=backend or build_backend(settings),
        client=client,
    )


async def ensure_tracker(client: Client, settings: Settings) -> None:
    """Start this task queue's DAG tracker shards unless they run (every worker asks; one
    of each runs), and end the trackers of another shard count (a changed setting):
    they would track the same DAGs twice."""
    shards = settings.tracker_shards
    wanted = tracker_workflow_ids(settings.task_queue, shards)
    for shard, wf_id in enumerate(wanted):
        await client.start_workflow(
            DagTrackerWorkflow.run,
            TrackerInput(
                task_queue=settings.task_queue,
                window_sec=settings.tracker_window_sec,
                heartbeat_sec=settings.tracker_heartbeat_sec,
                shard=shard,
                shards=shards,
            ),
            id=wf_id,
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    ours = re.compile(rf"{re.escape(tracker_workflow_id(settings.task_queue))}(-\d+of\d+)?")
    query = "WorkflowType = 'DagTrackerWorkflow' AND ExecutionStatus = 'Running'"
    try:
        async for wf in client.list_workflows(query):
            if ours.fullmatch(wf.id) and wf.id not in wanted:
                await client.get_workflow_handle(wf.id).terminate(
                    f"tracker shards are now {shards} (WMS2_TRACKER_SHARDS)"
                )
    except RPCError as e:  # visibility is late or away: the next worker start retries
        logging.warning("stale tracker shards not checked: %s", e)


async def ensure_site_sync(client: Client, settings: Settings) -> None:
    """The site list's Temporal schedule: created (and run at once) by the first worker,
    its interval brought in line with this worker's settings by every later one."""
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleAlreadyRunningError,
        ScheduleIntervalSpec,
        ScheduleSpec,
        ScheduleUpdate,
        ScheduleUpdateInput,
    )

    from wms2.sites.messages import SiteSyncInput, site_sync_schedule_id

    every = timedelta(seconds=settings.site_sync_sec)
    schedule_id = site_sync_schedule_id(settings.task_queue)
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            SiteSyncWorkflow.run,
            SiteSyncInput(),
            id=f"{schedule_id}-run",
            task_queue=settings.task_queue,
            execution_timeout=timedelta(hours=1),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
    )
    try:
        await client.create_schedule(schedule_id, schedule, trigger_immediately=True)
        return
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(schedule_id)
    current = (await handle.describe()).schedule.spec.intervals

    def updated(_: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=schedule)

    if [i.every for i in current] != [every]:
        await handle.update(updated)


async def publish_request_counts(
    client: Client, meter: MetricMeter, settings: Settings, repo: Repository
) -> None:
    """Gauges of requests by status (the database: one per request name, its current
    run's status; visibility would also count earlier runs and continued-as-new ones), of
    stuck requests (running workflows, visibility), of work unit outputs by state and of
    sites by status (database), only with --metrics-port. Every worker publishes the same
    fleet-wide numbers."""
    from wms2.models import OutputStatus, RequestStatus, SiteStatus

    outputs = meter.create_gauge("wms2_outputs", "work unit outputs by pipeline state")
    sites = meter.create_gauge("wms2_sites", "sites by site manager status")

    by_status = meter.create_gauge("wms2_requests", "requests by WMS2 status")
    stuck = meter.create_gauge("wms2_requests_stuck", "requests with a stuck alert")
    base = "WorkflowType = 'RequestWorkflow' AND ExecutionStatus = 'Running'"
    while True:
        try:
            requests = await asyncio.to_thread(repo.count_requests_by_status)
            for status in RequestStatus:
                by_status.set(requests.get(status.value, 0), {"status": status.value})
            stuck.set((await client.count_workflows(f"{base} AND WMS2Stuck = true")).count)
            by_state = await asyncio.to_thread(repo.count_outputs_by_status)
            for st in OutputStatus:
                outputs.set(by_state.get(st.value, 0), {"status": st.value})
            by_site_status = await asyncio.to_thread(repo.sites.count_by_status)
            for site_status in SiteStatus:
                sites.set(by_site_status.get(site_status.value, 0), {"status": site_status.value})
        except Exception as e:  # visibility may lag or be down: try again next round
            logging.warning("request counts for metrics failed: %s", e)
        await asyncio.sleep(settings.metrics_interval_sec)


async def run(settings: Settings, metrics_port: int | None, backend: Backend | None = None) -> None:
    """`backend`: instead of the configured one (bench/tracking.py's simulated DAGs)."""
    runtime = metrics_runtime(metrics_port) if metrics_port is not None else None
    client = await connect(settings, runtime)
    deps = build_deps(settings, client, backend)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(max_workers=32) as pool:
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=WORKFLOWS,
            activities=all_activities(deps),
            activity_executor=pool,
            workflow_runner=workflow_runner(),  # workflow modules shared, not per request
            # Every active request stays cached: an evicted one replays its history at its
            # next task (the SDK's default of 1,000 is below the requests one worker runs).
            max_cached_workflows=settings.worker_cached_workflows,
            graceful_shutdown_timeout=timedelta(seconds=10),
        )
        logging.info(
            "WMS2 worker on %s/%s, task queue %s, %s backend, %s services",
            settings.temporal_address,
            settings.temporal_namespace,
            settings.task_queue,
            settings.execution_backend.value,
            settings.service_backend.value,
        )
        async with worker:
            await ensure_tracker(client, settings)
            await ensure_site_sync(client, settings)
            counts = None
            if runtime is not None:
                counts = asyncio.create_task(
                    publish_request_counts(client, runtime.metric_meter, settings, deps.repo)
                )
            await stop.wait()
            logging.info("shutting down")
            if counts is not None:
                counts.cancel()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(run(Settings(), args.metrics_port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
