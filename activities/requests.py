"""Request records: import from ReqMgr2 (or the catalog), transitions, updates, versions."""

from __future__ import annotations

import re

from temporalio import activity

from activities.deps import ActivityDeps, domain_errors
from wms2.db.repository import RecordNotFound
from wms2.lifecycle import next_version_name
from wms2.messages import (
    Activity,
    ImportInput,
    ImportResult,
    RequestUpdate,
    TransitionInput,
    VersionInput,
)
from wms2.models import RequestStatus, Workflow, WorkflowStatus
from wms2.requests import request_from_reqmgr

_WORKFLOW_STATUS = {s.value for s in WorkflowStatus}


class RequestActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @activity.defn(name=Activity.IMPORT_REQUEST)
    def import_request(self, inp: ImportInput) -> ImportResult:
        repo = self.deps.repo
        with domain_errors():
            if inp.request_document is not None:
                doc = inp.request_document
            else:
                try:  # a version increment was created by WMS2 itself
                    existing = repo.get_request(inp.request_name)
                except RecordNotFound:
                    existing = None
                doc = (
                    None
                    if existing is not None
                    else self.deps.services.requests.get_request(inp.request_name)
                )
            request = request_from_reqmgr(doc, inp.request_name) if doc is not None else existing
            updates = {}
            if inp.urgent is not None:
                updates["urgent"] = inp.urgent
                if inp.urgent:
                    updates["production_steps"] = []
            if inp.previous_version_request:
                updates["previous_version_request"] = inp.previous_version_request
            if inp.cleanup_policy:
                updates["cleanup_policy"] = inp.cleanup_policy
            request = request.model_validate({**request.model_dump(), **updates})
            stored = repo.upsert_request(request)
            repo.upsert_workflow(
                Workflow(
                    request_name=stored.request_name,
                    input_dataset=stored.input_dataset,
                    splitting_algo=stored.splitting_algo,
                    splitting_params=stored.splitting_params,
                    category_throttles=self.deps.settings.category_throttles,
                )
            )
        activity.logger.info("imported request %s", stored.request_name)
        return ImportResult(
            request_name=stored.request_name,
            priority=stored.priority,
            urgent=stored.urgent,
            campaign=stored.campaign,
            request_type=stored.request_type,
            processing_version=stored.processing_version,
            production_steps=stored.production_steps,
            cleanup_policy=stored.cleanup_policy,
            output_datasets=stored.output_datasets,
        )

    @activity.defn(name=Activity.RECORD_TRANSITION)
    def record_transition(self, inp: TransitionInput) -> bool:
        """Append the transition; False when the request has no record (its import failed)."""
        repo = self.deps.repo
        try:
            repo.record_transition(inp.request_name, inp.to_status, inp.reason)
        except RecordNotFound:
            return False
        if inp.to_status.value in _WORKFLOW_STATUS and inp.to_status is not RequestStatus.QUEUED:
            try:
                wf = repo.get_workflow_by_request(inp.request_name)
                repo.update_workflow(wf.id, status=inp.to_status.value)
            except RecordNotFound:
                pass
        return True

    @activity.defn(name=Activity.UPDATE_REQUEST)
    def update_request(self, inp: RequestUpdate) -> None:
        fields = inp.model_dump(exclude={"request_name"}, exclude_none=True)
        with domain_errors():
            self.deps.repo.update_request(inp.request_name, **fields)

    @activity.defn(name=Activity.CREATE_VERSION)
    def create_version_increment(self, inp: VersionInput) -> str:
        """Spec 6.3: a new request with processing_version + 1, linked both ways."""
        repo = self.deps.repo
        with domain_errors():
            old = repo.get_request(inp.request_name)
            version = old.processing_version + 1
            new_name = next_version_name(old.request_name, old.processing_version)
            outputs = [re.sub(r"-v\d+/", f"-v{version}/", ds) for ds in old.output_datasets]
            new = old.model_copy(
                update={
                    "request_name": new_name,
                    "processing_version": version,
                    "output_datasets": outputs,
                    "previous_version_request": old.request_name,
                    "superseded_by_request": None,
                    "cleanup_policy": inp.cleanup_policy,
                    "status": RequestStatus.SUBMITTED,
                    "status_transitions": [],
                }
            )
            repo.upsert_request(new.model_validate(new.model_dump()))
            repo.update_request(old.request_name, superseded_by_request=new_name)
        return new_name
