"""RequestWorkflow: one CMS request's lifecycle, from import to a terminal status.

The workflow is a loop over the request's status; each status has one handler that
returns once the status changed. All state lives in RequestState so continue-as-new
resumes anywhere. Side effects are activities, called by name (wms2.messages.Activity).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    FailureError,
)

with workflow.unsafe.imports_passed_through():
    from wms2.condor.handles import DagHandle, JobHandle
    from wms2.lifecycle import (
        DagOutcome,
        dag_outcome,
        production_step_reached,
    )
    from wms2.messages import (
        AbortSignal,
        Activity,
        AwaitJobInput,
        AwaitJobResult,
        DagNews,
        EnqueueInput,
        ImportInput,
        ImportResult,
        LifecycleConfig,
        MonitorResult,
        PilotInput,
        PlanInput,
        PlanResult,
        PriorityChanged,
        PriorityRequest,
        RequestInput,
        RequestResult,
        RequestState,
        RestartRequest,
        StopSignal,
        SubmitDagInput,
        merge_news,
    )
    from wms2.models import PilotMetrics, RequestStatus, check_priority
    from wms2.outputs.messages import OutputProgress

from workflows import options
from workflows.request_priority import RequestPriority
from workflows.request_restarts import RequestRestarts
from workflows.request_support import _error_type, _innermost, _reason
from workflows.signal_inputs import read_signal
from workflows.staging import STAGE_TAPE_INPUT, InputStaging, Staged
from workflows.visibility import publish

T = TypeVar("T")
S = RequestStatus
MAX_DAGMAN_LOSSES = 3  # then an operator looks (PARTIAL)
FAILED_FAILS_WORKFLOW = "failed-fails-workflow"  # workflow.patched id
DAG_TRACKER = "dag-tracker"  # workflow.patched id: news from the tracker, not monitor_dag
CANCEL_IN_ANY_ACTIVITY = "cancel-in-any-activity"  # workflow.patched id
SITE_WAIT = "site-wait"  # workflow.patched id: no usable site means wait, not fail
DEMOTE_IN_PLACE = "demote-in-place"  # workflow.patched id: production steps keep the DAG
ABORT_ALWAYS_WINS = "abort-always-wins"  # workflow.patched id: absorbed cancellations seen


@workflow.defn
class RequestWorkflow(RequestRestarts):
    @workflow.init
    def __init__(self, inp: RequestInput) -> None:
        # State exists before any signal, query or update is handled.
        self.inp = inp
        self.config_from_worker = inp.config is None
        self.cfg = inp.config or (inp.state and inp.state.config) or LifecycleConfig()
        self.resumed = inp.state is not None
        self.s: RequestState = inp.state or RequestState(
            request_name=inp.request_name,
            urgent=bool(inp.urgent),
            previous_version_request=inp.previous_version_request,
        )
        self.stuck_counter: Any = None
        self.staging = InputStaging(self)
        self.priority = RequestPriority(self)

    # ── entry ────────────────────────────────────────────────────────────────

    @workflow.run
    async def run(self, inp: RequestInput) -> RequestResult:
        # An abort wins over whatever the request does when it arrives (a cancellation
        # the SDK absorbed in a pending signal let requests complete instead).
        self.abort_wins = workflow.patched(ABORT_ALWAYS_WINS)
        self.run_task = asyncio.current_task()
        self.stuck_counter = workflow.metric_meter().create_counter(
            "wms2_request_stuck", "requests that exceeded their status timeout"
        )
        if self.config_from_worker and self.s.config is None:
            # Started without settings (starter.py, the temporal CLI, a schedule): the
            # worker's, as every request gets them, whoever started it.
            self._take_config(
                await self._act(Activity.WORKER_SETTINGS, None, LifecycleConfig, **options.RECORD)
            )
        if self.resumed:
            publish(self.s)
        else:
            await self._transition(S.SUBMITTED, "submitted")
        try:
            await self._lifecycle()
        except asyncio.CancelledError:
            self.cancel_observed = True
            # Temporal's cancellation (the Web UI's button, `temporal workflow cancel`) is
            # an abort: the DAG is removed, the records say ABORTED and the slot is freed
            # before the workflow ends as Canceled.
            await self._abort_on_cancellation()
            raise
        except FailureError as e:
            if (
                isinstance(_innermost(e), CancelledError)
                and workflow.cancellation_reason() is not None
                and workflow.patched(CANCEL_IN_ANY_ACTIVITY)
            ):
                # The cancellation interrupted an activity (recording a transition, say):
                # still an abort, never a failure.
                self.cancel_observed = True
                await self._abort_on_cancellation()
                raise asyncio.CancelledError() from e
            # Never left running with a dead loop: fail on the record, free the slot.
            await self._fail_unexpectedly(e)
        await self._close_outputs()
        await workflow.wait_condition(workflow.all_handlers_finished)
        result = RequestResult(
            request_name=self.s.request_name,
            status=self.s.status,
            reason=self.s.failure_reason,
            work_units_done=len(self.s.completed_work_units),
            superseded_by_request=self.s.superseded_by_request,
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

    async def _lifecycle(self) -> None:
        """Each status's handler until the request is terminal (or continues as new)."""
        handlers: dict[RequestStatus, Callable[[], Awaitable[None]]] = {
            S.SUBMITTED: self._submitted,
            S.QUEUED: self._queued,
            S.PILOT_RUNNING: self._pilot,
            S.PLANNING: self._planning,
            S.ACTIVE: self._active,
            S.STOPPING: self._stopping,
            S.RESUBMITTING: self._resubmitting,
            S.PARTIAL: self._partial,
        }
        while not self.s.status.is_terminal:
            self._observe_cancellation()
            if self.s.abort_reason is not None:
                await self._abort()
                return
            if self.s.restart is not None and self.s.restart.catastrophic:
                await self._catastrophic_restart()
                return
            await handlers[self.s.status]()
            if self._continue_as_new_due():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    RequestInput(
                        request_name=self.s.request_name,
                        config=None if self.config_from_worker else self.cfg,
                        state=self.s,
                    )
                )

    async def _abort_on_cancellation(self) -> None:
        s = self.s
        if s.status.is_terminal:
            return
        if s.abort_reason is None:
            s.abort_reason = s.cancel_reason or (
                "cancellation requested through Temporal (Web UI or temporal workflow cancel)"
            )
        await self._abort()
        await self._close_outputs()

    async def _fail_unexpectedly(self, error: FailureError) -> None:
        s = self.s
        workflow.logger.exception("request %s: unexpected failure", s.request_name)
        if s.status.is_terminal:
            return
        message = f"unexpected failure in {s.status.value}: {_reason(error)}"
        self._alert("internal_error", message, stuck=False)
        await self._remove_running("request failed unexpectedly")
        await self._transition(S.FAILED, message)

    def _continue_as_new_due(self) -> bool:
        return options.continue_as_new_due(self.cfg.continue_as_new_after_events)

    # ── signals, updates, queries ──────────────────────────────────────────────

    @workflow.signal
    def admitted(self) -> None:
        assert self.s is not None
        if self.s.status is S.QUEUED:
            self.s.admitted = True
        else:
            self._reject(f"admitted while {self.s.status.value}")

    @workflow.signal
    def stop(self, raw: Any = None) -> None:
        sig = read_signal(StopSignal, raw)
        if isinstance(sig, str):
            self._reject(f"stop: {sig}")
        elif self.s.status is S.ACTIVE and self.s.stop_reason is None:
            self.s.stop_reason = sig.reason
            self.s.stop_for_step = False
            if sig.hold:
                self.s.hold = sig.reason
        else:
            self._reject(
                f"stop ({sig.reason}) while {self.s.status.value}: only an ACTIVE request stops"
            )

    @workflow.signal
    def release(self) -> None:
        """Let a request stopped with `hold` back into admission."""
        if self.s.hold is None:
            self._reject(f"release while {self.s.status.value}: the request is not held")
        else:
            self.s.hold = None

    @workflow.signal
    def restart(self, raw: Any = None) -> None:
        req = read_signal(RestartRequest, raw)
        if isinstance(req, str):
            self._reject(f"restart: {req}")
            return
        status = self.s.status
        if (req.catastrophic and not status.is_terminal and status is not S.SUBMITTED) or (
            not req.catastrophic and status is S.PARTIAL
        ):
            self.s.restart = req
        else:
            kind = "catastrophic restart" if req.catastrophic else "restart"
            self._reject(f"{kind} while {status.value}: a restart resumes a PARTIAL request")

    @workflow.signal
    def abort(self, raw: Any = None) -> None:
        sig = read_signal(AbortSignal, raw)
        if isinstance(sig, str):
            self._reject(f"abort: {sig}")
        elif self.s.status.is_terminal:
            self._reject(f"abort while {self.s.status.value}")
        elif self.s.abort_reason is None:
            self.s.abort_reason = sig.reason

    @workflow.signal
    def abort_reason(self, raw: Any = None) -> None:
        """The reason of the cancellation that follows (`starter.py abort`): a cancelled
        workflow is the one Temporal shows as Canceled, and a cancellation has no reason."""
        sig = read_signal(AbortSignal, raw)
        if isinstance(sig, str):
            self._reject(f"abort_reason: {sig}")
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
        """From the DAG tracker: what changed in the DAG (read by the ACTIVE loop). Kept
        from the moment the attempt is submitted: the tracker may see the new DAG before
        the submission's result reaches this workflow."""
        s = self.s
        if not s.status.is_terminal and news.attempt >= s.dag_attempt:
            s.dag_news.append(news)

    @workflow.signal
    def output_progress(self, progress: OutputProgress) -> None:
        """From an OutputWorkflow child: its counts by state, failures, alerts."""
        self._on_output_progress(progress)

    @workflow.query
    def status(self) -> RequestState:
        assert self.s is not None
        return self.s

    # ── status handlers ──────────────────────────────────────────────────────

    async def _submitted(self) -> None:
        s, inp = self.s, self.inp
        res = await self._internal_step(
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
        if res.resume is None:
            await self._transition(S.QUEUED, "imported and validated")
            return
        # A rerun picks up the DAG the earlier run planned: resubmitted (no pilot, no
        # planning) with a rescue DAG; the units an earlier run handed over are not again.
        r = res.resume
        s.dag_file, s.dag_attempt = r.dag_file, r.attempt
        s.completed_work_units = list(r.handed_over)
        s.progress.work_units_total, s.progress.nodes_total = r.work_units, r.total_nodes
        s.progress.work_units_done = len(s.completed_work_units)
        await self._transition(
            S.QUEUED,
            f"imported for run {s.run}: resumes DAG attempt {r.attempt} "
            f"({len(r.handed_over)}/{r.work_units} work units handed over before)",
        )

    async def _queued(self) -> None:
        s = self.s
        assert s is not None
        if s.hold is not None:
            # Stopped with --hold: out of the admission queue until released.
            workflow.logger.info("request %s held: %s", s.request_name, s.hold)
            publish(s)
            if not await self._wait(lambda: s.hold is None):
                return
        await self._act(
            Activity.ENQUEUE,
            EnqueueInput(
                request_name=s.request_name,
                priority=s.priority,
                submitted_at=s.transitions[0].at,
                max_active_dags=self.cfg.max_active_dags,
            ),
            None,
            **options.SERVICE,
        )
        s.enqueued = True
        if not await self._wait(lambda: s.admitted):
            return
        if s.dag_file is not None:  # a stopped DAG: resubmit its rescue DAG, no pilot, no planning
            await self._submit_dag("admitted: resubmitting the rescue DAG")
        elif s.urgent:
            await self._transition(S.PLANNING, "admitted (urgent: no pilot)")
        else:
            await self._transition(S.PILOT_RUNNING, "admitted")

    async def _pilot(self) -> None:
        s = self.s
        assert s is not None
        if s.pilot is None:
            try:
                s.pilot = await self._act(
                    Activity.SUBMIT_PILOT,
                    PilotInput(request_name=s.request_name),
                    JobHandle,
                    **options.SERVICE,
                )
            except ActivityError as e:
                await self._transition(S.FAILED, f"pilot submission failed: {_reason(e)}")
                return
        while s.status is S.PILOT_RUNNING:
            res = await self._interruptible(
                self._act(
                    Activity.AWAIT_PILOT,
                    AwaitJobInput(
                        handle=s.pilot,
                        max_seconds=self.cfg.monitor_window_sec,
                        poll_seconds=self.cfg.poll_sec,
                    ),
                    AwaitJobResult,
                    **self._monitor_opts(),
                )
            )
            if res is None:
                return  # abort or catastrophic restart: the main loop handles it
            if res.finished:
                if res.status.exit_code != 0:
                    await self._transition(
                        S.FAILED,
                        f"pilot failed with exit code {res.status.exit_code} "
                        f"{res.status.detail}".strip(),
                    )
                    return
                try:
                    s.pilot_metrics = await self._act(
                        Activity.READ_PILOT_METRICS,
                        PilotInput(request_name=s.request_name),
                        PilotMetrics,
                        **options.SERVICE,
                    )
                except ActivityError as e:
                    await self._transition(S.FAILED, f"pilot report unusable: {_reason(e)}")
                    return
                await self._transition(S.PLANNING, "pilot finished")
                return
            if self._overdue():
                await self._on_stuck()

    async def _planning(self) -> None:
        s = self.s
        if self.staging.pending:  # resumed (continue-as-new) while input was being staged
            await self._stage_input()
            return
        try:
            plan = await self._internal_step(
                Activity.PLAN_DAG,
                PlanInput(request_name=s.request_name, pilot_metrics=s.pilot_metrics),
                PlanResult,
                "planning",
                raises=("InputOnTape", "NoUsableSite"),
            )
        except ActivityError as e:
            if _error_type(e) == "NoUsableSite" and workflow.patched(SITE_WAIT):
                await self._wait_for_a_site(_reason(e))
                return
            # Input on tape only: staged to disk by a Rucio rule, then planned again.
            if not workflow.patched(STAGE_TAPE_INPUT) or (
                s.staging is not None and s.staging.state == "OK"
            ):
                await self._transition(S.FAILED, f"planning failed: {_reason(e)}")
                return
            await self._stage_input()
            return
        if plan is None:
            return  # failed (recorded) or aborted
        s.dag_file = plan.dag_file
        s.progress.work_units_total = plan.work_units
        s.progress.nodes_total = plan.total_nodes
        await self._submit_dag(f"planned {plan.work_units} work units, {plan.total_nodes} nodes")

    async def _wait_for_a_site(self, reason: str) -> None:
        """Every site the work could run at is drained, disabled or banned: alert once,
        then plan again every `site_recheck_sec` until one is enabled (or a stop/abort)."""
        s = self.s
        if not s.alerts or s.alerts[-1].kind != "no_usable_site":
            self._alert("no_usable_site", f"waiting for a site: {reason}", stuck=False)
        self._observe_cancellation()
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: s.interrupted, timeout=timedelta(seconds=self.cfg.site_recheck_sec)
            )

    async def _stage_input(self) -> None:
        staged = await self.staging.run()
        if staged is Staged.DONE:
            rule = self.s.staging.rule_id if self.s.staging else None
            await self._transition(S.PLANNING, f"input staged (rule {rule}): planning again")

    async def _submit_dag(self, reason: str) -> None:
        s = self.s
        assert s is not None and s.dag_file is not None
        s.dag_attempt += 1
        # An earlier attempt's news is no longer this DAG's.
        s.dag_news = [n for n in s.dag_news if n.attempt >= s.dag_attempt]
        s.dag_submitting = True
        try:
            s.dag = await self._act(
                Activity.SUBMIT_DAG,
                SubmitDagInput(
                    request_name=s.request_name,
                    dag_file=s.dag_file,
                    attempt=s.dag_attempt,
                    known_work_units=s.completed_work_units,
                ),
                DagHandle,
                **options.SERVICE,
            )
        except ActivityError as e:
            if isinstance(_innermost(e), CancelledError):
                # The workflow was cancelled (an abort) while submitting: the DAG may be
                # running already; the abort removes it by its DAG file.
                raise asyncio.CancelledError() from e
            s.dag_submitting = False
            await self._transition(S.FAILED, f"DAG submission failed: {_reason(e)}")
            return
        s.dag_submitting = False
        if s.status is not S.ACTIVE:
            await self._transition(S.ACTIVE, reason)
        else:
            publish(s)

    async def _active(self) -> None:
        s = self.s
        assert s is not None and s.dag is not None
        if s.dag_completed:  # restarted for its failed outputs: no DAG to watch
            await self._retry_outputs()
            return
        tracked = workflow.patched(DAG_TRACKER)
        while s.status is S.ACTIVE:
            if s.stop_reason is not None:
                await self._transition(S.STOPPING, s.stop_reason)
                return
            res = await (self._next_dag_news() if tracked else self._monitor_window())
            if res is None:
                if s.abort_reason is not None or s.restart is not None:
                    return
                continue  # a stop arrived: handled at the top of the loop
            await self._record_progress(res)
            step = production_step_reached(
                s.production_steps, len(s.completed_work_units), s.progress.work_units_total
            )
            if step is not None and not res.finished and s.stop_reason is None:
                if workflow.patched(DEMOTE_IN_PLACE):
                    await self.priority.demote(step)
                    continue
                s.stop_reason = (
                    f"partial production: {len(s.completed_work_units)}/"
                    f"{s.progress.work_units_total} work units reached step "
                    f"{step.fraction:.0%}; the rest runs at priority {step.priority}"
                )
                s.stop_for_step = True
                continue
            if res.finished:
                await self._dag_finished(res)
                return
            if self._overdue():
                await self._on_stuck()
            if self._continue_as_new_due():
                return

    async def _next_dag_news(self) -> MonitorResult | None:
        """The tracker's news; without any for `dag_check_sec` (or at the status timeout),
        one look at the DAG. None when a stop, an abort or a restart came first."""
        s = self.s
        timeout = timedelta(seconds=self.cfg.dag_check_sec)
        deadline = self._deadline()
        if deadline is not None and not s.stuck:
            timeout = min(timeout, max(deadline - workflow.now(), timedelta(seconds=1)))

        def current(n: DagNews) -> bool:
            return n.attempt == s.dag_attempt

        def news_or_interrupted() -> bool:
            return any(map(current, s.dag_news)) or s.interrupted or s.stop_reason is not None

        self._observe_cancellation()
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(news_or_interrupted, timeout=timeout)
        if s.interrupted or s.stop_reason is not None:
            return None
        news = [n for n in s.dag_news if current(n)]
        s.dag_news = [n for n in s.dag_news if n.attempt > s.dag_attempt]
        if news:
            return merge_news(news)
        return await self._interruptible(
            self._act(Activity.CHECK_DAG, self._monitor_input(), MonitorResult, **options.CHECK),
            stop_too=True,
        )

    async def _monitor_window(self) -> MonitorResult | None:
        """Before the tracker: one monitor_dag call (minutes, on a worker thread)."""
        return await self._interruptible(
            self._act(
                Activity.MONITOR_DAG, self._monitor_input(), MonitorResult, **self._monitor_opts()
            ),
            stop_too=True,
        )

    async def _record_progress(self, res: MonitorResult) -> None:
        s = self.s
        assert s is not None
        total = s.progress.work_units_total
        s.progress = res.progress
        s.progress.work_units_total = max(res.progress.work_units_total, total)
        completed = workflow.metric_meter().create_counter(
            "wms2_work_units_completed", "work units (merge groups) completed"
        )
        new = []
        for wu in res.new_work_units:
            if wu.name in s.completed_work_units or any(w.name == wu.name for w in new):
                continue  # already recorded: never processed twice
            new.append(wu)
            completed.add(1)
        s.completed_work_units.extend(wu.name for wu in new)
        s.progress.work_units_done = len(s.completed_work_units)
        if new:
            await self._feed_outputs(new)  # outputs enter their pipeline at once (DD-4)
        publish(s)

    def _unreported(self, res: MonitorResult, outcome: DagOutcome) -> str:
        """Why some work units have no recorded output at the DAG's end ("" if none)."""
        s = self.s
        found = dict(res.unreported_work_units)
        if outcome is DagOutcome.COMPLETED:
            missing = s.progress.work_units_total - len(s.completed_work_units)
            if missing > 0 and not found:
                found["(unnamed)"] = f"{missing} planned work unit(s) were never reported"
        if not found:
            return ""
        listed = "; ".join(f"{name}: {why}" for name, why in sorted(found.items())[:5])
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        return f"{len(found)} work unit(s) finished without a usable output: {listed}{more}"

    async def _dag_finished(self, res: MonitorResult) -> None:
        s = self.s
        assert s is not None
        p = s.progress
        outcome = dag_outcome(
            p.nodes_failed,
            p.nodes_total,
            res.exit_code if res.exit_code is not None else -1,
            s.auto_rescues,
        )
        summary = f"{p.nodes_failed} of {p.nodes_total} nodes failed, exit code {res.exit_code}"
        unreported = self._unreported(res, outcome)
        if res.lost and s.dagman_losses < MAX_DAGMAN_LOSSES:
            # Not a failure of the DAG: its DAGMan is gone. Resubmitted with a rescue DAG
            # of everything done; this does not use up an automatic rescue.
            s.dagman_losses += 1
            self._alert("dagman_lost", f"DAGMan {s.dag.cluster_id} lost: {res.detail}", stuck=False)
            await self._submit_dag(f"DAGMan lost ({s.dagman_losses}): resubmitted")
        elif res.lost:
            await self._transition(
                S.PARTIAL, f"DAGMan lost {s.dagman_losses + 1} times: {res.detail}"
            )
        elif unreported:
            # Never COMPLETED with a unit's output unrecorded: the operator fixes the file
            # (or gives up) and restarts; the resubmitted DAG reruns nothing that is done.
            self._alert("work_units_unreported", unreported, stuck=False)
            await self._transition(
                S.PARTIAL, f"{summary}; {unreported} (restart reads them again, abort gives up)"
            )
        elif outcome is DagOutcome.COMPLETED:
            s.dag_completed = True
            await self._outputs_done(f"all {p.work_units_total} work units done")
        elif outcome is DagOutcome.RESCUE:
            s.auto_rescues += 1
            workflow.logger.warning(
                "request %s: %s; submitting the rescue DAG", s.request_name, summary
            )
            await self._submit_dag(f"automatic rescue {s.auto_rescues}: {summary}")
        elif outcome is DagOutcome.PARTIAL:
            await self._transition(
                S.PARTIAL, f"{summary}: waiting for an operator's restart or abort"
            )
        else:
            await self._transition(S.FAILED, summary)
