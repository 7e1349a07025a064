"""PILOT_RUNNING: one job in pilot mode, watched until it ends, its metrics read for
planning (spec 5.2)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from wms2.condor.handles import JobHandle
    from wms2.messages import Activity, AwaitJobInput, AwaitJobResult, PilotInput
    from wms2.models import PilotMetrics, RequestStatus

from workflows import options
from workflows.request.steps import RequestSteps

S = RequestStatus


class Pilot:
    def __init__(self, steps: RequestSteps) -> None:
        self.steps = steps
        self.s = steps.s

    async def run(self) -> None:
        s, steps = self.s, self.steps
        if s.pilot is None:
            s.pilot = await steps.fail_on_error(
                steps.act(
                    Activity.SUBMIT_PILOT,
                    PilotInput(request_name=s.request_name),
                    JobHandle,
                    **options.SERVICE,
                ),
                "pilot submission failed",
            )
            if s.pilot is None:
                return
        while s.status is S.PILOT_RUNNING:
            res = await steps.interruptible(
                steps.act(
                    Activity.AWAIT_PILOT,
                    AwaitJobInput(
                        handle=s.pilot,
                        max_seconds=steps.cfg.monitor_window_sec,
                        poll_seconds=steps.cfg.poll_sec,
                    ),
                    AwaitJobResult,
                    **steps.monitor_opts(),
                )
            )
            if res is None:
                return  # abort or catastrophic restart: the main loop handles it
            if res.finished:
                await self._finished(res)
                return
            if steps.overdue():
                await steps.on_stuck()

    async def _finished(self, res: AwaitJobResult) -> None:
        s, steps = self.s, self.steps
        if res.status.exit_code != 0:
            await steps.transition(
                S.FAILED,
                f"pilot failed with exit code {res.status.exit_code} {res.status.detail}".strip(),
            )
            return
        s.pilot_metrics = await steps.fail_on_error(
            steps.act(
                Activity.READ_PILOT_METRICS,
                PilotInput(request_name=s.request_name),
                PilotMetrics,
                **options.SERVICE,
            ),
            "pilot report unusable",
        )
        if s.pilot_metrics is not None:
            await steps.transition(S.PLANNING, "pilot finished")
