"""The Temporal outcome agrees with the request's status (README "Temporal outcomes"):
COMPLETED -> Completed, FAILED -> Failed with the reason, ABORTED by `starter.py abort` ->
Canceled, on the real stack."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment

from tests.conftest import RERECO
from tests.integration.conftest import WorkerSite
from tests.integration.test_end_to_end import repo, run_starter, start
from tests.workflows.harness import until
from wms2.models import RequestStatus
from workflows.request import RequestWorkflow


async def test_starter_abort_ends_the_workflow_canceled_and_the_request_aborted(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    site.start_worker()
    h = await start(dev_server, site, RERECO, urgent=True)
    await until(h, lambda s: s.status is RequestStatus.ACTIVE, 120)
    done = run_starter(site, "abort", RERECO, "--reason", "wrong tune")
    assert done.returncode == 0, done.stderr
    with pytest.raises(WorkflowFailureError) as exc:
        await asyncio.wait_for(h.result(), 120)
    assert isinstance(exc.value.cause, CancelledError)
    assert (await h.describe()).status is WorkflowExecutionStatus.CANCELED
    s = await h.query(RequestWorkflow.status)
    assert s.status is RequestStatus.ABORTED and s.transitions[-1].reason == "wrong tune"
    assert repo(site).get_request(RERECO).status is RequestStatus.ABORTED


async def test_a_failed_request_is_a_failed_workflow_with_its_reason(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    site.start_worker()
    doc = {"RequestName": "wms2test_bad_doc", "RequestType": "ReReco"}
    h = await start(dev_server, site, "wms2test_bad_doc", request_document=doc)
    with pytest.raises(WorkflowFailureError) as exc:
        await asyncio.wait_for(h.result(), 60)
    cause = exc.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "RequestFailed"
    assert cause.non_retryable
    assert str(cause.message).startswith("request wms2test_bad_doc FAILED: import failed: ")
    assert (await h.describe()).status is WorkflowExecutionStatus.FAILED
