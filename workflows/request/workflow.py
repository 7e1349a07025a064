"""RequestWorkflow: one CMS request's lifecycle, from import to a terminal status.

The workflow is a loop over the request's status; each status has one short handler
that hands the work to a part the workflow owns (intake, pilot, planning, the DAG run,
the output feed, restarts), and returns once the status changed. All state lives in
RequestState so continue-as-new resumes anywhere. The parts share one RequestSteps
(activity calls, transitions, alerts, deadlines); none of them inherits from another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError, CancelledError, FailureError

with workflow.unsafe.imports_passed_through():
    from wms2.failures.model import FailureReport
    from wms2.messages import (
        AbortSignal,
        Activity,
        DagNews,
        LifecycleConfig,
        PriorityChanged,
        PriorityRequest,
        RequestInput,
        RequestResult,
        RequestState,
        RestartRequest,
        StopSignal,
    )
    from wms2.models import RequestStatus, check_priority
    from wms2.outputs.messages import OutputProgress
    from wms2.unit_names import pack, unpack

from workflows import options
from workflows.errors import innermost, reason
from workflows.request.dag_run import DagRun
from workflows.request.intake import Intake
from workflows.request.output_feed import OutputFeed
from workflows.request.pilot import Pilot
from workflows.request.planning import Planning
from workflows.request.priority import RequestPriority
from workflows.request.restarts import Restarts
from workflows.request.steps import RequestSteps
from workflows.signal_inputs import read_signal
from workflows.visibility import publish

S = RequestStatus
FAILED_FAILS_WORKFLOW = "failed-fails-workflow"  # workflow.patched id
CANCEL_IN_ANY_ACTIVITY = "cancel-in-any-activity"  # workflow.patched id
ABORT_ALWAYS_WINS = "abort-always-wins"  # workflow.patched id: absorbed cancellations seen
PACK_CARRIED_UNITS = "pack-carried-units"  # workflow.patched id: continue-as-new packs names


@workflow.defn
class RequestWorkflow:
    @workflow.init
    def __init__(self, inp: RequestInput) -> None:
        # State exists before any signal, query or update is handled.
        self.inp = inp
        self.resumed = inp.state is not None
        if inp.state is not None and inp.state.completed_packed is not None:
            # What the previous run carried packed (PACK_CARRIED_UNITS).
            inp.state.completed_work_units = [
                *unpack(inp.state.completed_packed),
                *inp.state.completed_work_units,
            ]
            inp.state.completed_packed = None
        self.s: RequestState = inp.state or RequestState(
            request_name=inp.request_name,
            urgent=bool(inp.urgent),
            previous_version_request=inp.previous_version_request,
        )
        self.s.search_published = None  # each run upserts its search attributes once
        cfg = inp.config or (inp.state and inp.state.config) or LifecycleConfig()
        self.steps = RequestSteps(self.s, cfg, config_from_worker=inp.config is None)
        self.priority = RequestPriority(self.steps)
        self.outputs = OutputFeed(self.steps)
        self.dag = DagRun(self.steps, self.outputs, self.priority)
        self.restarts = Restarts(self.steps, self.dag)
        self.intake = Intake(self.steps, self.dag, inp)
        self.pilot = Pilot(self.steps)
        self.planning = Planning(self.steps, self.dag)

    # ── entry ────────────────────────────────────────────────────────────────

    @workflow.run
    async def run(self, inp: RequestInput) -> RequestResult:
        steps = self.steps
        # An abort wins over whatever the request does when it arrives (a cancellation
        # the SDK absorbed in a pending signal let requests complete instead).
        steps.start(abort_wins=workflow.patched(ABORT_ALWAYS_WINS))
        if steps.config_from_worker and self.s.config is None:
            # Started without settings (starter.py, the temporal CLI, a schedule): the
            # worker's, as every request gets them, whoever started it.
            steps.take_config(
                await steps.act(Activity.WORKER_SETTINGS, None, LifecycleConfig, **options.RECORD)
            )
        if self.resumed:
            publish(self.s)
        else:
            await steps.transition(S.SUBMITTED, "submitted")
        try:
            await self._lifecycle()
        except asyncio.CancelledError:
            steps.cancel_observed = True
            # Temporal's cancellation (the Web UI's button, `temporal workflow cancel`) is
            # an abort: the DAG is removed, the records say ABORTED and the slot is freed
            # before the workflow ends as Canceled.
            await self._abort_on_cancellation()
            raise
        except FailureError as e:
            if (
                isinstance(innermost(e), CancelledError)
                and workflow.cancellation_reason() is not None
                and workflow.patched(CANCEL_IN_ANY_ACTIVITY)
            ):
                # The cancellation interrupted an activity (recording a transition, say):
                # still an abort, never a failure.
                steps.cancel_observed = True
                await self._abort_on_cancellation()
                raise asyncio.CancelledError() from e
            # Never left running with a dead loop: fail on the record, free the slot.
            await self._fail_unexpectedly(e)
        await self.outputs.close()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._result()

    async def _lifecycle(self) -> None:
        """Each status's handler until the request is terminal (or continues as new)."""
        handlers: dict[RequestStatus, Callable[[], Awaitable[None]]] = {
            S.SUBMITTED: self.intake.import_request,
            S.QUEUED: self.intake.queue,
            S.PILOT_RUNNING: self.pilot.run,
            S.PLANNING: self.planning.run,
            S.ACTIVE: self._active,
            S.STOPPING: self.restarts.stop,
            S.RESUBMITTING: self.restarts.resubmit,
            S.PARTIAL: self.restarts.await_restart,
        }
        s = self.s
        while not s.status.is_terminal:
            self.steps.observe_cancellation()
            if s.abort_reason is not None:
                await self.restarts.abort()
                return
            if s.restart is not None and s.restart.catastrophic:
                await self.restarts.catastrophic()
                return
            await handlers[s.status]()
            if self.steps.continue_as_new_due():
                await workflow.wait_condition(workflow.all_handlers_finished)
                carried = s
                if workflow.patched(PACK_CARRIED_UNITS):
                    # The unit names packed: a 10,000-unit request's next run starts with
                    # bytes, not the 130 kB the names weigh.
                    carried = s.model_copy(
                        update={
                            "completed_work_units": [],
                            "completed_packed": pack(s.completed_work_units),
                        }
                    )
                workflow.continue_as_new(
                    RequestInput(
                        request_name=s.request_name,
                        config=None if self.steps.config_from_worker else self.steps.cfg,
                        state=carried,
                    )
                )

    async def _active(self) -> None:
        assert self.s.dag is not None
        if self.s.dag_completed:  # restarted for its failed outputs: no DAG to watch
            await self.outputs.retry_failed()
        else:
            await self.dag.watch()

    async def _abort_on_cancellation(self) -> None:
        s = self.s
        if s.status.is_terminal:
            return
        if s.abort_reason is None:
            s.abort_reason = s.cancel_reason or (
                "cancellation requested through Temporal (Web UI or temporal workflow cancel)"
            )
        await self.restarts.abort()
        await self.outputs.close()

    async def _fail_unexpectedly(self, error: FailureError) -> None:
        s = self.s
        workflow.logger.exception("request %s: unexpected failure", s.request_name)
        if s.status.is_terminal:
            return
        message = f"unexpected failure in {s.status.value}: {reason(error)}"
        self.steps.alert("internal_error", message, stuck=False)
        await self.steps.remove_running("request failed unexpectedly")
        await self.steps.transition(S.FAILED, message)

    def _result(self) -> RequestResult:
        s = self.s
        result = RequestResult(
            request_name=s.request_name,
            status=s.status,
            reason=s.failure_reason,
            work_units_done=len(s.completed_work_units),
            superseded_by_request=s.superseded_by_request,
        )
        if result.status is S.FAILED and workflow.patched(FAILED_FAILS_WORKFLOW):
            # Temporal's outcome agrees with the record: the Web UI lists it as Failed,
            # with the reason; the result rides along as the error's details.
            raise ApplicationError(
                f"request {result.request_name} FAILED: {result.reason}",
                result,
                type="RequestFailed",
                non_retryable=True,
            )
        return result

    # ── signals, updates, queries ──────────────────────────────────────────────

    @workflow.signal
    def admitted(self) -> None:
        if self.s.status is S.QUEUED:
            self.s.admitted = True
            self.s.waiting_for = None
        else:
            self.steps.reject(f"admitted while {self.s.status.value}")

    @workflow.signal
    def admission_wait(self, why: str) -> None:
        """From admission: why this request, next in its queue, is not admitted yet (schedd
        capacity); shown by its status and in the Web UI until it is admitted."""
        if self.s.status is S.QUEUED:
            self.s.waiting_for = why
            publish(self.s)

    @workflow.signal
    def stop(self, raw: Any = None) -> None:
        sig = read_signal(StopSignal, raw)
        if isinstance(sig, str):
            self.steps.reject(f"stop: {sig}")
        elif self.s.status is S.ACTIVE and self.s.stop_reason is None:
            self.s.stop_reason = sig.reason
            self.s.stop_for_step = False
            if sig.hold:
                self.s.hold = sig.reason
        else:
            self.steps.reject(
                f"stop ({sig.reason}) while {self.s.status.value}: only an ACTIVE request stops"
            )

    @workflow.signal
    def release(self) -> None:
        """Let a request stopped with `hold` back into admission."""
        if self.s.hold is None:
            self.steps.reject(f"release while {self.s.status.value}: the request is not held")
        else:
            self.s.hold = None

    @workflow.signal
    def restart(self, raw: Any = None) -> None:
        req = read_signal(RestartRequest, raw)
        if isinstance(req, str):
            self.steps.reject(f"restart: {req}")
            return
        status = self.s.status
        if (req.catastrophic and not status.is_terminal and status is not S.SUBMITTED) or (
            not req.catastrophic and status is S.PARTIAL
        ):
            self.s.restart = req
        else:
            kind = "catastrophic restart" if req.catastrophic else "restart"
            self.steps.reject(f"{kind} while {status.value}: a restart resumes a PARTIAL request")

    @workflow.signal
    def abort(self, raw: Any = None) -> None:
        sig = read_signal(AbortSignal, raw)
        if isinstance(sig, str):
            self.steps.reject(f"abort: {sig}")
        elif self.s.status.is_terminal:
            self.steps.reject(f"abort while {self.s.status.value}")
        elif self.s.abort_reason is None:
            self.s.abort_reason = sig.reason

    @workflow.signal
    def abort_reason(self, raw: Any = None) -> None:
        """The reason of the cancellation that follows (`starter.py abort`): a cancelled
        workflow is the one Temporal shows as Canceled, and a cancellation has no reason."""
        sig = read_signal(AbortSignal, raw)
        if isinstance(sig, str):
            self.steps.reject(f"abort_reason: {sig}")
        else:
            self.s.cancel_reason = sig.reason

    @workflow.update
    async def set_priority(self, raw: Any) -> PriorityChanged:
        """An integer, or {"priority": N, "by": who}; answers the new and previous value."""
        asked = PriorityRequest.read(raw)
        return await self.priority.change(asked.priority, asked.by)

    @set_priority.validator
    def _validate_priority(self, raw: Any) -> None:
        check_priority(PriorityRequest.read(raw).priority)
        if self.s.status.is_terminal:
            raise ValueError(f"request is {self.s.status.value}: its priority can no longer change")

    @workflow.signal
    def dag_news(self, news: DagNews) -> None:
        """From the DAG tracker: what changed in the DAG (read by the ACTIVE loop)."""
        self.dag.take_news(news)

    @workflow.signal
    def output_progress(self, progress: OutputProgress) -> None:
        """From an OutputWorkflow child: its counts by state, failures, alerts."""
        self.outputs.take_progress(progress)

    @workflow.query
    def status(self) -> RequestState:
        return self.s

    @workflow.query
    def failure_report(self) -> FailureReport | None:
        """The failure report of the DAG's last end with failures (None: none yet)."""
        return self.s.failure_report
