"""A scripted DBS and Rucio for OutputWorkflow tests: the output activities, faked under
their real names, keep blocks and rules in memory and log every call."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import outputs as real_outputs
from wms2.messages import Activity
from wms2.models import OutputDataset, OutputStatus
from wms2.outputs import rollback_steps
from wms2.outputs.messages import (
    CleanupInput,
    InvalidateInput,
    LoadOutputsInput,
    OutputFailure,
    OutputStepInput,
    OutputUnit,
    RetryOutputsInput,
)

Out = OutputStatus


@dataclass
class FakeDataServices:
    destinations: list[str] = field(default_factory=lambda: ["T1_US_FNAL_Disk"])
    polls_to_ok: int = 1  # polls of a transfer rule before it is OK
    stuck_units: set[str] = field(default_factory=set)  # their rules go STUCK
    refused_datasets: set[str] = field(default_factory=set)  # DBS answers 400
    outage_calls: int = 0  # the next N registrations fail like a 503
    failing_units: set[str] = field(default_factory=set)  # their registration always 503s
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (activity, dataset, unit)
    blocks: dict[str, str] = field(default_factory=dict)  # block -> dataset
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    undone: list[tuple[str, str, str]] = field(default_factory=list)  # (unit, op, target)
    cleanups: list[CleanupInput] = field(default_factory=list)
    retries: list[RetryOutputsInput] = field(default_factory=list)
    client: Any = None  # set by the fake world: the retry activity signals-with-start
    records: dict[tuple[str, str], OutputUnit] = field(default_factory=dict)
    merged: dict[tuple[str, str], OutputUnit] = field(default_factory=dict)  # merge reports
    ids: Any = field(default_factory=lambda: itertools.count(1))

    def calls_of(self, name: Activity, unit: str | None = None) -> int:
        return sum(1 for a, _, u in self.calls if a == name.value and unit in (None, u))

    def _log(self, name: Activity, inp: Any) -> None:
        self.calls.append((name.value, inp.dataset, inp.unit.work_unit))

    def _rule(self, unit: str, rse: str) -> str:
        rule = f"rule-{next(self.ids)}"
        self.rules[rule] = {"unit": unit, "rse": rse, "polls": 0, "deleted": False}
        return rule

    def _keep(self, inp: Any, new: OutputUnit) -> OutputUnit:
        self.records[(inp.dataset, new.work_unit)] = new
        return new

    def activities(self) -> list[Any]:
        f = self

        @activity.defn(name=Activity.REGISTER_OUTPUT)
        async def register(inp: OutputStepInput) -> OutputUnit:
            f._log(Activity.REGISTER_OUTPUT, inp)
            if f.outage_calls > 0 or inp.unit.work_unit in f.failing_units:
                f.outage_calls = max(f.outage_calls - 1, 0)
                raise ApplicationError("dbs: HTTP 503", type="ServiceUnavailable")
            if inp.dataset in f.refused_datasets:
                raise ApplicationError(
                    f"dbs: POST /bulkblocks was refused with HTTP 400: {inp.dataset}",
                    type="ServiceRequestError",
                    non_retryable=True,
                )
            f.blocks[f"{inp.dataset}#{inp.unit.work_unit}"] = inp.dataset
            return f._keep(inp, inp.unit.model_copy(update={"status": Out.DBS_REGISTERED}))

        @activity.defn(name=Activity.PROTECT_OUTPUT)
        async def protect(inp: OutputStepInput) -> OutputUnit:
            f._log(Activity.PROTECT_OUTPUT, inp)
            rule = f._rule(inp.unit.work_unit, inp.unit.site)
            new = inp.unit.model_copy(
                update={"status": Out.SOURCE_PROTECTED, "source_rule_id": rule}
            )
            return f._keep(inp, new)

        @activity.defn(name=Activity.REQUEST_TRANSFERS)
        async def request_transfers(inp: OutputStepInput) -> OutputUnit:
            f._log(Activity.REQUEST_TRANSFERS, inp)
            rules = [f._rule(inp.unit.work_unit, d) for d in f.destinations]
            new = inp.unit.model_copy(
                update={
                    "status": Out.TRANSFERS_REQUESTED,
                    "transfer_rule_ids": rules,
                    "destinations": list(f.destinations),
                }
            )
            return f._keep(inp, new)

        @activity.defn(name=Activity.POLL_TRANSFERS)
        async def poll(inp: OutputStepInput) -> OutputUnit:
            f._log(Activity.POLL_TRANSFERS, inp)
            states = []
            for r in inp.unit.transfer_rule_ids:
                f.rules[r]["polls"] += 1
                if inp.unit.work_unit in f.stuck_units:
                    states.append("STUCK")
                else:
                    states.append("OK" if f.rules[r]["polls"] >= f.polls_to_ok else "REPLICATING")
            done = all(s == "OK" for s in states)
            stuck = [  # as the real activity names them: rule id and state
                f"{r} {s}"
                for r, s in zip(inp.unit.transfer_rule_ids, states, strict=True)
                if s == "STUCK"
            ]
            new = inp.unit.model_copy(
                update={
                    "status": Out.TRANSFERRED if done else Out.TRANSFERRING,
                    "polls": inp.unit.polls + 1,
                    "stuck_rules": stuck,
                }
            )
            return f._keep(inp, new)

        @activity.defn(name=Activity.RELEASE_SOURCE)
        async def release(inp: OutputStepInput) -> OutputUnit:
            f._log(Activity.RELEASE_SOURCE, inp)
            if inp.unit.transfer_rule_ids and inp.unit.source_rule_id:  # distinct RSEs here
                f.rules[inp.unit.source_rule_id]["deleted"] = True
            return f._keep(inp, inp.unit.model_copy(update={"status": Out.SOURCE_RELEASED}))

        @activity.defn(name=Activity.ANNOUNCE_OUTPUT)
        async def announce(inp: OutputStepInput) -> OutputUnit:
            f._log(Activity.ANNOUNCE_OUTPUT, inp)
            return f._keep(inp, inp.unit.model_copy(update={"status": Out.ANNOUNCED}))

        @activity.defn(name=Activity.FAIL_OUTPUT)
        async def fail(inp: OutputFailure) -> OutputUnit:
            f._log(Activity.FAIL_OUTPUT, inp)
            new = inp.unit.model_copy(update={"status": Out.FAILED, "error": inp.reason})
            f._keep(inp, new.model_copy(update={"failed_from": inp.unit.status}))  # the record
            return new

        @activity.defn(name=Activity.INVALIDATE_OUTPUT)
        async def invalidate(inp: InvalidateInput) -> OutputUnit:
            f._log(Activity.INVALIDATE_OUTPUT, inp)
            u = inp.unit
            record = OutputDataset(
                workflow_id="00000000-0000-0000-0000-000000000001",
                dataset_name=inp.dataset,
                work_unit=u.work_unit,
                lfn=u.lfn,
                status=u.status,
                dbs_registered=u.status is not Out.PENDING,
                source_rule_id=u.source_rule_id,
                source_released=bool(u.transfer_rule_ids) and u.status is Out.ANNOUNCED,
                transfer_rule_ids=u.transfer_rule_ids,
            )
            for step in rollback_steps(record):
                f.undone.append((u.work_unit, step.op.value, step.target))
            new = u.model_copy(update={"status": Out.INVALIDATED, "error": inp.reason})
            return f._keep(inp, new)

        @activity.defn(name=Activity.LOAD_OUTPUTS)
        async def load(inp: LoadOutputsInput) -> list[OutputUnit]:
            units = {k: u for k, u in f.records.items() if k[0] == inp.dataset}
            if inp.include_merged:
                for k, u in f.merged.items():
                    if k[0] == inp.dataset:
                        units.setdefault(k, u)
            return [u for _, u in sorted(units.items())]

        @activity.defn(name=Activity.RETRY_OUTPUTS)
        async def retry_outputs(inp: RetryOutputsInput) -> list[str]:
            f.retries.append(inp)
            return await real_outputs.retry_outputs(f.client, inp, activity.info().task_queue)

        @activity.defn(name=Activity.INVALIDATE_REQUEST_OUTPUTS)
        async def invalidate_request(inp: CleanupInput) -> list[str]:
            f.cleanups.append(inp)
            return []

        return [
            register,
            protect,
            request_transfers,
            poll,
            release,
            announce,
            fail,
            invalidate,
            load,
            invalidate_request,
            retry_outputs,
        ]
