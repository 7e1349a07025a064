"""The request's DAG while it runs: submission, the tracker's news (or a look at the DAG
when none came), progress and completed work units handed to the outputs, production
steps, and what the DAG's end means (complete, rescue, partial, failed, lost)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, CancelledError

with workflow.unsafe.imports_passed_through():
    from wms2.condor.handles import DagHandle
    from wms2.failures.model import FailureReport
    from wms2.lifecycle.decisions import (
        MAX_AUTO_RESCUES,
        DagOutcome,
        dag_outcome,
        production_step_reached,
    )
    from wms2.messages import (
        Activity,
        DagNews,
        FailureReportInput,
        MonitorResult,
        SubmitDagInput,
    )
    from wms2.models import RequestStatus

from workflows import options
from workflows.errors import innermost, reason
from workflows.request.output_feed import OutputFeed
from workflows.request.priority import RequestPriority
from workflows.request.steps import RequestSteps
from workflows.request.tuning import RunTuning
from workflows.visibility import publish

S = RequestStatus
MAX_DAGMAN_LOSSES = 3  # then an operator looks (PARTIAL)
DAG_TRACKER = "dag-tracker"  # workflow.patched id: news from the tracker, not monitor_dag
DEMOTE_IN_PLACE = "demote-in-place"  # workflow.patched id: production steps keep the DAG
# workflow.patched id: a DAG that ends with failed nodes gets its failure report, and a
# rescue is not submitted for nodes that failed the same way in every round (review).
FAILURE_REPORT = "failure-report"


def merge_news(news: list[DagNews]) -> MonitorResult:
    """Several signals read at once: every unit once, the latest progress, the end."""
    merged = MonitorResult()
    seen: set[str] = set()
    for n in news:
        res = n.result
        for unit in res.new_work_units:
            if unit.name not in seen:
                seen.add(unit.name)
                merged.new_work_units.append(unit)
        merged.progress = res.progress
        if res.finished and not merged.finished:
            merged = merged.model_copy(
                update={
                    k: getattr(res, k)
                    for k in ("finished", "exit_code", "detail", "unreported_work_units", "lost")
                }
            )
    return merged


class DagRun:
    def __init__(self, steps: RequestSteps, outputs: OutputFeed, priority: RequestPriority):
        self.steps = steps
        self.outputs = outputs
        self.priority = priority
        self.tuning = RunTuning(steps, priority)  # sizing rounds, the tail's boost
        self.s = steps.s
        self._known_units: set[str] = set()
        self._known_for: list[str] | None = None

    def _known(self) -> set[str]:
        """completed_work_units as a set (a list scan per unit costs O(n^2) over a
        10,000-unit DAG), rebuilt whenever the list was replaced or grew elsewhere."""
        units = self.s.completed_work_units
        if self._known_for is not units or len(self._known_units) != len(units):
            self._known_units, self._known_for = set(units), units
        return self._known_units

    def take_news(self, news: DagNews) -> None:
        """The tracker's signal. Kept from the moment the attempt is submitted: the
        tracker may see the new DAG before the submission's result reaches the workflow."""
        s = self.s
        if not s.status.is_terminal and news.attempt >= s.dag_attempt:
            s.dag_news.append(news)

    async def submit(self, why: str) -> None:
        s = self.s
        assert s.dag_file is not None
        s.dag_attempt += 1
        # An earlier attempt's news is no longer this DAG's.
        s.dag_news = [n for n in s.dag_news if n.attempt >= s.dag_attempt]
        s.dag_submitting = True
        try:
            s.dag = await self.steps.act(
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
            if isinstance(innermost(e), CancelledError):
                # The workflow was cancelled (an abort) while submitting: the DAG may be
                # running already; the abort removes it by its DAG file.
                raise asyncio.CancelledError() from e
            s.dag_submitting = False
            await self.steps.transition(S.FAILED, f"DAG submission failed: {reason(e)}")
            return
        s.dag_submitting = False
        if s.status is not S.ACTIVE:
            await self.steps.transition(S.ACTIVE, why)
        else:
            publish(s)

    async def watch(self) -> None:
        """ACTIVE: news until the DAG ends, a stop or an abort; production steps on the
        way. Returns when the status changed (or continue-as-new is due)."""
        s, steps = self.s, self.steps
        tracked = workflow.patched(DAG_TRACKER)
        while s.status is S.ACTIVE:
            if s.stop_reason is not None:
                await steps.transition(S.STOPPING, s.stop_reason)
                return
            res = await (self._next_news() if tracked else self._monitor_window())
            if res is None:
                if s.abort_reason is not None or s.restart is not None:
                    return
                continue  # a stop arrived: handled at the top of the loop
            await self.record_progress(res)
            if not res.finished:
                await self.tuning.after_progress()
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
                if s.stop_reason is not None and not s.stop_for_step:
                    # The stop came as the DAG ended: say so (no command, replays alike).
                    steps.reject(f"stop ({s.stop_reason}): the DAG finished first; nothing stopped")
                await self.finished(res)
                return
            if steps.overdue():
                await steps.on_stuck()
            if steps.continue_as_new_due():
                return

    async def _next_news(self) -> MonitorResult | None:
        """The tracker's news; without any for `dag_check_sec` (or at the status timeout),
        one look at the DAG. None when a stop, an abort or a restart came first."""
        s, steps = self.s, self.steps
        timeout = timedelta(seconds=steps.cfg.dag_check_sec)
        deadline = steps.deadline()
        if deadline is not None and not s.stuck:
            timeout = min(timeout, max(deadline - workflow.now(), timedelta(seconds=1)))

        def current(n: DagNews) -> bool:
            return n.attempt == s.dag_attempt

        def news_or_interrupted() -> bool:
            return any(map(current, s.dag_news)) or s.interrupted or s.stop_reason is not None

        steps.observe_cancellation()
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(news_or_interrupted, timeout=timeout)
        if s.interrupted or s.stop_reason is not None:
            return None
        news = [n for n in s.dag_news if current(n)]
        s.dag_news = [n for n in s.dag_news if n.attempt > s.dag_attempt]
        if news:
            return merge_news(news)
        return await steps.interruptible(
            steps.act(Activity.CHECK_DAG, steps.monitor_input(), MonitorResult, **options.CHECK),
            stop_too=True,
        )

    async def _monitor_window(self) -> MonitorResult | None:
        """Before the tracker: one monitor_dag call (minutes, on a worker thread)."""
        steps = self.steps
        return await steps.interruptible(
            steps.act(
                Activity.MONITOR_DAG, steps.monitor_input(), MonitorResult, **steps.monitor_opts()
            ),
            stop_too=True,
        )

    async def record_progress(self, res: MonitorResult) -> None:
        s = self.s
        total = s.progress.work_units_total
        s.progress = res.progress
        s.progress.work_units_total = max(res.progress.work_units_total, total)
        completed = workflow.metric_meter().create_counter(
            "wms2_work_units_completed", "work units (merge groups) completed"
        )
        new = []
        known = self._known()
        for wu in res.new_work_units:
            if wu.name in known:
                continue  # already recorded: never processed twice
            new.append(wu)
            known.add(wu.name)
            completed.add(1)
        s.completed_work_units.extend(wu.name for wu in new)
        s.progress.work_units_done = len(s.completed_work_units)
        if new:
            await self.outputs.feed(new)  # outputs enter their pipeline at once (DD-4)
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

    async def _failure_report(self, outcome: DagOutcome, unreported: bool) -> FailureReport | None:
        """The DAG's failure report, kept in the state (None if it cannot be read: the
        report informs the decision, it never blocks it)."""
        s = self.s
        assert s.dag_file is not None
        decision = {
            DagOutcome.RESCUE: f"automatic rescue {s.auto_rescues + 1} of {MAX_AUTO_RESCUES}",
            DagOutcome.PARTIAL: "review (PARTIAL): waiting for an operator's restart or abort",
            DagOutcome.FAILED: "FAILED: too many nodes failed",
        }.get(outcome, "")
        if unreported:
            decision = "review (PARTIAL): work units without a usable output"
        try:
            report = await self.steps.act(
                Activity.FAILURE_REPORT,
                FailureReportInput(
                    request_name=s.request_name, dag_file=s.dag_file, decision=decision
                ),
                FailureReport,
                **options.CHECK,
            )
        except ActivityError as e:
            workflow.logger.warning("request %s: no failure report: %s", s.request_name, e)
            return None
        s.failure_report = report
        s.failure_summary = report.summary_line()
        return report

    async def finished(self, res: MonitorResult) -> None:
        """The DAG ended: spec 6.2's policy (rescue, PARTIAL, FAILED), a lost DAGMan
        resubmitted, or the outputs' completion."""
        s, steps = self.s, self.steps
        assert s.dag is not None
        p = s.progress
        outcome = dag_outcome(
            p.nodes_failed,
            p.nodes_total,
            res.exit_code if res.exit_code is not None else -1,
            s.auto_rescues,
        )
        summary = f"{p.nodes_failed} of {p.nodes_total} nodes failed, exit code {res.exit_code}"
        unreported = self._unreported(res, outcome)
        review = ""
        if not res.lost and p.nodes_failed > 0 and workflow.patched(FAILURE_REPORT):
            report = await self._failure_report(outcome, bool(unreported))
            if report is not None and report.hopeless and outcome is DagOutcome.RESCUE:
                review = (
                    f"{len(report.hopeless)} node(s) failed the same way in "
                    f"{report.round_cap} rounds ({', '.join(report.hopeless[:3])}"
                    f"{' ...' if len(report.hopeless) > 3 else ''}): no more rescues"
                )
                report.decision = f"review (PARTIAL): {review}"
                s.failure_summary = report.summary_line()
        if res.lost and s.dagman_losses < MAX_DAGMAN_LOSSES:
            # Not a failure of the DAG: its DAGMan is gone. Resubmitted with a rescue DAG
            # of everything done; this does not use up an automatic rescue.
            s.dagman_losses += 1
            steps.alert("dagman_lost", f"DAGMan {s.dag.cluster_id} lost: {res.detail}", stuck=False)
            await self.submit(f"DAGMan lost ({s.dagman_losses}): resubmitted")
        elif res.lost:
            await steps.transition(
                S.PARTIAL, f"DAGMan lost {s.dagman_losses + 1} times: {res.detail}"
            )
        elif unreported:
            # Never COMPLETED with a unit's output unrecorded: the operator fixes the file
            # (or gives up) and restarts; the resubmitted DAG reruns nothing that is done.
            steps.alert("work_units_unreported", unreported, stuck=False)
            await steps.transition(
                S.PARTIAL, f"{summary}; {unreported} (restart reads them again, abort gives up)"
            )
        elif review:
            assert s.failure_summary is not None
            steps.alert("failures_need_review", s.failure_summary, stuck=False)
            await steps.transition(
                S.PARTIAL, f"{summary}; {review}: review the failure report, then restart or abort"
            )
        elif outcome is DagOutcome.COMPLETED:
            s.dag_completed = True
            done = f"all {p.work_units_total} work units done"
            if s.harvest_jobs and not p.work_units_total:  # a DQMHarvest: its jobs alone
                done = f"all {s.harvest_jobs} harvesting job(s) done"
            await self.outputs.complete(done)
        elif outcome is DagOutcome.RESCUE:
            s.auto_rescues += 1
            workflow.logger.warning(
                "request %s: %s; submitting the rescue DAG", s.request_name, summary
            )
            await self.submit(f"automatic rescue {s.auto_rescues}: {summary}")
        elif outcome is DagOutcome.PARTIAL:
            await steps.transition(
                S.PARTIAL, f"{summary}: waiting for an operator's restart or abort"
            )
        else:
            await steps.transition(S.FAILED, summary)
