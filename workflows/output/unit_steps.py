"""One output unit's steps for OutputWorkflow: the activity of each state, an outage
waited out (with an alert once it lasts), a refusal recorded as the unit's failure,
stuck transfer rules alerted, and the rollback of every unit (invalidation)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, RetryState

with workflow.unsafe.imports_passed_through():
    from wms2.messages import Activity
    from wms2.models import OutputStatus
    from wms2.outputs.messages import (
        InvalidateInput,
        OutputAlert,
        OutputConfig,
        OutputFailure,
        OutputState,
        OutputStepInput,
        OutputUnit,
    )

from workflows import errors, options
from workflows.summaries import output_activity

Out = OutputStatus
MAX_ALERTS = 50  # kept in the state (the count goes on in alerts_total)


class UnitSteps:
    """Owned by OutputWorkflow; shares its state and settings."""

    def __init__(self, state: OutputState, cfg: OutputConfig) -> None:
        self.s = state
        self.cfg = cfg

    async def advance(self, unit: OutputUnit, step: Activity) -> None:
        s = self.s
        arg = OutputStepInput(
            request_name=s.request_name, dataset=s.dataset, unit=unit, config=self.cfg
        )
        try:
            new = await self._step_until_done(step, arg, unit)
        except ActivityError as e:
            # Only a refusal reaches here (outages are retried): this output fails, the
            # others go on.
            reason = f"{step.value} refused: {errors.reason(e)}"
            workflow.logger.error("%s %s: %s", s.dataset, unit.work_unit, reason)
            new = await self.act(
                Activity.FAIL_OUTPUT,
                OutputFailure(
                    request_name=s.request_name, dataset=s.dataset, unit=unit, reason=reason
                ),
                OutputUnit,
                unit.work_unit,
            )
            new = new.model_copy(update={"failed_from": unit.status})
        if new.stuck_rules and not unit.stuck_rules:
            self._alert_stuck(new)
        s.units[unit.work_unit] = new

    async def _step_until_done(
        self, step: Activity, arg: OutputStepInput, unit: OutputUnit
    ) -> OutputUnit:
        """An outage is waited out, never given up on; but a step that failed
        `alert_after_attempts` times in a row raises an alert (once) and goes on trying.
        Only a refusal (non-retryable) is raised."""
        alerted = False
        while True:
            try:
                return await self.act(
                    step, arg, OutputUnit, unit.work_unit, self.cfg.alert_after_attempts
                )
            except ActivityError as e:
                if e.retry_state not in (RetryState.MAXIMUM_ATTEMPTS_REACHED, RetryState.TIMEOUT):
                    raise
                if not alerted:
                    alerted = True
                    self.add_alert(
                        "failing_step",
                        unit.work_unit,
                        f"{self.s.dataset} {unit.work_unit}: {step.value} failed "
                        f"{self.cfg.alert_after_attempts} times ({errors.reason(e)}); still trying",
                    )

    def _alert_stuck(self, unit: OutputUnit) -> None:
        message = (
            f"{self.s.dataset} {unit.work_unit}: Rucio rule(s) {', '.join(unit.stuck_rules)} "
            f"after {unit.polls} polls"
        )
        workflow.metric_meter().create_counter(
            "wms2_output_rules_stuck", "transfer rules found STUCK"
        ).add(1)
        self.add_alert("stuck_rule", unit.work_unit, message)

    def add_alert(self, kind: str, work_unit: str, message: str) -> None:
        workflow.logger.warning("%s", message)
        self.s.alerts_total += 1
        del self.s.alerts[: max(0, len(self.s.alerts) - MAX_ALERTS + 1)]  # newest kept
        self.s.alerts.append(
            OutputAlert(kind=kind, work_unit=work_unit, message=message, at=workflow.now())
        )

    async def invalidate_all(self, reason: str) -> None:
        s = self.s
        units = [u for u in s.units.values() if u.status is not Out.INVALIDATED]
        # Compacted units: the activity reads what to undo from their records.
        units += [
            OutputUnit(work_unit=n, lfn="", site="", size=0, events=0, adler32="", status=st)
            for n, st in s.finished_units.items()
            if st is not Out.INVALIDATED
        ]
        size = self.cfg.batch_size
        for i in range(0, len(units), size):
            results = await asyncio.gather(
                *(
                    self.act(
                        Activity.INVALIDATE_OUTPUT,
                        InvalidateInput(
                            request_name=s.request_name, dataset=s.dataset, unit=u, reason=reason
                        ),
                        OutputUnit,
                    )
                    for u in units[i : i + size]
                )
            )
            for new in results:
                s.finished_units.pop(new.work_unit, None)
                s.units[new.work_unit] = new
        s.invalidated = True
        workflow.logger.info("%s: %d outputs invalidated (%s)", s.dataset, len(units), reason)

    async def act(
        self,
        name: Activity,
        arg: Any,
        result_type: Any,
        what: str = "",
        max_attempts: int | None = None,
    ) -> Any:
        opts = options.OUTPUT_STEP
        if max_attempts is not None:  # bounded rounds, so that repeated failures are seen
            policy = replace(opts["retry_policy"], maximum_attempts=max_attempts)
            opts = {**opts, "retry_policy": policy}
        return await workflow.execute_activity(
            name,
            arg,
            result_type=result_type,
            summary=output_activity(name, self.s.dataset, what),
            **opts,
        )
