from __future__ import annotations

import itertools
import threading
import uuid
from datetime import timedelta

import pytest

from tests.unit.test_models import make_request
from wms2.db import Repository
from wms2.db.repository import RecordNotFound
from wms2.models import (
    DAG,
    DAGStatus,
    OutputDataset,
    OutputStatus,
    PilotMetrics,
    RequestStatus,
    SplittingAlgo,
    StepProfile,
    Workflow,
    utcnow,
)
from wms2.recovery_spec import Recovery


def workflow_for(repo: Repository, name: str = "req_a") -> Workflow:
    repo.upsert_request(make_request(request_name=name))
    return repo.upsert_workflow(
        Workflow(request_name=name, splitting_algo=SplittingAlgo.FILE_BASED)
    )


def test_request_round_trip_with_json_fields(repo: Repository) -> None:
    req = make_request(
        request_name="req_json",
        production_steps=[{"fraction": 0.25, "priority": 50000}],
        payload_config={"Step1": {"GlobalTag": "130X", "nested": [1, 2, {"x": None}]}},
        splitting_params={"files_per_job": 3},
        campaign="Run3Summer23",
    )
    stored = repo.upsert_request(req)
    assert stored.payload_config == req.payload_config
    assert stored.production_steps == req.production_steps
    assert stored.splitting_params == {"files_per_job": 3}
    assert stored.status is RequestStatus.SUBMITTED
    assert stored.created_at.tzinfo is not None
    assert repo.list_requests(campaign="Run3Summer23")[0].request_name == "req_json"
    assert repo.list_requests(campaign="other") == []


def test_request_upsert_is_idempotent_and_keeps_status(repo: Repository) -> None:
    repo.upsert_request(make_request(request_name="req_x", priority=10))
    repo.record_transition("req_x", RequestStatus.QUEUED, "imported")
    again = repo.upsert_request(make_request(request_name="req_x", priority=20))
    assert len(repo.list_requests()) == 1
    assert again.priority == 20
    assert again.status is RequestStatus.QUEUED  # a retried import does not reset the status


def test_runs_of_a_request_are_counted_once_per_workflow_run(repo: Repository) -> None:
    assert repo.request_run("req_runs") is None
    repo.upsert_request(make_request(request_name="req_runs"))
    assert repo.request_run("req_runs") == (0, None, "submitted")
    assert repo.start_run("req_runs", "run-a") == 1
    assert repo.start_run("req_runs", "run-a") == 1  # a retried import
    repo.upsert_request(make_request(request_name="req_runs"))  # a re-import keeps the count
    assert repo.start_run("req_runs", "run-b") == 2
    assert repo.request_run("req_runs") == (2, "run-b", "submitted")
    with pytest.raises(RecordNotFound):
        repo.start_run("req_none", "run-a")


def test_requests_are_counted_once_by_their_current_status(repo: Repository) -> None:
    for name in ("req_c1", "req_c2", "req_c3"):
        repo.upsert_request(make_request(request_name=name))
    repo.record_transition("req_c1", RequestStatus.ABORTED, "run 1")
    repo.start_run("req_c1", "run-2")  # a rerun: the same record, its new status
    repo.record_transition("req_c1", RequestStatus.COMPLETED, "run 2")
    repo.record_transition("req_c2", RequestStatus.COMPLETED, "done")
    assert repo.count_requests_by_status() == {"completed": 2, "submitted": 1}


def test_transitions_are_appended_in_order(repo: Repository) -> None:
    repo.upsert_request(make_request(request_name="req_t"))
    repo.record_transition("req_t", RequestStatus.QUEUED, "imported")
    repo.record_transition("req_t", RequestStatus.PILOT_RUNNING, "admitted")
    req = repo.get_request("req_t")
    assert req.status is RequestStatus.PILOT_RUNNING
    assert [(t.from_status, t.to_status, t.reason) for t in req.status_transitions] == [
        (RequestStatus.SUBMITTED, RequestStatus.QUEUED, "imported"),
        (RequestStatus.QUEUED, RequestStatus.PILOT_RUNNING, "admitted"),
    ]


