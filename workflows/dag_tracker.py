"""DagTrackerWorkflow: keeps one DAG tracker running per task queue (submit host).

It runs `track_dags` for a window at a time. The activity heartbeats every cycle: if
its worker dies, the call is retried on another worker of the queue after the
heartbeat timeout and picks up from what the database recorded. The workflow never ends
by itself; it continues as new when its history grows.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from wms2.messages import Activity, TrackerInput, TrackerWindow

from workflows import options


@workflow.defn
class DagTrackerWorkflow:
    @workflow.run
    async def run(self, inp: TrackerInput) -> None:
        while True:
            await workflow.execute_activity(
                Activity.TRACK_DAGS,
                inp,
                result_type=TrackerWindow,
                start_to_close_timeout=timedelta(seconds=inp.window_sec + 120),
                heartbeat_timeout=timedelta(seconds=inp.heartbeat_sec),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=1),
                    maximum_interval=timedelta(seconds=10),
                ),
            )
            if options.continue_as_new_due(None):
                workflow.continue_as_new(inp)
