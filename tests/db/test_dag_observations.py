"""Recording what a look at a DAG found, on SQLite and PostgreSQL: a retried record adds
nothing twice, an older look never replaces a newer one, the end is recorded once."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.db.test_repository import workflow_for
from wms2.db import Repository
from wms2.models import DAG, DAGStatus


def submitted_dag(repo: Repository) -> DAG:
    wf = workflow_for(repo)
    dag = repo.upsert_dag(
        DAG(
            workflow_id=wf.id,
            dag_file_path="/x/workflow.dag",
            submit_dir="/x",
            total_nodes=40,
            status=DAGStatus.SUBMITTED,
        )
    )
    repo.update_workflow(wf.id, dag_id=dag.id)
    return dag


def counts(done: int, failed: int = 0, running: int = 0) -> dict[str, int]:
    return {"nodes_done": done, "nodes_failed": failed, "nodes_running": running}


def events(repo: Repository, dag: DAG) -> list[tuple[str, list[str]]]:
    return [(h["event_type"], h["detail"]["new_work_units"]) for h in repo.dag_history(dag.id)]


def test_a_retried_record_adds_nothing_twice_and_the_end_is_recorded_once(
    repo: Repository,
) -> None:
    dag = submitted_dag(repo)
    end = (DAGStatus.COMPLETED, 0)
    for _ in range(2):  # the tracker's record, then its retry after the database returned
        assert repo.record_dag_observation(dag.id, counts(8), ["a", "b"]) is DAGStatus.RUNNING
    # The tracker's end, then the request's check of the same end (it knew only "a"),
    # then that check retried: one `finished` row, naming only the unit not yet recorded.
    assert repo.record_dag_observation(dag.id, counts(40), ["c"], end) is DAGStatus.COMPLETED
    assert repo.record_dag_observation(dag.id, counts(40), ["b", "c"], end) is DAGStatus.COMPLETED
    assert repo.record_dag_observation(dag.id, counts(40), ["b", "c"], end) is DAGStatus.COMPLETED
    row = repo.get_dag(dag.id)
    assert row.completed_work_units == ["a", "b", "c"]
    assert (row.status, row.exit_code, row.nodes_done) == (DAGStatus.COMPLETED, 0, 40)
    assert events(repo, dag) == [("progress", ["a", "b"]), ("finished", ["c"])]


def test_a_look_older_than_the_recorded_one_does_not_replace_it(repo: Repository) -> None:
    dag = submitted_dag(repo)
    wf_id = dag.workflow_id

    def recorded() -> tuple[Any, ...]:
        row, wf = repo.get_dag(dag.id), repo.get_workflow_by_request("req_a")
        assert wf.id == wf_id
        return row.status, row.nodes_done, row.nodes_running, wf.nodes_done

    repo.record_dag_observation(dag.id, counts(20, running=4), ["a"])
    # A check that looked before the tracker's last look records afterwards.
    repo.record_dag_observation(dag.id, counts(12, running=8), [])
    assert recorded() == (DAGStatus.RUNNING, 20, 4, 20)
    repo.record_dag_observation(dag.id, counts(20, running=2), [])  # as new: it counts
    assert recorded() == (DAGStatus.RUNNING, 20, 2, 20)
    repo.record_dag_observation(dag.id, counts(40), ["b"], (DAGStatus.FAILED, 1))
    # A look from before the end, recorded after it: the end stays, its unit is kept.
    assert repo.record_dag_observation(dag.id, counts(30, running=6), ["z"]) is DAGStatus.FAILED
    assert recorded() == (DAGStatus.FAILED, 40, 0, 40)
    assert repo.get_dag(dag.id).completed_work_units == ["a", "b", "z"]
    kinds = Counter(kind for kind, _ in events(repo, dag))
    assert kinds == {"progress": 2, "finished": 1}


def test_a_clean_stop_keeps_its_end(repo: Repository) -> None:
    dag = submitted_dag(repo)
    repo.update_dag(dag.id, status=DAGStatus.STOPPED, nodes_done=10)
    final = (DAGStatus.REMOVED, 2)
    assert repo.record_dag_observation(dag.id, counts(12), [], final) is DAGStatus.STOPPED
    row = repo.get_dag(dag.id)
    assert (row.status, row.exit_code, row.nodes_done) == (DAGStatus.STOPPED, None, 10)
    assert events(repo, dag) == []
