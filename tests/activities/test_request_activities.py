"""The real request activities against the sample catalog and a SQLite repository."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.deps import ActivityDeps
from activities.requests import RequestActivities
from tests.conftest import GEN, SAMPLE_CATALOG, STEPCHAIN
from wms2.messages import ImportInput, RequestUpdate, TransitionInput, VersionInput
from wms2.models import (
    DAG,
    CleanupPolicy,
    DAGStatus,
    OutputDataset,
    ProductionStep,
    RequestStatus,
)


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
    assert repo.get_request(STEPCHAIN).urgent is False  # --urgent is not the document's


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
    assert "OutputDatasets None must list the output datasets" in str(exc.value)


def test_transitions_and_updates(acts: RequestActivities) -> None:
    ghost = run(
        acts.record_transition,
        TransitionInput(request_name="ghost", to_status=RequestStatus.FAILED),
    )
    assert not ghost.recorded
    run(acts.import_request, ImportInput(request_name=GEN))
    answer = run(
        acts.record_transition,
        TransitionInput(request_name=GEN, to_status=RequestStatus.QUEUED, reason="ok"),
    )
    # The answer carries the worker's settings: the request takes them at this change.
    assert answer.recorded
    assert answer.config.dag_check_sec == acts.deps.settings.dag_check_sec
    assert answer.config.stuck_timeouts == acts.deps.settings.stuck_timeouts
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


def as_run(run_id: str) -> ActivityEnvironment:
    """The activity environment of one workflow run (each run of a request name has its
    own run id)."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_run_id=run_id)
    return env


def test_a_request_name_runs_again_only_when_asked(acts: RequestActivities) -> None:
    first = as_run("run-a").run(acts.import_request, ImportInput(request_name=GEN))
    assert first.run == 1 and first.resume is None
    again = as_run("run-a").run(acts.import_request, ImportInput(request_name=GEN))
    assert again.run == 1  # a retried import is the same run
    acts.deps.repo.record_transition(GEN, RequestStatus.COMPLETED, "done")
    with pytest.raises(ApplicationError) as exc:
        as_run("run-b").run(acts.import_request, ImportInput(request_name=GEN))
    assert exc.value.non_retryable and exc.value.type == "RequestAlreadyRan"
    assert exc.value.message == (
        f"request {GEN!r} already ran (run 1 ended completed): "
        "submit it with --rerun to run it again"
    )
    # The refusal leaves the earlier run's record as it was.
    assert acts.deps.repo.request_run(GEN) == (1, "run-a", "completed")
    rerun = as_run("run-b").run(acts.import_request, ImportInput(request_name=GEN, rerun=True))
    assert rerun.run == 2 and rerun.resume is None  # it never planned a DAG


def test_a_second_run_while_the_first_runs_says_it_runs(acts: RequestActivities) -> None:
    as_run("run-a").run(acts.import_request, ImportInput(request_name=GEN))
    acts.deps.repo.record_transition(GEN, RequestStatus.QUEUED, "waiting for a slot")
    with pytest.raises(ApplicationError) as exc:
        as_run("run-b").run(acts.import_request, ImportInput(request_name=GEN))
    assert exc.value.non_retryable and exc.value.type == "RequestAlreadyRan"
    assert exc.value.message == (
        f"request {GEN!r} is still running (run 1, status queued): stop, restart or abort "
        "it instead"
    )
    assert acts.deps.repo.request_run(GEN) == (1, "run-a", "queued")


def test_urgent_applies_to_its_submission_only(acts: RequestActivities) -> None:
    doc = json.loads((SAMPLE_CATALOG / "requests" / f"{GEN}.json").read_text())
    doc["production_steps"] = [{"fraction": 0.5, "priority": 1000}]
    urgent = as_run("run-a").run(
        acts.import_request, ImportInput(request_name=GEN, request_document=doc, urgent=True)
    )
    assert urgent.urgent is True and urgent.production_steps == []
    stored = acts.deps.repo.get_request(GEN)
    assert stored.urgent is False and len(stored.production_steps) == 1
    rerun = as_run("run-b").run(acts.import_request, ImportInput(request_name=GEN, rerun=True))
    assert rerun.urgent is False
    assert rerun.production_steps == [ProductionStep(fraction=0.5, priority=1000)]


