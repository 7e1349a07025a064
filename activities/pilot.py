"""The pilot: submit one job in pilot mode, wait for it, read its measurements."""

from __future__ import annotations

import asyncio
import time

from temporalio import activity

from activities.deps import ActivityDeps, domain_errors
from activities.placement import place_pilot
from wms2.condor import JobState
from wms2.condor.handles import JobHandle
from wms2.condor.several import SeveralSchedds
from wms2.dagfiles import DagLayout, dag_directory
from wms2.dagfiles.layout import PILOT_METRICS
from wms2.messages import Activity, AwaitJobInput, AwaitJobResult, PilotInput
from wms2.models import PilotMetrics
from wms2.plan_dag import prepare_pilot
from wms2.planning.pilot import read_pilot_report


class PilotActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @activity.defn(name=Activity.SUBMIT_PILOT)
    def submit_pilot(self, inp: PilotInput) -> JobHandle:
        repo = self.deps.repo
        with domain_errors():
            request = repo.get_request(inp.request_name)
            submit_file = prepare_pilot(request, self.deps.settings)
            backend, batch = self.deps.backend, f"{inp.request_name}-pilot"
            if isinstance(backend, SeveralSchedds):  # where the request's DAG will go
                schedd = place_pilot(self.deps, backend.schedds, inp.request_name)
                handle = backend.submit_job(submit_file, batch_name=batch, schedd=schedd)
            else:
                handle = backend.submit_job(submit_file, batch_name=batch)
            wf = repo.get_workflow_by_request(inp.request_name)
            repo.update_workflow(
                wf.id,
                pilot_cluster_id=handle.cluster_id,
                pilot_schedd=handle.schedd,
                pilot_output_path=str(submit_file.parent / PILOT_METRICS),
            )
        return handle

    @activity.defn(name=Activity.AWAIT_PILOT)
    async def await_pilot(self, inp: AwaitJobInput) -> AwaitJobResult:
        """Heartbeats while the pilot runs; returns when it ended or after max_seconds
        (the workflow then checks its stuck timer and calls again). Async: between
        queries it holds no worker thread."""
        deadline = time.monotonic() + inp.max_seconds
        while True:
            status = await asyncio.to_thread(self.deps.backend.query, inp.handle)
            if status.state is not JobState.ALIVE:
                return AwaitJobResult(status=status, finished=True)
            if time.monotonic() >= deadline:
                return AwaitJobResult(status=status, finished=False)
            activity.heartbeat(status.model_dump(mode="json"))
            await asyncio.sleep(inp.poll_seconds)

    @activity.defn(name=Activity.READ_PILOT_METRICS)
    def read_pilot_metrics(self, inp: PilotInput) -> PilotMetrics:
        repo = self.deps.repo
        with domain_errors():
            layout = DagLayout(dag_directory(self.deps.settings.submit_dir, inp.request_name))
            metrics = read_pilot_report(layout.pilot_dir / PILOT_METRICS)
            wf = repo.get_workflow_by_request(inp.request_name)
            repo.update_workflow(wf.id, pilot_metrics=metrics.model_dump(mode="json"))
        return metrics
