"""The one activity that talks to another workflow: signal-with-start of admission."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from wms2.messages import (
    ADMISSION_WORKFLOW_ID,
    Activity,
    AdmissionEntry,
    AdmissionInput,
    EnqueueInput,
)


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
        entry = AdmissionEntry(
            request_name=inp.request_name, priority=inp.priority, enqueued_at=inp.submitted_at
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
