"""OutputWorkflow: one output dataset of a request, from merged files to announced blocks.

The request workflow signals each completed work unit's file; this workflow walks every
unit through PENDING -> DBS_REGISTERED -> SOURCE_PROTECTED -> TRANSFERS_REQUESTED ->
TRANSFERRING -> TRANSFERRED -> SOURCE_RELEASED -> ANNOUNCED, one activity per arrow.
Each loop drives every unit one step, most urgent first (registration and protection
guard against data loss, DD-5); transfers are polled on a durable timer. All state is in
OutputState, so continue-as-new resumes anywhere and a unit is never processed twice.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from wms2.messages import Activity
    from wms2.models import OutputStatus
    from wms2.outputs.messages import (
        InvalidateSignal,
        LoadOutputsInput,
        OutputInput,
        OutputProgress,
        OutputResult,
        OutputState,
        OutputUnit,
        WorkUnitBatch,
    )
    from wms2.outputs.states import TERMINAL

from workflows import options
from workflows.output.unit_steps import UnitSteps

Out = OutputStatus

# The activity that moves a unit on from each state, in order of urgency.
STEP = {
    Out.PENDING: Activity.REGISTER_OUTPUT,
    Out.DBS_REGISTERED: Activity.PROTECT_OUTPUT,
    Out.SOURCE_PROTECTED: Activity.REQUEST_TRANSFERS,
    Out.TRANSFERRED: Activity.RELEASE_SOURCE,
    Out.SOURCE_RELEASED: Activity.ANNOUNCE_OUTPUT,
}
URGENCY = [
    Out.PENDING,
    Out.DBS_REGISTERED,
    Out.SOURCE_PROTECTED,
    Out.TRANSFERRED,
    Out.SOURCE_RELEASED,
]
POLLED = (Out.TRANSFERS_REQUESTED, Out.TRANSFERRING)
MAX_REPORTED_ALERTS = 5  # sent with each progress report
MAX_REPORTED_FAILURES = 10
NO_BATCH_BARRIER = "output-units-move-independently"  # workflow.patched id


@workflow.defn
class OutputWorkflow:
    @workflow.init
    def __init__(self, inp: OutputInput) -> None:
        self.inp, self.cfg = inp, inp.config
        self.s = inp.state or OutputState(
            request_name=inp.request_name, dataset=inp.dataset, index=inp.index, closed=inp.closed
        )
        self.next_poll: datetime | None = None
        self.reported: OutputProgress | None = None
        # Steps in flight, by unit: each unit moves on its own (no batch barrier).
        self.flying: dict[str, asyncio.Task[None]] = {}
        self.units = UnitSteps(self.s, self.cfg)

    # ── signals and queries ──────────────────────────────────────────────────

    @workflow.signal
    def add_work_units(self, batch: WorkUnitBatch) -> None:
        s = self.s
        for f in batch.units:
            if s.invalidate_reason is not None:
                s.rejected_signals.append(f"work unit {f.work_unit} after invalidation")
            elif s.knows(f.work_unit):
                s.duplicates_ignored += 1  # already tracked: never processed twice
            else:
                s.units[f.work_unit] = OutputUnit(**f.model_dump())
        if batch.retry_failed and s.invalidate_reason is None:
            s.retry_requested = True

    @workflow.signal
    def close(self) -> None:
        self.s.closed = True

    @workflow.signal
    def retry_failed(self) -> None:
        """Walk FAILED units on from where they failed (their cause was fixed)."""
        if self.s.invalidate_reason is None:
            self.s.retry_requested = True

    @workflow.signal
    def invalidate(self, sig: InvalidateSignal) -> None:
        if self.s.invalidate_reason is None:
            self.s.invalidate_reason = sig.reason

    @workflow.query
    def status(self) -> OutputState:
        return self.s

    # ── main loop ────────────────────────────────────────────────────────────

    @workflow.run
    async def run(self, inp: OutputInput) -> OutputResult:
        s = self.s
        if inp.load_from_db and inp.state is None:
            for u in await self.units.act(
                Activity.LOAD_OUTPUTS,
                LoadOutputsInput(
                    request_name=s.request_name, dataset=s.dataset, include_merged=inp.load_merged
                ),
                list[OutputUnit],
            ):
                s.units.setdefault(u.work_unit, u)
        while True:
            if s.invalidate_reason is not None:
                await self._landed()  # no step may race the rollback
                await self.units.invalidate_all(s.invalidate_reason)
                break
            if s.retry_requested:
                self._resume_failed()
            if await self._step():
                await self._report()
                s.compact(self.cfg.keep_unit_details)
                if self._continue_as_new_due():
                    await self._landed()
                    s.compact(0)
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    workflow.continue_as_new(
                        OutputInput(
                            request_name=s.request_name,
                            dataset=s.dataset,
                            index=s.index,
                            parent_workflow_id=inp.parent_workflow_id,
                            config=self.cfg,
                            state=s,
                        )
                    )
                continue
            if s.closed and self._all_terminal():
                break
            await self._idle()
        await self._report(finished=True)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return OutputResult(
            dataset=s.dataset,
            counts=s.counts(),
            failures=self._failures(),
            invalidated=s.invalidated,
        )

    def _resume_failed(self) -> None:
        s = self.s
        s.retry_requested = False
        for name, u in s.units.items():
            if u.status is Out.FAILED and u.failed_from is not None:
                s.units[name] = u.model_copy(
                    update={"status": u.failed_from, "error": None, "failed_from": None}
                )
        workflow.logger.info("%s: retrying failed outputs", s.dataset)

    def _all_terminal(self) -> bool:
        return all(u.status in TERMINAL for u in self.s.units.values())

    def _continue_as_new_due(self) -> bool:
        return options.continue_as_new_due(self.cfg.continue_as_new_after_events)

    async def _idle(self) -> None:
        """Sleep until a signal makes work or the next transfer poll is due."""
        s = self.s
        before = len(s.units)
        timeout = None
        if self.next_poll is not None:
            timeout = max(self.next_poll - workflow.now(), timedelta(seconds=1))
        with suppress(TimeoutError):  # on timeout the poll is due
            await workflow.wait_condition(
                lambda: (
                    len(s.units) != before
                    or s.invalidate_reason is not None
                    or (s.closed and self._all_terminal())
                ),
                timeout=timeout,
            )

    async def _landed(self) -> None:
        """Wait until no step is in flight."""
        await workflow.wait_condition(lambda: all(t.done() for t in self.flying.values()))
        self._collect()

    def _collect(self) -> None:
        for name, task in list(self.flying.items()):
            if task.done():
                del self.flying[name]
                task.result()  # an unexpected error fails here, not silently

    async def _step(self) -> bool:
        if workflow.patched(NO_BATCH_BARRIER):
            return await self._step_each()
        return await self._step_batch()

    async def _step_each(self) -> bool:
        """Start a step for every unit that can move and is not already moving (urgent
        states first, at most batch_size in flight), then wait for any step to land, a
        new unit or a due poll. A unit whose step keeps failing holds back no other.
        False when nothing is in flight and nothing could start."""
        s = self.s
        room = self.cfg.batch_size - len(self.flying)
        ready = sorted(
            (u for u in s.units.values() if u.status in STEP and u.work_unit not in self.flying),
            key=lambda u: (URGENCY.index(u.status), u.work_unit),
        )[: max(room, 0)]
        to_poll, poll_now = self._polls_due(set(self.flying))
        launch = [(u, STEP[u.status]) for u in ready]
        launch += [(u, Activity.POLL_TRANSFERS) for u in to_poll]
        for u, step in launch:
            self.flying[u.work_unit] = asyncio.ensure_future(self.units.advance(u, step))
        if poll_now:
            self.next_poll = workflow.now() + timedelta(seconds=self.cfg.transfer_poll_sec)
        if not self.flying:
            return False
        before, alerts = len(s.units), s.alerts_total
        timeout = None
        if self.next_poll is not None:
            timeout = max(self.next_poll - workflow.now(), timedelta(seconds=1))
        with suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: (
                    any(t.done() for t in self.flying.values())
                    or len(s.units) != before
                    or s.alerts_total != alerts  # a failing step: report it now
                    or s.invalidate_reason is not None
                ),
                timeout=timeout,
            )
        self._collect()
        return True

    async def _step_batch(self) -> bool:
        """Before NO_BATCH_BARRIER (replayed histories only): drive a batch of units one
        step each and wait for all of them."""
        s = self.s
        batch = sorted(
            (u for u in s.units.values() if u.status in STEP),
            key=lambda u: (URGENCY.index(u.status), u.work_unit),
        )[: self.cfg.batch_size]
        to_poll, poll_now = self._polls_due(set())
        if not batch and not to_poll:
            return False
        calls = [self.units.advance(u, STEP[u.status]) for u in batch]
        calls += [self.units.advance(u, Activity.POLL_TRANSFERS) for u in to_poll]
        await asyncio.gather(*calls)
        if poll_now:
            interval = timedelta(seconds=self.cfg.transfer_poll_sec)
            self.next_poll = workflow.now() + interval
        return True

    def _polls_due(self, busy: set[str]) -> tuple[list[OutputUnit], bool]:
        """The units whose transfer poll is due now (not those in `busy`), and whether the
        timed poll of rule-holding units is due (its timer is then due again)."""
        waiting = [
            u for u in self.s.units.values() if u.status in POLLED and u.work_unit not in busy
        ]
        polled = [u for u in waiting if u.transfer_rule_ids]
        # No destination, no rule to wait for: its one poll need not wait for the timer.
        ruleless = [u for u in waiting if not u.transfer_rule_ids]
        if not polled:
            self.next_poll = None
        elif self.next_poll is None:
            # Rules were just made: give Rucio one interval before the first poll.
            self.next_poll = workflow.now() + timedelta(seconds=self.cfg.transfer_poll_sec)
        poll_now = bool(polled) and self.next_poll is not None and workflow.now() >= self.next_poll
        return (polled if poll_now else []) + ruleless, poll_now

    # ── helpers ──────────────────────────────────────────────────────────────

    def _failures(self, limit: int | None = None) -> list[str]:
        failed = [u for u in self.s.units.values() if u.status is Out.FAILED]
        return [f"{u.work_unit}: {u.error}" for u in failed[:limit]]

    async def _report(self, finished: bool = False) -> None:
        """Tell the request workflow the counts when they changed (and at the end)."""
        parent = self.inp.parent_workflow_id
        if parent is None:
            return
        s = self.s
        progress = OutputProgress(
            dataset=s.dataset,
            counts=s.counts(),
            finished=finished,
            failures=self._failures(MAX_REPORTED_FAILURES),  # the count is in counts
            alerts=[a.message for a in s.alerts[-MAX_REPORTED_ALERTS:]],
        )
        if progress == self.reported:
            return
        try:
            await workflow.get_external_workflow_handle(parent).signal("output_progress", progress)
            self.reported = progress
        except Exception as e:  # the request has ended: nobody to tell
            workflow.logger.info("request workflow %s not told: %s", parent, e)
