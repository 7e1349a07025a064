"""AdmissionWorkflow: the single global admission queue (workflow id `wms2-admission`).

Requests join with signal-with-start (`enqueue`), wait for an `admitted` signal, and
`release` their slot when they leave ACTIVE or end. The queue is ordered by priority
(highest first), then submission time; the limit of active requests changes by update.
Queue operations cost O(log n) (wms2.lifecycle.admission_queue), and the workflow continues as new
with its queue when its history grows, so thousands of waiting requests stay cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from wms2.capacity import packs
    from wms2.lifecycle.admission_queue import AdmissionQueue
    from wms2.messages import (
        Activity,
        AdmissionEntry,
        AdmissionInput,
        AdmissionState,
        LimitChanged,
        PauseAdmission,
        PriorityChange,
        request_workflow_id,
    )

from workflows.visibility import admission_details

HOLDER_CHECK = "admission-frees-ended-holders"  # workflow.patched id
SCHEDD_CAPACITY = "admission-schedd-capacity"  # workflow.patched id: scheduler-job budget
# workflow.patched id: the budget schedd by schedd (the admitted DAGs and the next must
# pack onto the schedds, none split), so placement finds a schedd with room.
PER_SCHEDD = "admission-per-schedd"
LIMIT_MAX = 2**31 - 1  # an INTEGER, like every count WMS2 stores


@workflow.defn
class AdmissionWorkflow:
    @workflow.init
    def __init__(self, inp: AdmissionInput) -> None:
        # Built from the input before any signal is handled: signal-with-start delivers
        # `enqueue` in the very first activation.
        self.state = inp.state or AdmissionState(limit=inp.limit)
        self.queue = AdmissionQueue(self.state.queue)  # the live queue; state.queue at rest
        self.capacity_on = False  # patched SCHEDD_CAPACITY, decided when the run starts
        self.per_schedd = False  # patched PER_SCHEDD, decided when the run starts

    def _used(self) -> int:
        return sum(self.state.costs.get(name, 1) for name in self.state.active)

    def _capacity_wait(self) -> str | None:
        """Why the next request waits for schedd capacity (None: it does not)."""
        s = self.state
        head = self.queue.peek()
        if not self.capacity_on or s.capacity is None or head is None:
            return None
        used = self._used()
        if not s.active:
            return None  # nothing runs: one request always may
        if self.per_schedd and s.capacities:
            costs = [s.costs.get(name, 1) for name in s.active]
            if packs([*costs, head.cost], s.capacities):
                return None
            return (
                f"schedd capacity: {used} of {s.capacity} scheduler jobs in use on "
                f"{len(s.capacities)} schedd(s); {head.request_name} needs {head.cost} "
                "(its DAGMan and MergeGroup throttle) on one schedd, and none has them free"
            )
        if used + head.cost <= s.capacity:
            return None
        return (
            f"schedd capacity: {used} of {s.capacity} scheduler jobs in use; "
            f"{head.request_name} needs {head.cost} (its DAGMan and MergeGroup throttle)"
        )

    def _show(self) -> None:
        """The Web UI's current details: limit, pause, the queue's head, who holds slots
        (no command: set at every change, read by the page when it asks)."""
        workflow.set_current_details(admission_details(self.snapshot()))

    def _publish(self) -> None:
        self._show()
        meter = workflow.metric_meter()
        meter.create_gauge("wms2_admission_queue_depth", "requests waiting for admission").set(
            len(self.queue)
        )
        meter.create_gauge("wms2_admission_active", "requests holding an admission slot").set(
            len(self.state.active)
        )

    @workflow.run
    async def run(self, inp: AdmissionInput) -> None:
        s = self.state
        admitted_here = 0
        self.capacity_on = workflow.patched(SCHEDD_CAPACITY)
        self.per_schedd = self.capacity_on and workflow.patched(PER_SCHEDD)

        def continue_as_new_due() -> bool:
            limit = inp.continue_as_new_after
            return workflow.info().is_continue_as_new_suggested() or (
                limit is not None and admitted_here >= limit
            )

        while True:

            def ready() -> bool:
                can_admit = s.paused is None and len(s.active) < s.limit
                if can_admit and self.capacity_on and self._capacity_wait() is not None:
                    can_admit = False
                return (len(self.queue) > 0 and can_admit) or continue_as_new_due()

            def head_untold() -> bool:
                """The head waits for capacity and was not told yet."""
                head = self.queue.peek()
                return (
                    self._capacity_wait() is not None
                    and head is not None
                    and head.request_name != s.told_waiting
                )

            def ready_or_tell() -> bool:
                return ready() or head_untold()

            if workflow.patched(HOLDER_CHECK):
                await self._wait_or_free_ended_holders(ready_or_tell, inp.holder_check_sec)
            else:
                await workflow.wait_condition(ready)
            if not ready():
                await self._tell_waiting()
                continue
            if continue_as_new_due():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    AdmissionInput(
                        limit=s.limit,
                        state=self.snapshot(),
                        continue_as_new_after=inp.continue_as_new_after,
                        holder_check_sec=inp.holder_check_sec,
                    )
                )
            self._publish()
            entry = self.queue.pop()
            assert entry is not None  # ready() saw a non-empty queue
            s.active.append(entry.request_name)
            if self.capacity_on:
                s.costs[entry.request_name] = entry.cost
                s.told_waiting = None
                workflow.set_current_details("")
            s.admitted_total += 1
            admitted_here += 1
            try:
                await workflow.get_external_workflow_handle(
                    request_workflow_id(entry.request_name)
                ).signal("admitted")
                workflow.logger.info(
                    "admitted %s (priority %d)", entry.request_name, entry.priority
                )
            except Exception as e:  # the request workflow is gone: free the slot again
                workflow.logger.warning("could not admit %s: %s", entry.request_name, e)
                s.active.remove(entry.request_name)
                s.costs.pop(entry.request_name, None)
            self._publish()

    async def _tell_waiting(self) -> None:
        """The queue's head waits for schedd capacity: say so where operators look (the
        Web UI's current details, the snapshot) and to the request (its status)."""
        why = self._capacity_wait()
        head = self.queue.peek()
        if why is None or head is None:
            return
        self.state.told_waiting = head.request_name
        workflow.set_current_details(f"**waiting**: {why}")
        workflow.logger.info("admission waits: %s", why)
        try:
            await workflow.get_external_workflow_handle(
                request_workflow_id(head.request_name)
            ).signal("admission_wait", why)
        except Exception as e:  # the request is gone: it leaves the queue on release
            workflow.logger.warning("could not tell %s why it waits: %s", head.request_name, e)

    async def _wait_or_free_ended_holders(self, ready: Callable[[], bool], every: float) -> None:
        """Wait until a request can be admitted. While requests wait and every slot is
        held, check the holders every `every` seconds: a holder whose run ended without
        releasing its slot (terminated, crashed) loses it."""
        s = self.state
        while not ready():
            try:
                await workflow.wait_condition(ready, timeout=timedelta(seconds=every))
            except TimeoutError:
                if not len(self.queue):
                    continue
                ended = await workflow.execute_activity(
                    Activity.ENDED_REQUESTS,
                    list(s.active),
                    result_type=list[str],
                    start_to_close_timeout=timedelta(minutes=2),
                    retry_policy=RetryPolicy(maximum_attempts=3),
                )
                for name in ended:
                    if name in s.active:
                        s.active.remove(name)
                        workflow.logger.warning("freed the slot of %s: its run has ended", name)
                self._publish()

    @workflow.signal
    def enqueue(self, entry: AdmissionEntry) -> None:
        s = self.state
        if entry.capacity is not None:
            s.capacity = entry.capacity  # the latest worker's view of the schedds
            s.capacities = entry.capacities
        if entry.request_name in s.active:
            return  # a retried enqueue of an admitted request
        self.queue.put(entry)
        self._show()

    @workflow.signal
    def release(self, request_name: str) -> None:
        s = self.state
        if request_name in s.active:
            s.active.remove(request_name)
        s.costs.pop(request_name, None)
        self.queue.remove(request_name)
        self._publish()

    @workflow.signal
    def set_priority(self, change: PriorityChange) -> None:
        self.queue.set_priority(change.request_name, change.priority)
        self._show()

    @workflow.update
    def set_limit(self, limit: int) -> LimitChanged:
        previous, self.state.limit = self.state.limit, limit
        self._show()
        return LimitChanged(limit=limit, previous=previous)

    @workflow.update
    def pause(self, sig: PauseAdmission) -> AdmissionState:
        """No request is admitted until `resume`; active ones go on, the queue waits."""
        self.state.paused = sig.reason or "operator pause"
        workflow.logger.warning("admission paused: %s", self.state.paused)
        self._show()
        return self.snapshot()

    @workflow.update
    def resume(self) -> AdmissionState:
        self.state.paused = None
        workflow.logger.info("admission resumed")
        self._show()
        return self.snapshot()

    @set_limit.validator
    def _validate_limit(self, limit: int) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= LIMIT_MAX:
            raise ValueError(
                f"admission limit {limit!r} is out of range: it must be an integer "
                f"from 1 to {LIMIT_MAX}"
            )

    @workflow.update
    def set_capacity(self, capacity: int | None) -> AdmissionState:
        """The schedds' scheduler jobs for WMS2 (None: no limit), as an operator knows it."""
        self.state.capacity = capacity
        self.state.capacities = None  # the operator's total, until a worker's next view
        return self.snapshot()

    @workflow.query
    def snapshot(self) -> AdmissionState:
        return self.state.model_copy(
            update={"queue": self.queue.entries(), "waiting_for": self._capacity_wait()}
        )
