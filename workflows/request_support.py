"""Mechanics shared by RequestWorkflow's status handlers: activity calls, transitions
(with records, search attributes and the admission slot), stuck timers and their actions,
and waits that an abort or a stop can interrupt."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from wms2.condor.handles import DagHandle, JobState, JobStatus
    from wms2.lifecycle import STUCK_ACTIONS, StuckAction
    from wms2.messages import (
        ADMISSION_WORKFLOW_ID,
        Activity,
        Alert,
        LifecycleConfig,
        MonitorInput,
        RemoveInput,
        RequestInput,
        RequestState,
        TransitionInput,
        TransitionRecorded,
        TransitionView,
    )
    from wms2.models import RequestStatus

from workflows import options
from workflows.summaries import request_activity
from workflows.visibility import publish

T = TypeVar("T")
S = RequestStatus


def _innermost(err: BaseException) -> BaseException:
    """What an activity failure wraps: the activity's own error."""
    while isinstance(err, ActivityError) and err.cause is not None:
        err = err.cause
    return err


def _reason(err: BaseException) -> str:
    """The innermost message of an activity failure (what the operator needs to read)."""
    err = _innermost(err)
    return str(err.message if isinstance(err, ApplicationError) else err) or type(err).__name__


def _error_type(err: BaseException) -> str | None:
    """The type of the innermost application error of an activity failure."""
    err = _innermost(err)
    return err.type if isinstance(err, ApplicationError) else None


