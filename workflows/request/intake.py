"""A request's way in: the import of its document (SUBMITTED) and the admission queue
(QUEUED), from which it goes to its pilot, to planning, or back to its stopped DAG."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from wms2.messages import Activity, EnqueueInput, ImportInput, ImportResult, RequestInput
    from wms2.models import RequestStatus

from workflows import options
from workflows.request.dag_run import DagRun
from workflows.request.steps import RequestSteps
from workflows.visibility import publish

S = RequestStatus


class Intake:
    def __init__(self, steps: RequestSteps, dag: DagRun, inp: RequestInput) -> None:
        self.steps = steps
        self.dag = dag
        self.inp = inp
        self.s = steps.s

    async def import_request(self) -> None:
        """SUBMITTED: the document imported and validated (or the request FAILED)."""
        s, inp, steps = self.s, self.inp, self.steps
        res = await steps.internal_step(
            Activity.IMPORT_REQUEST,
            ImportInput(
                request_name=s.request_name,
                urgent=inp.urgent,
                request_document=inp.request_document,
                previous_version_request=inp.previous_version_request,
                cleanup_policy=inp.cleanup_policy,
                rerun=inp.rerun,
            ),
            ImportResult,
            "import",
            # An earlier run's records stay as that run left them.
            not_ours="RequestAlreadyRan",
        )
        if res is None:
            return  # failed or aborted
        s.run, s.imported, s.priority, s.urgent = res.run, True, res.priority, res.urgent
        s.campaign, s.request_type = res.campaign, res.request_type
        s.processing_version, s.production_steps = res.processing_version, res.production_steps
        s.cleanup_policy = res.cleanup_policy
        s.output_datasets = list(res.output_datasets)
        s.recovery = res.recovery
        if res.resume is None:
            what = f": {res.recovery}" if res.recovery else ""
            await steps.transition(S.QUEUED, f"imported and validated{what}")
            return
        # A rerun picks up the DAG the earlier run planned: resubmitted (no pilot, no
        # planning) with a rescue DAG; the units an earlier run handed over are not again.
        r = res.resume
        s.dag_file, s.dag_attempt = r.dag_file, r.attempt
        s.completed_work_units = list(r.handed_over)
        s.progress.work_units_total, s.progress.nodes_total = r.work_units, r.total_nodes
        s.harvest_jobs = r.harvest_jobs
        s.progress.work_units_done = len(s.completed_work_units)
        await steps.transition(
            S.QUEUED,
            f"imported for run {s.run}: resumes DAG attempt {r.attempt} "
            f"({len(r.handed_over)}/{r.work_units} work units handed over before)",
        )

    async def queue(self) -> None:
        """QUEUED: held (stop --hold) until released, then in the admission queue until
        admitted."""
        s, steps = self.s, self.steps
        if s.hold is not None:
            workflow.logger.info("request %s held: %s", s.request_name, s.hold)
            publish(s)
            if not await steps.wait(lambda: s.hold is None):
                return
        await steps.act(
            Activity.ENQUEUE,
            EnqueueInput(
                request_name=s.request_name,
                priority=s.priority,
                submitted_at=s.transitions[0].at,
                max_active_dags=steps.cfg.max_active_dags,
            ),
            None,
            **options.SERVICE,
        )
        s.enqueued = True
        if not await steps.wait(lambda: s.admitted):
            return
        if s.dag_file is not None:  # a stopped DAG: resubmit its rescue DAG, no pilot, no planning
            await self.dag.submit("admitted: resubmitting the rescue DAG")
        elif s.urgent:
            await steps.transition(S.PLANNING, "admitted (urgent: no pilot)")
        else:
            await steps.transition(S.PILOT_RUNNING, "admitted")
