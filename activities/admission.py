"""The one activity that talks to another workflow: signal-with-start of admission."""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.deps import ActivityDeps
from activities.placement import schedds_limited
from wms2.capacity import dag_scheduler_jobs, planned_throttles
from wms2.messages import (
    ADMISSION_WORKFLOW_ID,
    Activity,
    AdmissionEntry,
    AdmissionInput,
    EnqueueInput,
    request_workflow_id,
)


async def ended_requests(client: Client, names: list[str]) -> list[str]:
    """The requests among `names` whose workflow is no longer running (whatever ended
    it), or that have none."""
    ended = []
    for name in names:
        try:
            desc = await client.get_workflow_handle(request_workflow_id(name)).describe()
        except RPCError as e:
            if e.status is not RPCStatusCode.NOT_FOUND:
                raise
            ended.append(name)
            continue
        if desc.status is not WorkflowExecutionStatus.RUNNING:
            ended.append(name)
    return ended


def scheduler_job_budget(deps: ActivityDeps) -> tuple[int, list[int] | None]:
    """(scheduler jobs a request's DAG holds, each schedd's scheduler jobs for WMS2, or
    None when there is no limit: the local backend unless WMS2_SCHEDD_LIMITS sets one).
    The schedds' limits come from the worker's cache (read once per TTL, not at every
    enqueue)."""
    settings = deps.settings
    names = deps.schedd_names()
    limits = deps.schedd_limits().all(names)
    throttle = planned_throttles(settings.category_throttles, settings.schedd_limits, names)
    cost = dag_scheduler_jobs(throttle["MergeGroup"])
    capacities = [limits[n].scheduler_jobs for n in names]
    return cost, capacities if schedds_limited(deps) else None


class AdmissionActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @activity.defn(name=Activity.ENQUEUE)
    async def enqueue_for_admission(self, inp: EnqueueInput) -> None:
        client = self.deps.client
        if client is None:
            raise ApplicationError(
                "worker has no Temporal client for admission", non_retryable=True
            )
        cost, capacities = await asyncio.to_thread(scheduler_job_budget, self.deps)
        entry = AdmissionEntry(
            request_name=inp.request_name,
            priority=inp.priority,
            enqueued_at=inp.submitted_at,
            cost=cost,
            # The total for admission workflows before per-schedd packing, and each
            # schedd's own for those after (admission-per-schedd).
            capacity=sum(capacities) if capacities is not None else None,
            capacities=capacities,
        )
        # Signal-with-start: starts the single admission workflow if it is not running.
        await client.start_workflow(
            "AdmissionWorkflow",
            AdmissionInput(limit=inp.max_active_dags),
            id=ADMISSION_WORKFLOW_ID,
            task_queue=activity.info().task_queue,
            start_signal="enqueue",
            start_signal_args=[entry],
        )

    @activity.defn(name=Activity.ENDED_REQUESTS)
    async def find_ended_requests(self, names: list[str]) -> list[str]:
        if self.deps.client is None:
            raise ApplicationError("worker has no Temporal client", non_retryable=True)
        return await ended_requests(self.deps.client, names)