class RequestSupport:
    """Base of RequestWorkflow: state and the mechanics its handlers use."""

    s: RequestState
    inp: RequestInput
    cfg: LifecycleConfig
    config_from_worker: bool  # no config in the input: the worker's settings apply
    stuck_counter: Any
    abort_wins: bool = False  # patched ABORT_ALWAYS_WINS: an absorbed cancellation is seen
    cancel_observed: bool = False  # the cancellation is being handled (the abort runs)
    run_task: asyncio.Task[Any] | None = None

    def _cancel_pending(self) -> bool:
        """A Temporal cancellation arrived that the lifecycle has not acted on. The SDK
        absorbs one that lands while a signal to another workflow (or an activity that
        completes anyway) is pending: the workflow carries on, so every wait and every
        outgoing call looks here."""
        return (
            self.abort_wins
            and not self.cancel_observed
            and workflow.cancellation_reason() is not None
        )

    def _observe_cancellation(self) -> None:
        """Raise the cancellation the SDK absorbed, in the lifecycle's own task: run()
        turns it into the abort."""
        if self._cancel_pending() and asyncio.current_task() is self.run_task:
            raise asyncio.CancelledError()

    def _reject(self, what: str) -> None:
        assert self.s is not None
        self.s.rejected_signals.append(f"{workflow.now().isoformat(timespec='seconds')} {what}")
        workflow.logger.warning("request %s: ignored %s", self.s.request_name, what)

    # ── helpers ────────────────────────────────────────────────────────────────

    async def _act(self, name: Activity, arg: Any, result_type: type[T] | None, **opts: Any) -> T:
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
            if isinstance(_innermost(e), CancelledError):
                self._observe_cancellation()
            raise
        self._observe_cancellation()  # the activity completed although it was cancelled
        return result

    async def _internal_step(
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
        call = self._act(
            name,
            arg,
            result_type,
            schedule_to_close_timeout=timedelta(seconds=deadline) if deadline else None,
            **options.SERVICE,
        )
        try:
            return await self._interruptible(call)
        except ActivityError as e:
            if _error_type(e) in raises:
                raise
            ours = not_ours is None or _error_type(e) != not_ours
            await self._transition(S.FAILED, f"{what} failed: {_reason(e)}", record=ours)
            return None

    async def _probe(self, name: Activity, arg: Any, result_type: type[T]) -> T | None:
        """A probe that may fail (the scheduler may be gone): None instead of an error."""
        try:
            return await self._act(name, arg, result_type, **options.PROBE)
        except ActivityError as e:
            workflow.logger.warning(
                "request %s: %s failed: %s", self.s.request_name, name.value, _reason(e)
            )
            return None

    async def _transition(self, to: RequestStatus, reason: str = "", record: bool = True) -> None:
        s = self.s
        assert s is not None
        previous = s.status if s.transitions else None
        # Leaving ACTIVE frees the admission slot; ending also drops a queued entry.
        leaving_slot = (s.admitted and to in (S.STOPPING, S.PARTIAL)) or (
            s.enqueued and to.is_terminal
        )
        s.status, s.status_since, s.stuck = to, workflow.now(), False
        if to is S.FAILED and s.failure_reason is None:
            s.failure_reason = reason
        s.transitions.append(
            TransitionView(from_status=previous, to_status=to, at=s.status_since, reason=reason)
        )
        workflow.logger.info(
            "request %s: %s -> %s (%s)", s.request_name, previous, to.value, reason
        )
        # No "_total" suffix: the SDK's Prometheus exporter adds none and drops such names.
        workflow.metric_meter().create_counter(
            "wms2_request_transitions", "request status transitions"
        ).add(1, {"to_status": to.value})
        publish(s)
        if previous is not None and record:
            answer = await self._act(
                Activity.RECORD_TRANSITION,
                TransitionInput(request_name=s.request_name, to_status=to, reason=reason),
                None,  # a bool from workers before the answer carried the settings
                **options.RECORD,
            )
            if self.config_from_worker and isinstance(answer, dict):
                self._take_config(TransitionRecorded.model_validate(answer).config)
        if leaving_slot:
            s.admitted = False
            s.enqueued = not to.is_terminal
            await self._signal_admission("release", s.request_name)

    def _take_config(self, config: LifecycleConfig) -> None:
        """The worker's settings from now on (kept in the state across continue-as-new)."""
        self.cfg = self.s.config = config

    async def _signal_admission(self, signal: str, arg: Any) -> None:
        handle = workflow.get_external_workflow_handle(ADMISSION_WORKFLOW_ID)
        try:
            await handle.signal(signal, arg)
        except Exception as e:  # admission not running: nothing to tell it
            workflow.logger.warning(
                "admission %s signal for %s failed: %s", signal, self.s.request_name, e
            )  # type: ignore[union-attr]
        self._observe_cancellation()

    def _deadline(self) -> datetime | None:
        s = self.s
        assert s is not None and s.status_since is not None
        seconds = self.cfg.timeout(s.status)
        return None if seconds is None else s.status_since + timedelta(seconds=seconds)

    def _overdue(self) -> bool:
        deadline = self._deadline()
        return deadline is not None and workflow.now() >= deadline and not self.s.stuck  # type: ignore[union-attr]

    def _alert(self, kind: str, message: str, stuck: bool = True) -> None:
        """Record an alert; `stuck` ones are the status timer's and mark the request."""
        s = self.s
        assert s is not None
        s.alerts.append(Alert(kind=kind, status=s.status, message=message, at=workflow.now()))
        s.stuck = s.stuck or stuck
        workflow.logger.error("ALERT [%s] request %s: %s", kind, s.request_name, message)
        if stuck and self.stuck_counter is not None:
            self.stuck_counter.add(1, {"status": s.status.value, "kind": kind})
        publish(s)

    async def _wait(self, condition: Callable[[], bool]) -> bool:
        """Wait for `condition` (or an abort/catastrophic restart); on the status timeout,
        apply its stuck action once and keep waiting. False if interrupted."""
        s = self.s
        assert s is not None
        self._observe_cancellation()
        while True:
            deadline = self._deadline()
            timeout = (
                None
                if deadline is None or s.stuck
                else max(deadline - workflow.now(), timedelta(seconds=1))
            )
            try:
                await workflow.wait_condition(lambda: condition() or s.interrupted, timeout=timeout)
            except TimeoutError:
                await self._on_stuck()
                if s.status.is_terminal:
                    return False
                continue
            return not s.interrupted

    async def _interruptible(self, call: Awaitable[T], stop_too: bool = False) -> T | None:
        """Run an activity call; cancel it when an abort (or, if asked, a stop) arrives."""
        s = self.s
        assert s is not None
        self._observe_cancellation()
        task = asyncio.ensure_future(call)

        def interrupted() -> bool:
            return s.interrupted or (stop_too and s.stop_reason is not None)

        try:
            await workflow.wait_condition(lambda: task.done() or interrupted())
        except asyncio.CancelledError:  # the workflow itself is cancelled: so is the call
            await self._cancel(task)
            raise
        if task.done():
            return task.result()
        await self._cancel(task)
        return None

    @staticmethod
    async def _cancel(task: asyncio.Future[Any]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ActivityError):
            await task

    async def _on_stuck(self) -> None:
        s = self.s
        assert s is not None
        action = STUCK_ACTIONS.get(s.status)
        waited = f"{(workflow.now() - s.status_since).total_seconds():.0f} s"  # type: ignore[operator]
        if action is StuckAction.FAIL:
            self._alert("stuck", f"{s.status.value} for {waited}")
            await self._transition(S.FAILED, f"stuck in {s.status.value} for {waited}")
        elif action is StuckAction.ALERT:
            self._alert("stuck_in_queue", f"queued for {waited}")
        elif action is StuckAction.PROBE_PILOT:
            status = await self._probe(Activity.QUERY_JOB, s.pilot, JobStatus) if s.pilot else None
            if status is None:
                self._alert(
                    "pilot_probe_failed",
                    f"pilot running for {waited}; the scheduler does not answer",
                )
            elif status.state is JobState.MISSING:
                self._alert("pilot_vanished", f"pilot gone after {waited}")
                await self._transition(S.FAILED, "pilot job vanished without completing")
            else:
                self._alert("slow_pilot", f"pilot still {status.state.value} after {waited}")
        elif action is StuckAction.PROBE_SCHEDD:
            if await self._probe(Activity.PING_BACKEND, None, bool):
                self._alert("slow_dag", f"DAG active for {waited}; the schedd answers")
            else:
                self._alert(
                    "schedd_unreachable",
                    f"schedd unreachable after {waited}: a catastrophic restart may be needed",
                )
        elif action is StuckAction.RETRY_REMOVAL:
            self._alert(
                "stuck_stopping", f"DAGMan still present {waited} after removal; removing again"
            )
            if s.dag is not None:
                remove = RemoveInput(
                    request_name=s.request_name, dag=s.dag, reason="retry after stuck stop"
                )
                await self._probe(Activity.REMOVE_DAG, remove, bool)

    def _monitor_input(self) -> MonitorInput:
        """What monitoring (and waiting for DAGMan to exit) needs, from the state."""
        s = self.s
        assert s.dag is not None
        return MonitorInput(
            request_name=s.request_name,
            dag=s.dag,
            attempt=s.dag_attempt,
            known_work_units=s.completed_work_units,
            max_seconds=self.cfg.monitor_window_sec,
            poll_seconds=self.cfg.poll_sec,
        )

    def _monitor_opts(self) -> dict[str, Any]:
        return options.long_running(self.cfg.monitor_window_sec, self.cfg.heartbeat_sec)

    async def _remove_running(self, reason: str) -> bool:
        """Remove the DAG (or the pilot) that runs now; True if it was a DAG."""
        s = self.s
        assert s is not None
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
        removal = RemoveInput(request_name=s.request_name, dag=target, reason=reason)
        try:
            try:
                await self._act(Activity.REMOVE_DAG, removal, bool, **options.PROBE)
            except ActivityError as e:
                if not isinstance(_innermost(e), CancelledError):
                    raise
                # A Temporal cancellation reached the removal itself (an abort signal and
                # a cancel together): the cancellation is delivered; remove again.
                await self._act(Activity.REMOVE_DAG, removal, bool, **options.PROBE)
        except ActivityError as e:  # the schedd may be gone: aborting must still finish
            workflow.logger.warning(
                "request %s: removal on abort failed: %s", s.request_name, _reason(e)
            )
            return False
        return target is s.dag
