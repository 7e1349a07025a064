"""Harvesting activities: the DQM files of a request's finished harvesting jobs uploaded
to its DQM GUI, once each (wms2.outputs.dqm_upload keeps the ledger that makes a retry
or a second call send nothing twice)."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity

from activities.deps import ActivityDeps, domain_errors
from activities.heartbeat import threaded_activity
from wms2.messages import Activity
from wms2.outputs.dqm_upload import upload_dag_harvests
from wms2.outputs.messages import DqmUploadInput, DqmUploadResult
from wms2.services.errors import ServiceRequestError


class HarvestActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @threaded_activity(Activity.UPLOAD_DQM)
    def upload_dqm_files(self, inp: DqmUploadInput) -> DqmUploadResult:
        """Idempotent; heartbeats while files are sent. A refusal by the DQM GUI (or no
        DQM GUI configured) is non-retryable by type; an outage is retried."""
        uploader = self.deps.services.dqm
        with domain_errors():
            if uploader is None:
                raise ServiceRequestError("dqm", "no DQM GUI client is configured")
            result = upload_dag_harvests(Path(inp.dag_file).parent, uploader)
        activity.logger.info(
            "%s: %d DQM file(s) uploaded (%d now), %d harvesting job(s) without one",
            inp.request_name,
            len(result.uploads),
            result.sent,
            len(result.missing),
        )
        return result
