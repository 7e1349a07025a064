"""The request's DQM uploads: once the DAG is done and before the request completes, the
DQM files of its harvesting jobs go to the DQM GUI (one activity, idempotent), and what
the GUI has is kept in the request's state (`status` shows it)."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from wms2.messages import Activity
    from wms2.outputs.messages import DqmUploadInput, DqmUploadResult

from workflows import options
from workflows.errors import reason
from workflows.request.steps import RequestSteps

HARVEST_UPLOAD = "harvest-upload"  # workflow.patched id: DQM files uploaded after the DAG


class DqmUploads:
    def __init__(self, steps: RequestSteps) -> None:
        self.steps = steps
        self.s = steps.s

    async def upload(self) -> str:
        """Upload what the harvesting jobs wrote; why the request cannot complete ("" if
        it can: nothing to harvest, everything uploaded, or an abort came first)."""
        s, steps = self.s, self.steps
        if not s.harvest_jobs or s.dag_file is None or not workflow.patched(HARVEST_UPLOAD):
            return ""
        call = steps.act(
            Activity.UPLOAD_DQM,
            DqmUploadInput(request_name=s.request_name, dag_file=s.dag_file),
            DqmUploadResult,
            **options.DQM_UPLOAD,
        )
        try:
            res = await steps.interruptible(call)
        except ActivityError as e:
            steps.alert("dqm_upload_failed", f"DQM upload failed: {reason(e)}", stuck=False)
            return f"the DQM upload failed: {reason(e)}"
        if res is None:
            return ""  # aborted: the main loop handles it
        s.dqm_uploads = res.uploads
        if res.missing:
            listed = "; ".join(f"{n}: {why}" for n, why in sorted(res.missing.items())[:5])
            more = f" and {len(res.missing) - 5} more" if len(res.missing) > 5 else ""
            message = f"{len(res.missing)} harvesting job(s) left no DQM file: {listed}{more}"
            steps.alert("dqm_files_missing", message, stuck=False)
            return message
        return ""

    def summary(self) -> str:
        """What the COMPLETED reason says of the uploads ("" without harvesting)."""
        ups = self.s.dqm_uploads
        if not ups:
            return ""
        urls = sorted({u.url for u in ups})
        return f"; {len(ups)} DQM file(s) uploaded to {', '.join(urls) or '-'}"
