"""The steps every part of a request workflow takes: activity calls, transitions (with
records, search attributes and the admission slot), alerts, deadlines and the stuck
timer's actions, waits that an abort or a stop interrupts, removal of what runs, and the
one place a Temporal cancellation the SDK absorbed is seen."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, CancelledError

with workflow.unsafe.imports_passed_through():
    from wms2.condor.handles import DagHandle, JobState, JobStatus
    from wms2.lifecycle.decisions import STUCK_ACTIONS, StuckAction
    from wms2.messages import (
        ADMISSION_WORKFLOW_ID,
        Activity,
        Alert,
        LifecycleConfig,
        MonitorInput,
        RemoveInput,
        RequestState,
        TransitionInput,
        TransitionRecorded,
        TransitionView,
    )
    from wms2.models import RequestStatus
    from wms2.unit_names import pack

from workflows import options
from workflows.errors import error_type, innermost, reason
from workflows.summaries import request_activity
from workflows.visibility import publish

PACK_KNOWN_ABOVE = 1000  # work units a DAG check is told by name; more go packed

T = TypeVar("T")
S = RequestStatus


class RequestSteps:
    """Owned by RequestWorkflow and shared by its parts. `cfg` is the lifecycle's timing:
    the worker's settings unless the request's input fixed them."""

    def __init__(self, state: RequestState, cfg: LifecycleConfig, config_from_worker: bool):
        self.s = state
        self.cfg = cfg
        self.config_from_worker = config_from_worker
        self.stuck_counter: Any = None
        self.abort_wins = False  # patched ABORT_ALWAYS_WINS: an absorbed cancellation is seen
        self.cancel_observed = False  # the cancellation is being handled (the abort runs)
        self.run_task: asyncio.Task[Any] | None = None

    def start(self, abort_wins: bool) -> None:
        """Called once from the workflow's run (metrics and tasks exist only there)."""
        self.abort_wins = abort_wins
        self.run_task = asyncio.current_task()
        self.stuck_counter = workflow.metric_meter().create_counter(
            "wms2_request_stuck", "requests that exceeded their status timeout"
        )

    # ── cancellations ──────────────────────────────────────────────────────────

    def cancel_pending(self) -> bool:
        """A Temporal cancellation arrived that the lifecycle has not acted on. The SDK
        absorbs one that lands while a signal to another workflow (or an activity that
        completes anyway) is pending: the workflow carries on, so every wait and every
        outgoing call looks here."""
        return (
            self.abort_wins
            and not self.cancel_observed
            and workflow.cancellation_reason() is not None
        )

    def observe_cancellation(self) -> None:
        """Raise the cancellation the SDK absorbed, in the lifecycle's own task: the
        workflow's run turns it into the abort."""
        if self.cancel_pending() and asyncio.current_task() is self.run_task:
            raise asyncio.CancelledError()

    # ── activities ─────────────────────────────────────────────────────────────

    async def act(self, name: Activity, arg: Any, result_type: type[T] | None, **opts: Any) -> T:
        args = [] if arg is None else [arg]
        try:
            result = await workflow.execute_activity(
                name,
                args=args,
                result_type=result_type,
                summary=request_activity(name, arg),
                **opts,
            )
        except ActivityError as e:
            if isinstance(innermost(e), CancelledError):
                self.observe_cancellation()
            raise
        self.observe_cancellation()  # the activity completed although it was cancelled
        return result

    async def internal_step(
        self,
        name: Activity,
        arg: Any,
        result_type: type[T],
        what: str,
        not_ours: str | None = None,
        raises: tuple[str, ...] = (),
    ) -> T | None:
        """The one activity of an internal status (SUBMITTED, PLANNING), bounded by that
        status's stuck timeout; on failure the request is FAILED with the reason (DD-10).
        None when it failed or an abort interrupted it. A failure of type `not_ours` says
        the records belong to another run: this run fails without writing to them. A
        failure of type `raises` is the caller's to handle: it is raised."""
        deadline = self.cfg.timeout(self.s.status)
        call = self.act(
            name,
            arg,
            result_type,
            schedule_to_close_timeout=timedelta(seconds=deadline) if deadline else None,
            **options.SERVICE,
        )
        try:
            return await self.interruptible(call)
        except ActivityError as e:
            if error_type(e) in raises:
                raise
            ours = not_ours is None or error_type(e) != not_ours
            await self.transition(S.FAILED, f"{what} failed: {reason(e)}", record=ours)
            return None

    async def fail_on_error(self, call: Awaitable[T], what: str) -> T | None:
        """An activity whose failure fails the request (`what failed: reason`)."""
        try:
            return await call
        except ActivityError as e:
            await self.transition(S.FAILED, f"{what}: {reason(e)}")
            return None

    async def probe(self, name: Activity, arg: Any, result_type: type[T]) -> T | None:
        """A probe that may fail (the scheduler may be gone): None instead of an error."""
        try:
            return await self.act(name, arg, result_type, **options.PROBE)
        except ActivityError as e:
            workflow.logger.warning(
                "request %s: %s failed: %s", self.s.request_name, name.value, reason(e)
            )
            return None

    # ── status changes, alerts, the admission slot ─────────────────────────────

    async def transition(self, to: RequestStatus, why: str = "", record: bool = True) -> None:
        s = self.s
        previous = s.status if s.transitions else None
        # Leaving ACTIVE frees the admission slot; ending also drops a queued entry.
        leaving_slot = (s.admitted and to in (S.STOPPING, S.PARTIAL)) or (
            s.enqueued and to.is_terminal
        )
        s.status, s.status_since, s.stuck = to, workflow.now(), False
        if to is S.FAILED and s.failure_reason is None:
            s.failure_reason = why
        s.transitions.append(
            TransitionView(from_status=previous, to_status=to, at=s.status_since, reason=why)
        )
        workflow.logger.info("request %s: %s -> %s (%s)", s.request_name, previous, to.value, why)
        # No "_total" suffix: the SDK's Prometheus exporter adds none and drops such names.
        workflow.metric_meter().create_counter(
            "wms2_request_transitions", "request status transitions"
        ).add(1, {"to_status": to.value})
        publish(s)
        if previous is not None and record:
            answer = await self.act(
                Activity.RECORD_TRANSITION,
                TransitionInput(request_name=s.request_name, to_status=to, reason=why),
                None,  # a bool from workers before the answer carried the settings
                **options.RECORD,
            )
            if self.config_from_worker and isinstance(answer, dict):
                self.take_config(TransitionRecorded.model_validate(answer).config)
        if leaving_slot:
            s.admitted = False
            s.enqueued = not to.is_terminal
            await self.signal_admission("release", s.request_name)

    def take_config(self, config: LifecycleConfig) -> None:
        """The worker's settings from now on (kept in the state across continue-as-new)."""
        self.cfg = self.s.config = config

    async def signal_admission(self, signal: str, arg: Any) -> None:
        handle = workflow.get_external_workflow_handle(ADMISSION_WORKFLOW_ID)
        try:
            await handle.signal(signal, arg)
        except Exception as e:  # admission not running: nothing to tell it
            workflow.logger.warning(
                "admission %s signal for %s failed: %s", signal, self.s.request_name, e
            )
        self.observe_cancellation()

    def reject(self, what: str) -> None:
        """A signal that does not apply now: listed as ignored, never an error."""
        self.s.rejected_signals.append(f"{workflow.now().isoformat(timespec='seconds')} {what}")
        workflow.logger.warning("request %s: ignored %s", self.s.request_name, what)

    def alert(self, kind: str, message: str, stuck: bool = True) -> None:
        """Record an alert; `stuck` ones are the status timer's and mark the request."""
        s = self.s
        s.alerts.append(Alert(kind=kind, status=s.status, message=message, at=workflow.now()))
        s.stuck = s.stuck or stuck
        workflow.logger.error("ALERT [%s] request %s: %s", kind, s.request_name, message)
        if stuck and self.stuck_counter is not None:
            self.stuck_counter.add(1, {"status": s.status.value, "kind": kind})
        publish(s)

    # ── deadlines and waits ────────────────────────────────────────────────────

    def deadline(self) -> datetime | None:
        s = self.s
        assert s.status_since is not None
        seconds = self.cfg.timeout(s.status)
        return None if seconds is None else s.status_since + timedelta(seconds=seconds)

    def overdue(self) -> bool:
        deadline = self.deadline()
        return deadline is not None and workflow.now() >= deadline and not self.s.stuck

    def continue_as_new_due(self) -> bool:
        return options.continue_as_new_due(self.cfg.continue_as_new_after_events)

    async def wait(self, condition: Callable[[], bool]) -> bool:
        """Wait for `condition` (or an abort/catastrophic restart); on the status timeout,
        apply its stuck action once and keep waiting. False if interrupted."""
        s = self.s
        self.observe_cancellation()
        while True:
            deadline = self.deadline()
            timeout = (
                None
                if deadline is None or s.stuck
                else max(deadline - workflow.now(), timedelta(seconds=1))
            )
            try:
                await workflow.wait_condition(lambda: condition() or s.interrupted, timeout=timeout)
            except TimeoutError:
                await self.on_stuck()
                if s.status.is_terminal:
                    return False
                continue
            return not s.interrupted

    async def interruptible(self, call: Awaitable[T], stop_too: bool = False) -> T | None:
        """Run an activity call; cancel it when an abort (or, if asked, a stop) arrives."""
        s = self.s
        self.observe_cancellation()
        task = asyncio.ensure_future(call)

        def interrupted() -> bool:
            return s.interrupted or (stop_too and s.stop_reason is not None)

        try:
            await workflow.wait_condition(lambda: task.done() or interrupted())
        except asyncio.CancelledError:  # the workflow itself is cancelled: so is the call
            await self.cancel(task)
            raise
        if task.done():
            return task.result()
        await self.cancel(task)
        return None

    @staticmethod
    async def cancel(task: asyncio.Future[Any]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ActivityError):
            await task

    async def on_stuck(self) -> None:
        s = self.s
        assert s.status_since is not None
        action = STUCK_ACTIONS.get(s.status)
        waited = f"{(workflow.now() - s.status_since).total_seconds():.0f} s"
        if action is StuckAction.FAIL:
            self.alert("stuck", f"{s.status.value} for {waited}")
            await self.transition(S.FAILED, f"stuck in {s.status.value} for {waited}")
        elif action is StuckAction.ALERT:
            self.alert("stuck_in_queue", f"queued for {waited}")
        elif action is StuckAction.PROBE_PILOT:
            status = await self.probe(Activity.QUERY_JOB, s.pilot, JobStatus) if s.pilot else None
            if status is None:
                self.alert(
                    "pilot_probe_failed",
                    f"pilot running for {waited}; the scheduler does not answer",
                )
            elif status.state is JobState.MISSING:
                self.alert("pilot_vanished", f"pilot gone after {waited}")
                await self.transition(S.FAILED, "pilot job vanished without completing")
            else:
                self.alert("slow_pilot", f"pilot still {status.state.value} after {waited}")
        elif action is StuckAction.PROBE_SCHEDD:
            if await self.probe(Activity.PING_BACKEND, None, bool):
                self.alert("slow_dag", f"DAG active for {waited}; the schedd answers")
            else:
                self.alert(
                    "schedd_unreachable",
                    f"schedd unreachable after {waited}: a catastrophic restart may be needed",
                )
        elif action is StuckAction.RETRY_REMOVAL:
            self.alert(
                "stuck_stopping", f"DAGMan still present {waited} after removal; removing again"
            )
            if s.dag is not None:
                remove = RemoveInput(
                    request_name=s.request_name, dag=s.dag, reason="retry after stuck stop"
                )
                await self.probe(Activity.REMOVE_DAG, remove, bool)

    # ── the DAG or pilot that runs ─────────────────────────────────────────────

    def monitor_input(self) -> MonitorInput:
        """What monitoring (and waiting for DAGMan to exit) needs, from the state."""
        s = self.s
        assert s.dag is not None
        # Many units go packed: each check's input is in the history (activity inputs are
        # not part of replay, so this needs no patch).
        many = len(s.completed_work_units) > PACK_KNOWN_ABOVE
        return MonitorInput(
            request_name=s.request_name,
            dag=s.dag,
            attempt=s.dag_attempt,
            known_work_units=[] if many else s.completed_work_units,
            known_packed=pack(s.completed_work_units) if many else None,
            max_seconds=self.cfg.monitor_window_sec,
            poll_seconds=self.cfg.poll_sec,
        )

    def monitor_opts(self) -> dict[str, Any]:
        return options.long_running(self.cfg.monitor_window_sec, self.cfg.heartbeat_sec)

    async def remove_running(self, why: str) -> bool:
        """Remove the DAG (or the pilot) that runs now; True if it was a DAG."""
        s = self.s
        target = s.dag if s.status in (S.ACTIVE, S.STOPPING) else None
        if s.dag_submitting and s.dag_file is not None:
            # Interrupted while submitting: whatever DAGMan runs the DAG file goes.
            target = DagHandle(backend="", cluster_id="", schedd="", dag_file=s.dag_file)
        if target is None and s.status is S.PILOT_RUNNING and s.pilot is not None:
            target = DagHandle(
                backend=s.pilot.backend,
                cluster_id=s.pilot.cluster_id,
                schedd=s.pilot.schedd,
                dag_file=s.pilot.submit_file,
            )
        if target is None:
            return False
        removal = RemoveInput(request_name=s.request_name, dag=target, reason=why)
        try:
            try:
                await self.act(Activity.REMOVE_DAG, removal, bool, **options.PROBE)
            except ActivityError as e:
                if not isinstance(innermost(e), CancelledError):
                    raise
                # A Temporal cancellation reached the removal itself (an abort signal and
                # a cancel together): the cancellation is delivered; remove again.
                await self.act(Activity.REMOVE_DAG, removal, bool, **options.PROBE)
        except ActivityError as e:  # the schedd may be gone: aborting must still finish
            workflow.logger.warning(
                "request %s: removal on abort failed: %s", s.request_name, reason(e)
            )
            return False
        return target is s.dag
