"""Input staging for a request whose input is on tape only: the request workflow owns one
InputStaging. It asks for a Rucio rule (an activity), then polls the rule on a durable
timer until it is OK. The request stays PLANNING meanwhile; `status` shows the rule, a
STUCK or SUSPENDED rule raises an alert, and so does staging that outlasts the PLANNING
timeout (the request keeps waiting: staging from tape can take days)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from wms2.messages import Activity, PollStagingInput, StageInput, StagingRule
    from wms2.models import RequestStatus

from workflows import options
from workflows.errors import reason
from workflows.request.steps import RequestSteps
from workflows.visibility import publish

POLLS_PER_CALL = 50  # then the main loop may continue as new; staging resumes after
STAGE_TAPE_INPUT = "stage-tape-input"  # workflow.patched id


class Staged(StrEnum):
    DONE = "done"  # the rule is OK (or nothing was left on tape)
    WAITING = "waiting"  # still staging: call again
    STOPPED = "stopped"  # aborted, or the rule could not be made


class InputStaging:
    def __init__(self, steps: RequestSteps) -> None:
        self.steps = steps
        self.s = steps.s

    @property
    def pending(self) -> bool:
        staging = self.s.staging
        return staging is not None and staging.rule_id is not None and staging.state != "OK"

    async def run(self) -> Staged:
        steps, s = self.steps, self.s
        if not self.pending:
            try:
                rule = await steps.act(
                    Activity.STAGE_INPUT,
                    StageInput(request_name=s.request_name),
                    StagingRule,
                    **options.SERVICE,
                )
            except ActivityError as e:
                await steps.transition(RequestStatus.FAILED, f"staging input failed: {reason(e)}")
                return Staged.STOPPED
            if rule.rule_id is None:  # nothing on tape only any more
                s.staging = rule.model_copy(update={"state": "OK", "since": workflow.now()})
                return Staged.DONE
            s.staging = rule.model_copy(update={"since": workflow.now()})
            workflow.logger.info(
                "request %s: staging %d file(s) in %d block(s) to %s (rule %s)",
                s.request_name,
                rule.files,
                rule.blocks,
                rule.rse_expression,
                rule.rule_id,
            )
            publish(s)
        return await self._poll()

    async def _poll(self) -> Staged:
        steps, s = self.steps, self.s
        staging = s.staging
        assert staging is not None and staging.rule_id is not None
        for _ in range(POLLS_PER_CALL):
            state = await steps.act(
                Activity.POLL_STAGING,
                PollStagingInput(request_name=s.request_name, rule_id=staging.rule_id),
                str,
                **options.SERVICE,
            )
            if state != staging.state and state in ("STUCK", "SUSPENDED", "WAITING_APPROVAL"):
                steps.alert(
                    "staging_stuck",
                    f"staging rule {staging.rule_id} to {staging.rse_expression} is {state}",
                    stuck=False,
                )
            staging.state = state
            publish(s)
            if state == "OK":
                return Staged.DONE
            if steps.overdue():
                waited = (workflow.now() - (staging.since or workflow.now())).total_seconds()
                steps.alert(
                    "slow_staging",
                    f"input staged for {waited:.0f} s: rule {staging.rule_id} is {state}",
                )
            if await self._interrupted_within(steps.cfg.output.transfer_poll_sec):
                return Staged.STOPPED
        return Staged.WAITING

    async def _interrupted_within(self, seconds: float) -> bool:
        s = self.s
        try:
            await workflow.wait_condition(lambda: s.interrupted, timeout=timedelta(seconds=seconds))
        except TimeoutError:
            return False
        return True
