"""Output pipeline activities: one per transition of one work unit's output, each
idempotent (a retry finds the block, rule or record it made and reuses it) and recorded in
output_datasets before it returns."""

from __future__ import annotations

import json
from contextlib import suppress
from typing import Any, TypeVar

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps, domain_errors
from activities.heartbeat import threaded_activity
from wms2.dagfiles.layout import GROUP_MANIFEST, DagLayout, ManifestError, dag_directory
from wms2.lfn import is_mc
from wms2.messages import Activity
from wms2.models import OutputDataset, OutputStatus, utcnow
from wms2.outputs import (
    BlockFile,
    UndoOp,
    bulk_block,
    resume_status,
    rollback_steps,
    site_rse,
    unit_block_name,
)
from wms2.outputs.merged import merged_work_unit_files
from wms2.outputs.messages import (
    CleanupInput,
    InvalidateInput,
    InvalidateSignal,
    LoadOutputsInput,
    OutputConfig,
    OutputFailure,
    OutputInput,
    OutputStepInput,
    OutputUnit,
    RetryOutputsInput,
    WorkUnitBatch,
    output_workflow_id,
)
from wms2.services.errors import NotFoundError
from wms2.services.protocols import RuleState

Out = OutputStatus
T = TypeVar("T")
R = TypeVar("R")


class OutputActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    # ── records ─────────────────────────────────────────────────────────────

    def _record(self, request_name: str, dataset: str, unit: OutputUnit) -> OutputDataset:
        """The unit's output_datasets row, created PENDING the first time."""
        repo = self.deps.repo
        wf = repo.get_workflow_by_request(request_name)
        existing = repo.get_output(wf.id, dataset, unit.work_unit)
        if existing is not None:
            return existing
        return repo.upsert_output(
            OutputDataset(
                workflow_id=wf.id,
                dataset_name=dataset,
                work_unit=unit.work_unit,
                source_site=unit.site,
                lfn=unit.lfn,
                size_bytes=unit.size,
                events=unit.events,
                adler32=unit.adler32,
            )
        )

    def _unit_inputs(
        self, request_name: str, work_unit: str
    ) -> tuple[list[tuple[int, int]], list[str]]:
        """(run, lumi) pairs and input files of a work unit, from the group manifest
        planning wrote (the input files are its merged files' DBS parents)."""
        layout = DagLayout(dag_directory(self.deps.settings.submit_dir, request_name))
        path = layout.group_dir(work_unit) / GROUP_MANIFEST
        if not path.exists():
            return [], []
        try:
            nodes = json.loads(path.read_text())["nodes"].values()
            pairs = {
                (int(run), int(lumi))
                for node in nodes
                for run, first, last in node.get("lumis", [])
                for lumi in range(int(first), int(last) + 1)
            }
            inputs = sorted({str(f) for node in nodes for f in node.get("files", [])})
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            # Rereading will not mend it: a refusal of this output, not an outage.
            raise ManifestError(
                f"work unit {work_unit}: {GROUP_MANIFEST} is malformed ({type(e).__name__}: {e})"
            ) from e
        return sorted(pairs), inputs

    # ── the forward walk ────────────────────────────────────────────────────

    @threaded_activity(Activity.REGISTER_OUTPUT)
    def register_output_in_dbs(self, inp: OutputStepInput) -> OutputUnit:
        u = inp.unit
        with domain_errors():
            rec = self._record(inp.request_name, inp.dataset, u)
            request = self.deps.repo.get_request(inp.request_name)
            lumis, parents = self._unit_inputs(inp.request_name, u.work_unit)
            # The values of the step that writes this dataset (per-step dicts resolved).
            step = request.output_step(inp.dataset)
            doc = bulk_block(
                inp.dataset,
                unit_block_name(inp.request_name, inp.dataset, u.work_unit),
                u.site,
                [BlockFile(u.lfn, u.size, u.events, u.adler32, lumis, parents)],
                processing_version=step.processing_version if step else request.processing_version,
                app=("cmsRun", step.cmssw_version if step else request.cmssw_version, "Merged"),
                global_tag=step.global_tag if step else request.global_tag,
                primary_ds_type="mc" if is_mc(inp.dataset, request.input_dataset) else "data",
                created_at=int(utcnow().timestamp()),
            )
            inserted = self.deps.services.registry.insert_block(doc)
        if not inserted:
            activity.logger.info("block of %s %s was already registered", inp.dataset, u.work_unit)
        self.deps.repo.update_output(
            rec.id, status=Out.DBS_REGISTERED, dbs_registered=True, dbs_registered_at=utcnow()
        )
        return u.model_copy(update={"status": Out.DBS_REGISTERED})

    @threaded_activity(Activity.PROTECT_OUTPUT)
    def protect_output_source(self, inp: OutputStepInput) -> OutputUnit:
        u = inp.unit
        with domain_errors():
            rec = self._record(inp.request_name, inp.dataset, u)
            rule = self.deps.services.replicas.create_rule(
                [unit_block_name(inp.request_name, inp.dataset, u.work_unit)],
                site_rse(u.site),
                copies=1,
                grouping="DATASET",
                lifetime=None,  # protection lasts until WMS2 releases it
                comment=f"WMS2 source protection for {inp.request_name}",
            )
        self.deps.repo.update_output(
            rec.id, status=Out.SOURCE_PROTECTED, source_rule_id=rule, source_protected=True
        )
        return u.model_copy(update={"status": Out.SOURCE_PROTECTED, "source_rule_id": rule})

    @threaded_activity(Activity.REQUEST_TRANSFERS)
    def request_output_transfers(self, inp: OutputStepInput) -> OutputUnit:
        u, cfg = inp.unit, inp.config
        with domain_errors():
            rec = self._record(inp.request_name, inp.dataset, u)
            replicas = self.deps.services.replicas
            destinations = replicas.destinations(inp.dataset)
            rules = [
                replicas.create_rule(
                    [unit_block_name(inp.request_name, inp.dataset, u.work_unit)],
                    dest,
                    copies=cfg.transfer_copies,
                    grouping="DATASET",
                    lifetime=cfg.transfer_lifetime_sec,
                    comment=f"WMS2 placement of {inp.dataset} for {inp.request_name}",
                )
                for dest in destinations
            ]
        self.deps.repo.update_output(
            rec.id,
            status=Out.TRANSFERS_REQUESTED,
            transfer_rule_ids=rules,
            transfer_destinations=destinations,
        )
        return u.model_copy(
            update={
                "status": Out.TRANSFERS_REQUESTED,
                "transfer_rule_ids": rules,
                "destinations": destinations,
            }
        )

    @threaded_activity(Activity.POLL_TRANSFERS)
    def poll_output_transfers(self, inp: OutputStepInput) -> OutputUnit:
        u = inp.unit
        with domain_errors():
            rec = self._record(inp.request_name, inp.dataset, u)
            states = {r: self.deps.services.replicas.get_rule(r).state for r in u.transfer_rule_ids}
        done = all(s is RuleState.OK for s in states.values())
        # STUCK, SUSPENDED, WAITING_APPROVAL: alerted (with the state), polling goes on.
        stuck = sorted(f"{r} {s.value}" for r, s in states.items() if s.needs_attention)
        now = utcnow()
        status = Out.TRANSFERRED if done else Out.TRANSFERRING
        fields: dict = {"status": status, "last_transfer_check": now}
        if done:
            fields.update(transfers_complete=True, transfers_complete_at=now)
        self.deps.repo.update_output(rec.id, **fields)
        return u.model_copy(update={"status": status, "polls": u.polls + 1, "stuck_rules": stuck})

    @threaded_activity(Activity.RELEASE_SOURCE)
    def release_output_source(self, inp: OutputStepInput) -> OutputUnit:
        u = inp.unit
        rec = self._record(inp.request_name, inp.dataset, u)
        released = False
        # With no destination the source is the output's home, and a destination that is
        # the source RSE shares its rule (Rucio makes one rule per DID and RSE): it stays.
        if u.transfer_rule_ids and u.source_rule_id and u.source_rule_id not in u.transfer_rule_ids:
            # NotFound: deleted by an earlier attempt of this activity.
            with domain_errors(), suppress(NotFoundError):
                self.deps.services.replicas.delete_rule(u.source_rule_id)
            released = True
        self.deps.repo.update_output(rec.id, status=Out.SOURCE_RELEASED, source_released=released)
        return u.model_copy(update={"status": Out.SOURCE_RELEASED})

    @threaded_activity(Activity.ANNOUNCE_OUTPUT)
    def announce_output(self, inp: OutputStepInput) -> OutputUnit:
        u = inp.unit
        with domain_errors():
            rec = self._record(inp.request_name, inp.dataset, u)
            self.deps.services.registry.close_block(
                unit_block_name(inp.request_name, inp.dataset, u.work_unit)
            )
        self.deps.repo.update_output(rec.id, status=Out.ANNOUNCED)
        return u.model_copy(update={"status": Out.ANNOUNCED})

    @threaded_activity(Activity.FAIL_OUTPUT)
    def record_output_failure(self, inp: OutputFailure) -> OutputUnit:
        with domain_errors():
            rec = self._record(inp.request_name, inp.dataset, inp.unit)
        self.deps.repo.update_output(rec.id, status=Out.FAILED, error=inp.reason)
        return inp.unit.model_copy(update={"status": Out.FAILED, "error": inp.reason})

    # ── invalidation ────────────────────────────────────────────────────────

    @threaded_activity(Activity.INVALIDATE_OUTPUT)
    def invalidate_output(self, inp: InvalidateInput) -> OutputUnit:
        """Spec 6.3's rollback table for the state the record reached."""
        repo, services = self.deps.repo, self.deps.services
        with domain_errors():
            wf = repo.get_workflow_by_request(inp.request_name)
            rec = repo.get_output(wf.id, inp.dataset, inp.unit.work_unit)
        done = inp.unit.model_copy(update={"status": Out.INVALIDATED, "error": inp.reason})
        if rec is None:
            return done  # never recorded: nothing was made outside
        steps = rollback_steps(rec)
        with domain_errors():
            for step in steps:
                try:
                    if step.op in (UndoOp.DELETE_TRANSFER_RULE, UndoOp.DELETE_SOURCE_RULE):
                        services.replicas.delete_rule(step.target)
                    elif step.op is UndoOp.INVALIDATE_DBS:
                        services.registry.invalidate_file(step.target)
                    elif step.op is UndoOp.DELETE_RECORD:
                        repo.delete_output(rec.id)
                        return done
                except NotFoundError:
                    pass  # undone by an earlier attempt of this activity
        repo.update_output(
            rec.id,
            status=Out.INVALIDATED,
            invalidated=True,
            invalidated_at=utcnow(),
            invalidation_reason=inp.reason,
            dbs_invalidated=any(s.op is UndoOp.INVALIDATE_DBS for s in steps),
            rucio_rules_deleted=any(
                s.op in (UndoOp.DELETE_TRANSFER_RULE, UndoOp.DELETE_SOURCE_RULE) for s in steps
            ),
        )
        activity.logger.info(
            "invalidated %s %s: %s", inp.dataset, inp.unit.work_unit, [s.op.value for s in steps]
        )
        return done

    @threaded_activity(Activity.LOAD_OUTPUTS)
    def load_outputs(self, inp: LoadOutputsInput) -> list[OutputUnit]:
        """The recorded units of a dataset (for a run started to invalidate or retry
        them), and with `include_merged` every merged unit of it that has no record."""
        with domain_errors():
            wf = self.deps.repo.get_workflow_by_request(inp.request_name)
        recorded = self._recorded_units(wf.id, inp.dataset)
        if not inp.include_merged:
            return recorded
        layout = DagLayout(dag_directory(self.deps.settings.submit_dir, inp.request_name))
        known = {u.work_unit for u in recorded}
        merged = [
            OutputUnit(**f.model_dump())
            for f in merged_work_unit_files(layout, inp.dataset)
            if f.work_unit not in known
        ]
        return recorded + merged

    def _recorded_units(self, workflow_id: Any, dataset: str) -> list[OutputUnit]:
        return [
            OutputUnit(
                work_unit=r.work_unit,
                lfn=r.lfn or "",
                site=r.source_site or "",
                size=r.size_bytes or 0,
                events=r.events or 0,
                adler32=r.adler32 or "",
                status=r.status,
                source_rule_id=r.source_rule_id,
                transfer_rule_ids=list(r.transfer_rule_ids),
                destinations=list(r.transfer_destinations),
                error=r.error,
                failed_from=resume_status(r) if r.status is Out.FAILED else None,
            )
            for r in self.deps.repo.list_outputs(workflow_id, dataset)
        ]

    def _client(self) -> Client:
        if self.deps.client is None:
            raise ApplicationError("worker has no Temporal client", non_retryable=True)
        return self.deps.client

    @activity.defn(name=Activity.RETRY_OUTPUTS)
    async def retry_failed_outputs(self, inp: RetryOutputsInput) -> list[str]:
        return await retry_outputs(self._client(), inp, activity.info().task_queue)

    @activity.defn(name=Activity.INVALIDATE_REQUEST_OUTPUTS)
    async def invalidate_request_outputs(self, inp: CleanupInput) -> list[str]:
        """Signal-with-start `invalidate` to each output workflow of a request: a running
        one invalidates between its own steps; a finished one is started again from the
        records, so there is always one actor per dataset."""
        datasets, run = inp.datasets, inp.run
        with domain_errors():
            if not datasets:
                datasets = self.deps.repo.get_request(inp.request_name).output_datasets
            if run is None:
                known = self.deps.repo.request_run(inp.request_name)
                run = max(known.number, 1) if known else 1
        return await start_invalidation(
            self._client(),
            inp.model_copy(update={"run": run}),
            datasets,
            activity.info().task_queue,
        )


