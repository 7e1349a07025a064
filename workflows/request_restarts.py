"""Stops and restarts of a request workflow: clean stop (STOPPING -> RESUBMITTING ->
QUEUED), restart of a PARTIAL request, abort, and catastrophic restart (spec 6.3)."""

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
from workflows.request_outputs import RequestOutputs
from workflows.request_support import _reason

S = RequestStatus
ABORT_RECORDS_DAG_END = "abort-records-dag-end"  # workflow.patched id


class RequestRestarts(RequestOutputs):
    # ── clean stop, resubmission, operator restart ──────────────────────────────

    async def _stopping(self) -> None:
        s = self.s
        assert s is not None
        if s.dag is not None:
            await self._act(
                Activity.REMOVE_DAG,
                RemoveInput(request_name=s.request_name, dag=s.dag, reason=s.stop_reason or "stop"),
                bool,
                **options.SERVICE,
            )
            task = asyncio.ensure_future(
                self._act(
                    Activity.AWAIT_DAG_EXIT,
                    self._monitor_input(),
                    DagExit,
                    **self._monitor_opts(),
                )
            )
            # While DAGMan exits, the STOPPING timer runs: on timeout the removal is retried.
            if not await self._wait(task.done):
                task.cancel()
                return
            gone = task.result()
            if gone.exit_code == 0 and workflow.patched("stop-racing-dag-end"):
                await self._finished_while_stopping()
                return
            await self._transition(S.RESUBMITTING, f"DAGMan gone; rescue DAG {gone.rescue_file}")
            return
        await self._transition(S.RESUBMITTING, "no DAG to stop")

    async def _finished_while_stopping(self) -> None:
        """DAGMan finished the whole DAG before the removal reached it: the request goes
        on as finished (the last work units are read once more), nothing is resubmitted."""
        s = self.s
        res = await self._act(
            Activity.MONITOR_DAG, self._monitor_input(), MonitorResult, **self._monitor_opts()
        )
        await self._record_progress(res)
        s.stop_reason, s.stop_for_step = None, False
        workflow.logger.info("request %s: DAG finished while stopping", s.request_name)
        await self._dag_finished(res)

    async def _resubmitting(self) -> None:
        s = self.s
        update = RequestUpdate(request_name=s.request_name)
        if s.stop_for_step and s.production_steps:
            step, s.production_steps = s.production_steps[0], s.production_steps[1:]
            s.priority = step.priority
            update.priority, update.production_steps = step.priority, s.production_steps
        deadline = self.cfg.timeout(S.RESUBMITTING)
        call = self._act(
            Activity.UPDATE_REQUEST,
            update,
            None,
            schedule_to_close_timeout=timedelta(seconds=deadline) if deadline else None,
            **options.RECORD,
        )
        try:
            await self._interruptible(call)
        except ActivityError as e:
            await self._transition(S.FAILED, f"stuck in resubmitting: {_reason(e)}")
            return
        if s.interrupted:
            return
        s.stop_reason, s.stop_for_step, s.restart = None, False, None
        await self._transition(S.QUEUED, f"waiting for admission at priority {s.priority}")

    async def _partial(self) -> None:
        s = self.s
        assert s is not None
        if not await self._wait(lambda: s.restart is not None) or s.restart is None:
            return
        if s.dag_completed:  # only outputs failed: retry them, no DAG to resubmit
            reason = s.restart.reason or "operator restart"
            s.restart = None
            await self._transition(S.ACTIVE, f"{reason}: retrying the failed outputs")
            return
        await self._transition(S.RESUBMITTING, s.restart.reason or "operator restart")

    # ── abort and catastrophic restart ───────────────────────────────────────

    async def _abort(self) -> None:
        s = self.s
        assert s is not None and s.abort_reason is not None
        removed = await self._remove_running(s.abort_reason)
        if removed and s.dag is not None and workflow.patched(ABORT_RECORDS_DAG_END):
            # The DAG's record ends with it: REMOVED, DAGMan's exit code, final counts.
            # Bounded: an abort must finish even if the scheduler never answers.
            wait = min(45.0, self.cfg.monitor_window_sec)
            inp = self._monitor_input().model_copy(update={"aborted": True, "max_seconds": wait})
            await self._probe(Activity.AWAIT_DAG_EXIT, inp, DagExit)
        await self._transition(S.ABORTED, s.abort_reason)

    async def _catastrophic_restart(self) -> None:
        """Spec 6.3: a new request with processing_version + 1, linked both ways."""
        s = self.s
        assert s is not None and s.restart is not None
        policy = s.restart.cleanup_policy
        await self._remove_running("catastrophic restart")
        new_name = await self._act(
            Activity.CREATE_VERSION,
            VersionInput(request_name=s.request_name, cleanup_policy=policy),
            str,
            **options.SERVICE,
        )
        await workflow.start_child_workflow(
            "RequestWorkflow",
            RequestInput(
                request_name=new_name,
                config=None if self.config_from_worker else self.cfg,
                previous_version_request=s.request_name,
                cleanup_policy=policy,
            ),
            id=request_workflow_id(new_name),
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        )
        s.superseded_by_request = new_name
        await self._transition(
            S.FAILED,
            f"catastrophic restart: superseded by {new_name} ({policy.value})"
            + (f"; {s.restart.reason}" if s.restart.reason else ""),
        )
