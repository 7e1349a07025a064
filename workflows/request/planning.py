"""PLANNING: the DAG planned (an activity) and submitted; input on tape staged first,
and no usable site waited for, or failed, as the settings say."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from wms2.messages import Activity, PlanInput, PlanResult
    from wms2.models import RequestStatus

from workflows.errors import error_type, reason
from workflows.request.dag_run import DagRun
from workflows.request.staging import STAGE_TAPE_INPUT, InputStaging, Staged
from workflows.request.steps import RequestSteps

S = RequestStatus
SITE_WAIT = "site-wait"  # workflow.patched id: no usable site means wait, not fail


class Planning:
    def __init__(self, steps: RequestSteps, dag: DagRun) -> None:
        self.steps = steps
        self.dag = dag
        self.s = steps.s
        self.staging = InputStaging(steps)

    async def run(self) -> None:
        s, steps = self.s, self.steps
        if self.staging.pending:  # resumed (continue-as-new) while input was being staged
            await self._stage_input()
            return
        try:
            plan = await steps.internal_step(
                Activity.PLAN_DAG,
                PlanInput(request_name=s.request_name, pilot_metrics=s.pilot_metrics),
                PlanResult,
                "planning",
                raises=("InputOnTape", "NoUsableSite"),
            )
        except ActivityError as e:
            if error_type(e) == "NoUsableSite" and workflow.patched(SITE_WAIT):
                await self._wait_for_a_site(reason(e))
                return
            # Input on tape only: staged to disk by a Rucio rule, then planned again.
            if not workflow.patched(STAGE_TAPE_INPUT) or (
                s.staging is not None and s.staging.state == "OK"
            ):
                await steps.transition(S.FAILED, f"planning failed: {reason(e)}")
                return
            await self._stage_input()
            return
        if plan is None:
            return  # failed (recorded) or aborted
        s.dag_file = plan.dag_file
        s.progress.work_units_total = plan.work_units
        s.progress.nodes_total = plan.total_nodes
        s.harvest_jobs = plan.node_counts.get("Harvest", 0)
        await self.dag.submit(f"planned {plan.work_units} work units, {plan.total_nodes} nodes")

    async def _wait_for_a_site(self, why: str) -> None:
        """Every site the work could run at is drained, disabled or banned: alert once,
        then plan again every `site_recheck_sec` until one is enabled (or a stop/abort)."""
        s, steps = self.s, self.steps
        if not s.alerts or s.alerts[-1].kind != "no_usable_site":
            steps.alert("no_usable_site", f"waiting for a site: {why}", stuck=False)
        steps.observe_cancellation()
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: s.interrupted, timeout=timedelta(seconds=steps.cfg.site_recheck_sec)
            )

    async def _stage_input(self) -> None:
        staged = await self.staging.run()
        if staged is Staged.DONE:
            rule = self.s.staging.rule_id if self.s.staging else None
            await self.steps.transition(S.PLANNING, f"input staged (rule {rule}): planning again")
