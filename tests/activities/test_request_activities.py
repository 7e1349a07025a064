"""The real request activities against the sample catalog and a SQLite repository."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.deps import ActivityDeps
from activities.requests import RequestActivities
from tests.conftest import GEN, STEPCHAIN
from wms2.messages import ImportInput, RequestUpdate, TransitionInput, VersionInput
from wms2.models import CleanupPolicy, ProductionStep, RequestStatus


@pytest.fixture
def acts(deps: ActivityDeps) -> RequestActivities:
    return RequestActivities(deps)


def run(fn, *args):  # type: ignore[no-untyped-def]
    return ActivityEnvironment().run(fn, *args)


def test_import_writes_request_and_workflow(acts: RequestActivities) -> None:
    res = run(acts.import_request, ImportInput(request_name=STEPCHAIN))
    assert res.priority == 110000 and res.urgent is False and len(res.output_datasets) == 2
    repo = acts.deps.repo
    assert repo.get_request(STEPCHAIN).status is RequestStatus.SUBMITTED
    wf = repo.get_workflow_by_request(STEPCHAIN)
    assert wf.category_throttles["MergeGroup"] == 10
    again = run(acts.import_request, ImportInput(request_name=STEPCHAIN, urgent=True))  # a retry
    assert again.urgent is True and len(repo.list_requests()) == 1


def test_import_errors_are_non_retryable_and_named(acts: RequestActivities) -> None:
    with pytest.raises(ApplicationError) as exc:
        run(acts.import_request, ImportInput(request_name="no_such_request"))
    assert exc.value.non_retryable and exc.value.type == "NotFoundError"
    assert "request 'no_such_request' does not exist" in str(exc.value)
    with pytest.raises(ApplicationError) as exc:
        run(
            acts.import_request,
            ImportInput(request_name="x", request_document={"RequestName": "x"}),
        )
    assert exc.value.type == "RequestImportError"
    assert "SplittingAlgo is missing from request 'x'" in str(exc.value)


def test_transitions_and_updates(acts: RequestActivities) -> None:
    assert (
        run(
            acts.record_transition,
            TransitionInput(request_name="ghost", to_status=RequestStatus.FAILED),
        )
        is False
    )
    run(acts.import_request, ImportInput(request_name=GEN))
    assert run(
        acts.record_transition,
        TransitionInput(request_name=GEN, to_status=RequestStatus.QUEUED, reason="ok"),
    )
    run(
        acts.record_transition,
        TransitionInput(request_name=GEN, to_status=RequestStatus.PILOT_RUNNING),
    )
    run(
        acts.update_request,
        RequestUpdate(
            request_name=GEN,
            priority=5,
            production_steps=[ProductionStep(fraction=0.5, priority=1)],
        ),
    )
    repo = acts.deps.repo
    stored = repo.get_request(GEN)
    assert stored.status is RequestStatus.PILOT_RUNNING and stored.priority == 5
    assert stored.production_steps == [ProductionStep(fraction=0.5, priority=1)]
    assert repo.get_workflow_by_request(GEN).status.value == "pilot_running"


def test_version_increment_links_both_ways(acts: RequestActivities) -> None:
    run(acts.import_request, ImportInput(request_name=STEPCHAIN))
    new = run(
        acts.create_version_increment,
        VersionInput(request_name=STEPCHAIN, cleanup_policy=CleanupPolicy.IMMEDIATE_CLEANUP),
    )
    assert new == STEPCHAIN.replace("__v1_", "__v2_")
    repo = acts.deps.repo
    old, fresh = repo.get_request(STEPCHAIN), repo.get_request(new)
    assert old.superseded_by_request == new and fresh.previous_version_request == STEPCHAIN
    assert fresh.processing_version == 2 and fresh.cleanup_policy is CleanupPolicy.IMMEDIATE_CLEANUP
    assert all(ds.endswith(("-v2/AODSIM", "-v2/MINIAODSIM")) for ds in fresh.output_datasets)
    # The new version's workflow imports the record WMS2 wrote (it is not in ReqMgr2).
    res = run(
        acts.import_request, ImportInput(request_name=new, previous_version_request=STEPCHAIN)
    )
    assert res.processing_version == 2
