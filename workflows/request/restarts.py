"""Stops and restarts of a request: the clean stop (STOPPING -> RESUBMITTING -> QUEUED),
the restart of a PARTIAL request, the abort, and the catastrophic restart (spec 6.3)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from wms2.messages import (
        Activity,
        DagExit,
        MonitorResult,
        RemoveInput,
        RequestInput,
        RequestUpdate,
        VersionInput,
        request_workflow_id,
    )
    from wms2.models import RequestStatus

from workflows import options
from workflows.errors import reason
from workflows.request.dag_run import DagRun
from workflows.request.steps import RequestSteps

S = RequestStatus
ABORT_RECORDS_DAG_END = "abort-records-dag-end"  # workflow.patched id
STOP_RACING_DAG_END = "stop-racing-dag-end"  # workflow.patched id: a DAG done while stopping
VERSION_SUMMARY = "next-version-summary"  # workflow.patched id: the new version's Web UI texts


class Restarts:
    def __init__(self, steps: RequestSteps, dag: DagRun) -> None:
        self.steps = steps
        self.dag = dag
        self.s = steps.s

    # ── clean stop, resubmission, operator restart ──────────────────────────────

    async def stop(self) -> None:
        """STOPPING: remove DAGMan, wait until it is gone (its rescue DAG written)."""
        s, steps = self.s, self.steps
        if s.dag is None:
            await steps.transition(S.RESUBMITTING, "no DAG to stop")
            return
        await steps.act(
            Activity.REMOVE_DAG,
            RemoveInput(request_name=s.request_name, dag=s.dag, reason=s.stop_reason or "stop"),
            bool,
            **options.SERVICE,
        )
        task = asyncio.ensure_future(
            steps.act(
                Activity.AWAIT_DAG_EXIT, steps.monitor_input(), DagExit, **steps.monitor_opts()
            )
        )
        # While DAGMan exits, the STOPPING timer runs: on timeout the removal is retried.
        if not await steps.wait(task.done):
            task.cancel()
            return
        gone = task.result()
        if gone.exit_code == 0 and workflow.patched(STOP_RACING_DAG_END):
            await self._finished_while_stopping()
            return
        await steps.transition(S.RESUBMITTING, f"DAGMan gone; rescue DAG {gone.rescue_file}")

    async def _finished_while_stopping(self) -> None:
        """DAGMan finished the whole DAG before the removal reached it: the request goes
        on as finished (the last work units are read once more), nothing is resubmitted."""
        s, steps = self.s, self.steps
        res = await steps.act(
            Activity.MONITOR_DAG, steps.monitor_input(), MonitorResult, **steps.monitor_opts()
        )
        await self.dag.record_progress(res)
        if s.stop_reason is not None and not s.stop_for_step:
            # No resubmission follows: the stop's trace is here and STOPPING -> COMPLETED.
            steps.reject(
                f"stop ({s.stop_reason}): the DAG finished before the removal reached it; "
                "nothing to resubmit"
            )
        s.stop_reason, s.stop_for_step = None, False
        workflow.logger.info("request %s: DAG finished while stopping", s.request_name)
        await self.dag.finished(res)

    async def resubmit(self) -> None:
        """RESUBMITTING: a production step's priority taken, then back to the queue."""
        s, steps = self.s, self.steps
        update = RequestUpdate(request_name=s.request_name)
        if s.stop_for_step and s.production_steps:
            step, s.production_steps = s.production_steps[0], s.production_steps[1:]
            s.priority = step.priority
            update.priority, update.production_steps = step.priority, s.production_steps
        deadline = steps.cfg.timeout(S.RESUBMITTING)
        call = steps.act(
            Activity.UPDATE_REQUEST,
            update,
            None,
            schedule_to_close_timeout=timedelta(seconds=deadline) if deadline else None,
            **options.RECORD,
        )
        try:
            await steps.interruptible(call)
        except ActivityError as e:
            await steps.transition(S.FAILED, f"stuck in resubmitting: {reason(e)}")
            return
        if s.interrupted:
            return
        s.stop_reason, s.stop_for_step, s.restart = None, False, None
        await steps.transition(S.QUEUED, f"waiting for admission at priority {s.priority}")

    async def await_restart(self) -> None:
        """PARTIAL: an operator's restart (or abort)."""
        s, steps = self.s, self.steps
        if not await steps.wait(lambda: s.restart is not None) or s.restart is None:
            return
        if s.dag_completed:  # only outputs failed: retry them, no DAG to resubmit
            why = s.restart.reason or "operator restart"
            s.restart = None
            await steps.transition(S.ACTIVE, f"{why}: retrying the failed outputs")
            return
        await steps.transition(S.RESUBMITTING, s.restart.reason or "operator restart")

    # ── abort and catastrophic restart ───────────────────────────────────────

    def _version_texts(self, new_name: str, policy: str) -> dict[str, str]:
        """The new version's summary and details in the Web UI, as starter.py gives a
        request it submits (a request started without them showed none)."""
        s = self.s
        if not workflow.patched(VERSION_SUMMARY):
            return {}
        kind, campaign = s.request_type or "request", s.campaign or "-"
        return {
            "static_summary": f"{kind} {campaign} (next version)",
            "static_details": (
                f"**{new_name}**\n{kind} of campaign {campaign}, the next processing version "
                f"of {s.request_name} (catastrophic restart, {policy})\n"
                f"outputs: {', '.join(s.output_datasets) or '-'} (of the previous version)"
            ),
        }

    async def abort(self) -> None:
        s, steps = self.s, self.steps
        assert s.abort_reason is not None
        removed = await steps.remove_running(s.abort_reason)
        if removed and s.dag is not None and workflow.patched(ABORT_RECORDS_DAG_END):
            # The DAG's record ends with it: REMOVED, DAGMan's exit code, final counts.
            # Bounded: an abort must finish even if the scheduler never answers.
            wait = min(45.0, steps.cfg.monitor_window_sec)
            inp = steps.monitor_input().model_copy(update={"aborted": True, "max_seconds": wait})
            await steps.probe(Activity.AWAIT_DAG_EXIT, inp, DagExit)
        await steps.transition(S.ABORTED, s.abort_reason)

    async def catastrophic(self) -> None:
        """Spec 6.3: a new request with processing_version + 1, linked both ways."""
        s, steps = self.s, self.steps
        assert s.restart is not None
        policy = s.restart.cleanup_policy
        await steps.remove_running("catastrophic restart")
        new_name = await steps.act(
            Activity.CREATE_VERSION,
            VersionInput(request_name=s.request_name, cleanup_policy=policy),
            str,
            **options.SERVICE,
        )
        await workflow.start_child_workflow(
            "RequestWorkflow",
            RequestInput(
                request_name=new_name,
                config=None if steps.config_from_worker else steps.cfg,
                previous_version_request=s.request_name,
                cleanup_policy=policy,
            ),
            id=request_workflow_id(new_name),
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            **self._version_texts(new_name, policy.value),
        )
        s.superseded_by_request = new_name
        await steps.transition(
            S.FAILED,
            f"catastrophic restart: superseded by {new_name} ({policy.value})"
            + (f"; {s.restart.reason}" if s.restart.reason else ""),
        )
