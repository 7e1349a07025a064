"""What a running DAG's progress changes on the way (owned by the DAG run): right-sizing
rounds for the work units not started yet, and the tail's priority boost."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from wms2.messages import Activity, SizingInput, SizingResult

from workflows import options
from workflows.request.priority import RequestPriority
from workflows.request.steps import RequestSteps

RIGHT_SIZING = "right-sizing"  # workflow.patched id: sizing rounds and the tail boost
KEPT_CHANGES = 10


class RunTuning:
    def __init__(self, steps: RequestSteps, priority: RequestPriority) -> None:
        self.steps = steps
        self.priority = priority
        self.s = steps.s

    async def after_progress(self) -> None:
        """After news with new work units done: a sizing round when due, the tail boost
        when the tail is reached. Neither blocks the DAG if its activity fails."""
        cfg, s = self.steps.cfg, self.s
        if not (cfg.sizing_every_units or cfg.tail_fraction) or s.dag_file is None:
            return
        if not workflow.patched(RIGHT_SIZING):
            return
        done, total = len(s.completed_work_units), s.progress.work_units_total
        if (
            cfg.sizing_every_units
            and done < total
            and done - s.sizing_checked_at >= cfg.sizing_every_units
        ):
            await self._sizing_round(done)
        tail = cfg.tail_fraction and total > 0 and done / total >= cfg.tail_fraction
        if tail and not s.tail_boosted and done < total:
            await self._boost_tail(done, total)

    async def _sizing_round(self, done: int) -> None:
        s = self.s
        assert s.dag_file is not None
        s.sizing_checked_at = done
        try:
            r = await self.steps.act(
                Activity.SIZE_PENDING_UNITS,
                SizingInput(request_name=s.request_name, dag_file=s.dag_file),
                SizingResult,
                **options.CHECK,
            )
        except ActivityError as e:
            workflow.logger.warning("request %s: no sizing round: %s", s.request_name, e)
            return
        if r.change:
            note = f"{workflow.now():%Y-%m-%d %H:%M} after {done} units: {r.change}"
            s.sizing_changes = [*s.sizing_changes[-(KEPT_CHANGES - 1) :], note]

    async def _boost_tail(self, done: int, total: int) -> None:
        s, cfg = self.s, self.steps.cfg
        s.tail_boosted = True
        boosted = s.priority + cfg.tail_priority_boost
        workflow.logger.info(
            "request %s: %d/%d work units done; its tail's idle jobs get JobPrio %d",
            s.request_name,
            done,
            total,
            boosted,
        )
        # The DAG's JobPrio, not the request's priority: admission order is unchanged.
        await self.priority.to_dag(boosted)
        s.sizing_changes = [
            *s.sizing_changes[-(KEPT_CHANGES - 1) :],
            f"{workflow.now():%Y-%m-%d %H:%M} tail: {done}/{total} units done, "
            f"idle jobs JobPrio {s.priority} -> {boosted}",
        ]