def test_concurrent_transition_appends_lose_nothing(repo: Repository) -> None:
    repo.upsert_request(make_request(request_name="req_c"))
    threads_n, per_thread = 4, 15
    errors: list[BaseException] = []

    def append(i: int) -> None:
        try:
            for j in range(per_thread):
                status = RequestStatus.QUEUED if (i + j) % 2 else RequestStatus.ACTIVE
                repo.record_transition("req_c", status, f"t{i}-{j}")
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=append, args=(i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    transitions = repo.transitions("req_c")
    assert len(transitions) == threads_n * per_thread
    assert {t.reason for t in transitions} == {
        f"t{i}-{j}" for i in range(threads_n) for j in range(per_thread)
    }
    # Each transition starts where the previous one ended: no interleaved read-modify-write.
    for prev, nxt in itertools.pairwise(transitions):
        assert nxt.from_status == prev.to_status


def test_queued_requests_by_priority_then_age(repo: Repository) -> None:
    base = utcnow()
    for name, prio, age in [
        ("low", 10, 3),
        ("high_new", 90, 1),
        ("high_old", 90, 2),
        ("mid", 50, 0),
    ]:
        repo.upsert_request(
            make_request(request_name=name, priority=prio, created_at=base - timedelta(hours=age))
        )
        repo.record_transition(name, RequestStatus.QUEUED)
    repo.upsert_request(make_request(request_name="not_queued", priority=99))
    assert [r.request_name for r in repo.queued_requests()] == [
        "high_old",
        "high_new",
        "mid",
        "low",
    ]
    repo.update_request("low", priority=95)
    assert repo.queued_requests()[0].request_name == "low"


def test_update_request_and_missing_request(repo: Repository) -> None:
    repo.upsert_request(make_request(request_name="req_u"))
    repo.update_request("req_u", superseded_by_request="req_u2", production_steps=[])
    assert repo.get_request("req_u").superseded_by_request == "req_u2"
    with pytest.raises(RecordNotFound, match="request 'nope'"):
        repo.get_request("nope")
    with pytest.raises(RecordNotFound):
        repo.update_request("nope", priority=1)
    with pytest.raises(RecordNotFound):
        repo.record_transition("nope", RequestStatus.QUEUED)


def test_recoveries_of_an_original_are_found_by_the_recovery_in_the_request_data(
    repo: Repository,
) -> None:
    """The JSON-path query the import uses to refuse a second recovery of one original."""

    def recovering(name: str, original: str) -> Recovery:
        repo.upsert_request(
            make_request(
                request_name=name,
                recovery=Recovery(
                    original_request=original,
                    original_type="StepChain",
                    task_path=f"/{original}/Step1",
                    collection=original,
                ),
            )
        )
        return repo.get_request(name).recovery  # type: ignore[return-value]

    repo.upsert_request(make_request(request_name="orig_a"))
    assert recovering("acdc_a1", "orig_a").original_request == "orig_a"
    recovering("acdc_b1", "orig_b")
    recovering("acdc_a2", "orig_a")
    repo.record_transition("acdc_a2", RequestStatus.QUEUED, "imported")
    assert repo.recoveries_of("orig_a") == [("acdc_a1", "submitted"), ("acdc_a2", "queued")]
    assert repo.recoveries_of("orig_b") == [("acdc_b1", "submitted")]
    # Neither a request without a recovery nor a name that is only a prefix matches.
    assert repo.recoveries_of("orig") == []
    assert repo.recoveries_of("acdc_a1") == []


def test_workflow_upsert_one_per_request_with_pilot_metrics(repo: Repository) -> None:
    wf = workflow_for(repo)
    metrics = PilotMetrics(
        time_per_event_sec=2.5,
        memory_peak_mb=1800,
        output_size_per_event_kb=300.0,
        cpu_efficiency=0.8,
        events_processed=700,
        steps_profiled=[
            StepProfile(
                step_name="GEN",
                time_per_event_sec=1.0,
                memory_peak_mb=900,
                output_size_per_event_kb=100.0,
            )
        ],
        recommended_events_per_job=1000,
        recommended_memory_mb=2000,
        recommended_time_per_job_sec=2500,
    )
    dag_id = uuid.uuid4()
    repo.update_workflow(
        wf.id, pilot_metrics=metrics.model_dump(mode="json"), dag_id=dag_id, total_nodes=9
    )
    repo.update_workflow(wf.id, nodes_done=5, status="active")
    # A re-import (a retried import, a rerun) keeps what later steps wrote: the id that
    # DAG and output rows point to, the pilot's metrics, the DAG and its counts.
    again = repo.upsert_workflow(
        wf.model_copy(update={"id": uuid.uuid4(), "category_throttles": {"MergeGroup": 3}})
    )
    assert again.id == wf.id
    assert again.pilot_metrics == metrics
    assert (again.dag_id, again.total_nodes, again.nodes_done) == (dag_id, 9, 5)
    assert again.status == "active"
    assert again.category_throttles["MergeGroup"] == 3


def test_dag_upsert_by_attempt_and_active_count(repo: Repository) -> None:
    wf = workflow_for(repo)
    dag = DAG(
        workflow_id=wf.id,
        dag_file_path="/s/workflow.dag",
        submit_dir="/s",
        total_nodes=9,
        node_counts={"Processing": 6, "Merge": 1},
        completed_work_units=["mg_000000"],
    )
    first = repo.upsert_dag(dag)
    assert (
        repo.upsert_dag(dag.model_copy(update={"id": uuid.uuid4(), "total_nodes": 10})).id
        == first.id
    )
    assert repo.get_dag(first.id).total_nodes == 10
    assert repo.get_dag(first.id).node_counts == {"Processing": 6, "Merge": 1}
    rescue = repo.upsert_dag(
        dag.model_copy(update={"id": uuid.uuid4(), "attempt": 2, "parent_dag_id": first.id})
    )
    assert repo.latest_dag(wf.id).id == rescue.id
    assert repo.count_active_dags() == 0
    repo.update_dag(first.id, status=DAGStatus.RUNNING)
    repo.update_dag(rescue.id, status=DAGStatus.SUBMITTED)
    assert repo.count_active_dags() == 2
    repo.update_dag(
        first.id, status=DAGStatus.STOPPED, completed_work_units=["mg_000000", "mg_000001"]
    )
    assert repo.count_active_dags() == 1
    assert repo.get_dag(first.id).completed_work_units == ["mg_000000", "mg_000001"]
    repo.update_dag(rescue.id, completed_work_units=["mg_000002"])
    assert repo.recorded_work_units(wf.id, before_attempt=2) == {"mg_000000", "mg_000001"}
    assert repo.recorded_work_units(wf.id, before_attempt=3) == {f"mg_00000{i}" for i in range(3)}


def test_dag_history_is_append_only(repo: Repository) -> None:
    wf = workflow_for(repo)
    dag = repo.upsert_dag(DAG(workflow_id=wf.id, dag_file_path="/d", submit_dir="/", total_nodes=1))
    repo.append_dag_history(dag.id, "submitted", "ready", "submitted", detail={"cluster": "12"})
    repo.append_dag_history(dag.id, "progress", nodes_done=3, nodes_running=2)
    history = repo.dag_history(dag.id)
    assert [h["event_type"] for h in history] == ["submitted", "progress"]
    assert history[0]["detail"] == {"cluster": "12"} and history[1]["nodes_done"] == 3


def test_output_upsert_keyed_by_dataset_and_work_unit(repo: Repository) -> None:
    wf = workflow_for(repo)
    out = OutputDataset(
        workflow_id=wf.id,
        dataset_name="/A/B-v1/AODSIM",
        work_unit="mg_000001",
        lfn="/store/mc/x.root",
        size_bytes=5 * 1024**3,
        adler32="0a1b2c3d",
    )
    first = repo.upsert_output(out)
    repo.upsert_output(out.model_copy(update={"id": uuid.uuid4()}))
    repo.upsert_output(out.model_copy(update={"id": uuid.uuid4(), "work_unit": "mg_000002"}))
    outputs = repo.list_outputs(wf.id)
    assert [o.work_unit for o in outputs] == ["mg_000001", "mg_000002"]
    assert outputs[0].id == first.id and outputs[0].size_bytes == 5 * 1024**3
    repo.update_output(
        first.id,
        status=OutputStatus.TRANSFERRING,
        transfer_rule_ids=["r1", "r2"],
        transfer_destinations=["T1_US_FNAL_Disk"],
    )
    stored = repo.list_outputs(wf.id)[0]
    assert stored.status is OutputStatus.TRANSFERRING and stored.transfer_rule_ids == ["r1", "r2"]


def test_dag_status_change_respects_a_clean_stop(repo: Repository) -> None:
    wf = workflow_for(repo)
    dag = repo.upsert_dag(DAG(workflow_id=wf.id, dag_file_path="/d", submit_dir="/", total_nodes=1))
    assert repo.set_dag_status(dag.id, DAGStatus.RUNNING, unless=[DAGStatus.STOPPED])
    repo.update_dag(dag.id, status=DAGStatus.STOPPED)
    # A monitor that saw DAGMan exit after the stop must not turn STOPPED into REMOVED.
    assert not repo.set_dag_status(
        dag.id, DAGStatus.REMOVED, unless=[DAGStatus.STOPPED], completed_at=utcnow()
    )
    assert repo.get_dag(dag.id).status is DAGStatus.STOPPED
    assert repo.dag_attempt(wf.id, 1).id == dag.id and repo.dag_attempt(wf.id, 2) is None


def test_pilot_schedds_lists_requests_between_their_pilot_and_their_dag(
    repo: Repository,
) -> None:
    """Placement counts these on their pilot's schedd: a pilot running or done (PLANNING),
    not once the request is ACTIVE (its DAG row counts then) or has no pilot schedd."""
    for name, status, schedd in (
        ("req_p1", RequestStatus.PILOT_RUNNING, "east"),
        ("req_p2", RequestStatus.PLANNING, "west"),
        ("req_p3", RequestStatus.ACTIVE, "east"),
        ("req_p4", RequestStatus.PLANNING, None),
    ):
        wf = workflow_for(repo, name)
        repo.record_transition(name, status, "test")
        repo.update_workflow(wf.id, pilot_schedd=schedd)
    assert sorted(repo.pilot_schedds()) == [("req_p1", "east"), ("req_p2", "west")]