def planned_dag(acts: RequestActivities, tmp_path: Path, done: list[str]) -> Path:
    """A DAG record of GEN as an earlier run left it: attempt 2, `done` recorded."""
    repo = acts.deps.repo
    wf = repo.get_workflow_by_request(GEN)
    dag_file = tmp_path / GEN / "workflow.dag"
    dag_file.parent.mkdir(parents=True)
    dag_file.write_text("JOB mg_000000 a.sub\n")
    for attempt, units in ((1, done[:1]), (2, done[1:])):
        repo.upsert_dag(
            DAG(
                workflow_id=wf.id,
                attempt=attempt,
                dag_file_path=str(dag_file),
                submit_dir=str(dag_file.parent),
                total_nodes=40,
                total_work_units=4,
                completed_work_units=units,
                status=DAGStatus.REMOVED,
            )
        )
    return dag_file


def test_a_rerun_resumes_the_dag_an_earlier_run_planned(
    acts: RequestActivities, tmp_path: Path
) -> None:
    as_run("run-a").run(acts.import_request, ImportInput(request_name=GEN))
    dag_file = planned_dag(acts, tmp_path, ["mg_000000", "mg_000002"])
    # The first run's output workflow recorded mg_000000's output; mg_000002 was done but
    # never handed over (the run was aborted in between): the rerun's monitor hands it.
    repo = acts.deps.repo
    repo.upsert_output(
        OutputDataset(
            workflow_id=repo.get_workflow_by_request(GEN).id,
            dataset_name="/A/B-v1/GEN-SIM",
            work_unit="mg_000000",
            lfn="/store/mc/x.root",
        )
    )
    rerun = as_run("run-b").run(acts.import_request, ImportInput(request_name=GEN, rerun=True))
    assert rerun.resume is not None
    assert rerun.resume.model_dump() == {
        "dag_file": str(dag_file),
        "attempt": 2,
        "work_units": 4,
        "total_nodes": 40,
        "handed_over": ["mg_000000"],
        "harvest_jobs": 0,  # its plan has no harvesting job
    }
    # Its DAG directory gone, a rerun would redo recorded work: refused, named.
    dag_file.unlink()
    with pytest.raises(ApplicationError) as exc:
        as_run("run-c").run(acts.import_request, ImportInput(request_name=GEN, rerun=True))
    assert exc.value.type == "RerunRefused" and exc.value.non_retryable
    assert f"its DAG file {dag_file} is gone but 2 work unit(s) are done" in str(exc.value)


def test_a_version_increment_bumps_each_output_from_its_own_version(
    acts: RequestActivities,
) -> None:
    doc = json.loads(
        (Path(__file__).parent.parent / "fixtures/reqmgr/stepchain_gen_premix.json").read_text()
    )
    name = doc["RequestName"]
    run(acts.import_request, ImportInput(request_name=name, request_document=doc))
    new = run(
        acts.create_version_increment,
        VersionInput(request_name=name, cleanup_policy=CleanupPolicy.KEEP_UNTIL_REPLACED),
    )
    fresh = acts.deps.repo.get_request(new)
    # GEN-SIM was v1 (GENSIM step), AODSIM v2 (RECO step): each goes up from its own.
    assert [ds.split("/")[2].rsplit("-", 1)[1] for ds in fresh.output_datasets] == ["v2", "v3"]
    assert [s.processing_version for s in fresh.steps] == [2, 3, 3]
    assert fresh.output_step(fresh.output_datasets[1]).name == "RECO"
