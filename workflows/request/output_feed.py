"""The request's side of the output pipeline: one OutputWorkflow child per output dataset,
fed completed work units by signal, closed when the DAG is done, and waited for before
the request completes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import CancelledError

with workflow.unsafe.imports_passed_through():
    from wms2.messages import Activity, CompletedWorkUnit
    from wms2.models import CleanupPolicy, OutputStatus, RequestStatus
    from wms2.outputs.messages import (
        CleanupInput,
        OutputInput,
        OutputProgress,
        RetryOutputsInput,
        WorkUnitBatch,
        WorkUnitFile,
        output_workflow_id,
    )

from workflows import options
from workflows.request.dqm_uploads import DqmUploads
from workflows.request.steps import RequestSteps
from workflows.visibility import publish

S = RequestStatus
MAX_RULE_ALERTS = 20  # the rest are counted by the output workflows and the metric


class OutputFeed:
    def __init__(self, steps: RequestSteps) -> None:
        self.steps = steps
        self.s = steps.s
        self.dqm = DqmUploads(steps)

    async def complete(self, dag_summary: str) -> None:
        """COMPLETED only once every output is ANNOUNCED; a refused output (or an output
        workflow that ended early) leaves the request PARTIAL with the reason."""
        s = self.s
        await self.close()
        publish(s)
        # The DAG is done: its DQM files go to the DQM GUI while the outputs finish.
        not_uploaded = await self.dqm.upload()
        if not await self.steps.wait(self.finished):
            return  # abort or catastrophic restart: the main loop handles it
        failures = self.failures()
        if not_uploaded and not failures:
            await self.steps.transition(
                S.PARTIAL,
                f"{dag_summary}, but {not_uploaded} (restart uploads again, abort gives up)",
            )
            return
        if failures:
            failed = sum(p.counts.get(OutputStatus.FAILED.value, 0) for p in s.outputs.values())
            what = f"{failed} output(s) failed" if failed else "outputs were not delivered"
            await self.steps.transition(
                S.PARTIAL,
                f"{dag_summary}, but {what}: "
                + "; ".join(failures[:5])
                + (f"; and {not_uploaded}" if not_uploaded else "")
                + " (restart retries them, invalidate or abort gives up)",
            )
            return
        note = await self._clean_previous_version()
        await self.steps.transition(
            S.COMPLETED,
            f"{dag_summary}; {self.announced()} outputs announced{self.dqm.summary()}{note}",
        )

    async def retry_failed(self) -> None:
        """After a restart of a request whose DAG completed: the failed outputs walk on
        from where they failed, then the request completes as usual."""
        s = self.s
        failed = {d for d, p in s.outputs.items() if p.counts.get(OutputStatus.FAILED.value)}
        failed |= set(s.undelivered)
        for d in failed:
            s.outputs[d] = s.outputs[d].model_copy(update={"finished": False, "failures": []})
        index = {d: s.output_datasets.index(d) + 1 for d in failed}
        await self.steps.act(
            Activity.RETRY_OUTPUTS,
            RetryOutputsInput(
                request_name=s.request_name,
                datasets={index[d]: d for d in failed},
                parent_workflow_id=workflow.info().workflow_id,
                config=self.steps.cfg.output,
                undelivered={index[d]: units for d, units in s.undelivered.items()},
                run=s.run,
            ),
            list[str],
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=options.SERVICE["retry_policy"],
        )
        s.undelivered = {}
        await self.complete(f"all {s.progress.work_units_total} work units done")

    def take_progress(self, p: OutputProgress) -> None:
        """An OutputWorkflow's counts by state, failures and alerts."""
        s = self.s
        s.outputs[p.dataset] = p
        totals: dict[str, int] = {}
        for prog in s.outputs.values():
            for state, n in prog.counts.items():
                totals[state] = totals.get(state, 0) + n
        s.outputs_by_state = totals
        known = {a.message for a in s.alerts}
        rule_alerts = sum(1 for a in s.alerts if a.kind == "stuck_rule")
        for message in p.alerts:
            if message not in known and rule_alerts < MAX_RULE_ALERTS:
                rule_alerts += 1
                self.steps.alert("stuck_rule", message, stuck=False)

    async def feed(self, units: list[CompletedWorkUnit]) -> None:
        """Signal each dataset's OutputWorkflow the new work units (one signal per
        dataset per round of news), starting the child on a dataset's first unit."""
        by_dataset: dict[str, list[WorkUnitFile]] = {}
        for wu in units:
            for o in wu.outputs:
                by_dataset.setdefault(o.dataset, []).append(
                    WorkUnitFile(
                        work_unit=wu.name,
                        lfn=o.lfn,
                        site=o.site,
                        size=o.size,
                        events=o.events,
                        adler32=o.adler32,
                    )
                )
        for dataset, files in by_dataset.items():
            if dataset in self.s.undelivered:  # its workflow ended: kept for the restart
                self.s.undelivered[dataset].extend(files)
                continue
            wf_id = await self._output_workflow(dataset)
            try:
                await self._signal(wf_id, "add_work_units", WorkUnitBatch(units=files))
            except Exception as e:  # the child has ended (terminated, invalidated by hand)
                self._output_gone(dataset, wf_id, e, files)
        # Every dataset got its units (outputs outlive an abort); then the abort.
        self.steps.observe_cancellation()

    async def close(self) -> None:
        """No more work units: each OutputWorkflow ends once its units are done."""
        s = self.s
        if s.outputs_closed:
            return
        s.outputs_closed = True
        for dataset, wf_id in s.output_workflows.items():
            if s.outputs.get(dataset, OutputProgress(dataset=dataset)).finished:
                continue
            try:
                await self._signal(wf_id, "close")
            except Exception as e:  # it ended before reporting that it finished
                self._output_gone(dataset, wf_id, e, [])
        self.steps.observe_cancellation()

    def finished(self) -> bool:
        s = self.s
        return all(s.outputs.get(d, OutputProgress(dataset=d)).finished for d in s.output_workflows)

    def failures(self) -> list[str]:
        return [f"{d} {f}" for d, p in sorted(self.s.outputs.items()) for f in p.failures]

    def announced(self) -> int:
        return self.s.outputs_by_state.get(OutputStatus.ANNOUNCED.value, 0)

    async def _signal(self, wf_id: str, name: str, arg: Any = None) -> None:
        """Signal an output workflow. A cancellation of this request that lands while the
        signal is pending cancels the signal: it is sent again (the cancellation is the
        lifecycle's to handle, not a sign that the output workflow ended)."""
        handle = workflow.get_external_workflow_handle(wf_id)
        args = [] if arg is None else [arg]
        try:
            await handle.signal(name, args=args)
        except CancelledError:
            if not self.steps.cancel_pending():
                raise
            await handle.signal(name, args=args)

    async def _output_workflow(self, dataset: str) -> str:
        s = self.s
        if dataset in s.output_workflows:
            return s.output_workflows[dataset]
        if dataset not in s.output_datasets:
            s.output_datasets.append(dataset)
        index = s.output_datasets.index(dataset) + 1
        wf_id = output_workflow_id(s.request_name, index, s.run)
        await workflow.start_child_workflow(
            "OutputWorkflow",
            OutputInput(
                request_name=s.request_name,
                dataset=dataset,
                index=index,
                parent_workflow_id=workflow.info().workflow_id,
                config=self.steps.cfg.output,
            ),
            id=wf_id,
            # Outputs outlive an aborted or superseded request: what was produced is still
            # registered and protected, and stays until invalidated.
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            # What the Web UI's list and the workflow's page say before any detail.
            static_summary=f"outputs {dataset}",
            static_details=(
                f"**{dataset}**\n"
                f"output {index} of request {s.request_name} (run {s.run}); "
                f"{s.request_type or 'request'} of campaign {s.campaign or '-'}, "
                f"priority {s.priority}"
            ),
        )
        s.output_workflows[dataset] = wf_id
        s.outputs.setdefault(dataset, OutputProgress(dataset=dataset))
        return wf_id

    def _output_gone(
        self, dataset: str, wf_id: str, error: Exception, files: list[WorkUnitFile]
    ) -> None:
        """An output workflow ended before its dataset was done: the request does not wait
        for it (it would wait forever); it alerts, keeps what was not handed over, and
        ends PARTIAL so that a restart starts that workflow again."""
        s = self.s
        first = dataset not in s.undelivered
        s.undelivered.setdefault(dataset, []).extend(files)
        message = (
            f"output workflow {wf_id} of {dataset} ended before its outputs were done "
            f"({error}); {len(s.undelivered[dataset])} work unit(s) not handed over"
        )
        progress = s.outputs.get(dataset, OutputProgress(dataset=dataset))
        s.outputs[dataset] = progress.model_copy(update={"finished": True, "failures": [message]})
        if first:
            self.steps.alert("output_workflow_gone", message, stuck=False)

    async def _clean_previous_version(self) -> str:
        """Cleanup policy of a version increment, applied once this version completed."""
        s = self.s
        prev = s.previous_version_request
        if prev is None:
            return ""
        if s.cleanup_policy is CleanupPolicy.KEEP_UNTIL_REPLACED:
            return f"; outputs of {prev} kept ({s.cleanup_policy.value})"
        await self.steps.act(
            Activity.INVALIDATE_REQUEST_OUTPUTS,
            CleanupInput(
                request_name=prev,
                reason=f"superseded by {s.request_name} ({s.cleanup_policy.value})",
                config=self.steps.cfg.output,
            ),
            list[str],
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=options.SERVICE["retry_policy"],
        )
        return f"; outputs of {prev} invalidated ({s.cleanup_policy.value})"