async def start_invalidation(
    client: Client, inp: CleanupInput, datasets: list[str], task_queue: str
) -> list[str]:
    return [
        await signal_with_start_output(
            client,
            inp.request_name,
            index,
            dataset,
            inp.config,
            task_queue,
            "invalidate",
            InvalidateSignal(reason=inp.reason),
            run=inp.run or 1,
        )
        for index, dataset in enumerate(datasets, start=1)
    ]


async def retry_outputs(client: Client, inp: RetryOutputsInput, task_queue: str) -> list[str]:
    """Hand each named dataset's OutputWorkflow (started again if it ended) the units it
    never received, in the same signal that asks it to walk its FAILED units on."""
    return [
        await signal_with_start_output(
            client,
            inp.request_name,
            index,
            dataset,
            inp.config,
            task_queue,
            "add_work_units",
            WorkUnitBatch(units=inp.undelivered.get(index, []), retry_failed=True),
            parent_workflow_id=inp.parent_workflow_id,
            load_merged=True,
            run=inp.run,
        )
        for index, dataset in sorted(inp.datasets.items())
    ]


async def signal_with_start_output(
    client: Client,
    request_name: str,
    index: int,
    dataset: str,
    config: OutputConfig,
    task_queue: str,
    signal: str,
    *args: Any,
    parent_workflow_id: str | None = None,
    load_merged: bool = False,
    run: int = 1,
) -> str:
    """Signal a dataset's OutputWorkflow; one that ended is started again first, its units
    loaded from the database, so one actor owns a dataset's outputs."""
    wf_id = output_workflow_id(request_name, index, run)
    await client.start_workflow(
        "OutputWorkflow",
        OutputInput(
            request_name=request_name,
            dataset=dataset,
            index=index,
            parent_workflow_id=parent_workflow_id,
            config=config,
            load_from_db=True,
            load_merged=load_merged,
            closed=True,
        ),
        id=wf_id,
        task_queue=task_queue,
        start_signal=signal,
        start_signal_args=list(args),
    )
    return wf_id
