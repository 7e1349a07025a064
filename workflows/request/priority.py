"""A request's priority, owned by the request workflow: an operator's change (the
`set_priority` update) and a production step's demotion. Both are recorded, re-order the
admission queue while QUEUED, and reach the running DAG while ACTIVE (its not yet
submitted nodes read the DAG's priority file, idle jobs get JobPrio edited)."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from wms2.condor.handles import IdleEdit
    from wms2.messages import (
        Activity,
        PriorityChange,
        PriorityChanged,
        PriorityNote,
        ReprioritizeInput,
        RequestUpdate,
    )
    from wms2.models import ProductionStep, RequestStatus

from workflows import options
from workflows.errors import reason
from workflows.request.steps import RequestSteps
from workflows.visibility import publish

PRIORITY_TO_DAG = "priority-reaches-dag"  # workflow.patched id: a new priority reaches the DAG
KEPT_NOTES = 20  # the changes `status` lists


class RequestPriority:
    def __init__(self, steps: RequestSteps) -> None:
        self.steps = steps
        self.s = steps.s

    def _note(self, priority: int, by: str) -> int:
        """Take `priority`, note who changed it; the previous one."""
        s = self.s
        previous, s.priority = s.priority, priority
        s.priority_changes = [
            *s.priority_changes[-(KEPT_NOTES - 1) :],
            PriorityNote(at=workflow.now(), priority=priority, previous=previous, by=by),
        ]
        return previous

    async def change(self, priority: int, by: str) -> PriorityChanged:
        """An operator's change (the `set_priority` update)."""
        steps, s = self.steps, self.s
        previous = self._note(priority, by)
        await steps.act(
            Activity.UPDATE_REQUEST,
            RequestUpdate(request_name=s.request_name, priority=priority),
            None,
            **options.RECORD,
        )
        if s.status is RequestStatus.QUEUED:
            await steps.signal_admission(
                "set_priority", PriorityChange(request_name=s.request_name, priority=priority)
            )
        elif s.status is RequestStatus.ACTIVE and workflow.patched(PRIORITY_TO_DAG):
            await self.to_dag(priority)
        publish(s)
        return PriorityChanged(priority=priority, previous=previous)

    async def demote(self, step: ProductionStep) -> None:
        """A production step reached: the rest of the DAG runs at the step's priority,
        applied in place the way an operator's change is (no stop, no rescue DAG)."""
        steps, s = self.steps, self.s
        done, total = len(s.completed_work_units), s.progress.work_units_total
        s.production_steps = s.production_steps[1:]
        self._note(
            step.priority,
            f"partial production: {done}/{total} work units reached {step.fraction:.0%}",
        )
        await steps.act(
            Activity.UPDATE_REQUEST,
            RequestUpdate(
                request_name=s.request_name,
                priority=step.priority,
                production_steps=s.production_steps,
            ),
            None,
            **options.RECORD,
        )
        await self.to_dag(step.priority)
        publish(s)

    async def to_dag(self, priority: int) -> None:
        """The running DAG's nodes not yet submitted and its idle jobs get `priority`."""
        steps, s = self.steps, self.s
        if s.dag_file is None:
            return
        try:
            edit = await steps.act(
                Activity.REPRIORITIZE_DAG,
                ReprioritizeInput(
                    request_name=s.request_name, dag_file=s.dag_file, priority=priority
                ),
                IdleEdit,
                **options.SERVICE,
            )
        except ActivityError as e:  # the record has it; the DAG keeps its old priority
            steps.alert("priority_not_applied", f"DAG keeps its priority: {reason(e)}", False)
            return
        workflow.logger.info(
            "request %s: priority %d reached its DAG (%d idle jobs edited)",
            s.request_name,
            priority,
            edit.edited,
        )
