"""The real DAG activities at a DAG's end, on a planned GEN DAG directory, the local
backend's job records and SQLite: what is reported when files are missing or corrupt, and
what a resubmission is given to run."""

from __future__ import annotations

import asyncio
import inspect
import json
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.dags import DagActivities
from activities.deps import ActivityDeps
from activities.requests import RequestActivities
from tests.conftest import GEN
from wms2.condor.handles import DagHandle
from wms2.dagfiles import DagLayout
from wms2.dagman.dagfile import apply_rescue, parse_dag, rescue_files
from wms2.messages import (
    ImportInput,
    MonitorInput,
    PlanInput,
    ReprioritizeInput,
    SubmitDagInput,
)
from wms2.models import utcnow
from wms2.tracking.reconcile import planned_work_units


def run(fn, *args):  # type: ignore[no-untyped-def]
    result = ActivityEnvironment().run(fn, *args)
    return asyncio.run(result) if inspect.iscoroutine(result) else result


@pytest.fixture
def acts(deps: ActivityDeps) -> DagActivities:
    run(RequestActivities(deps).import_request, ImportInput(request_name=GEN, urgent=True))
    return DagActivities(deps)


def finished_job(acts: DagActivities, dag_file: str, exit_code: int) -> DagHandle:
    """A local-backend job record of a runner that has ended with `exit_code`."""
    jobs = acts.deps.backend.jobs  # type: ignore[attr-defined]
    (jobs / "7.json").write_text(json.dumps({"cluster": 7, "pid": 1, "dag_file": dag_file}))
    (jobs / "7.exit.json").write_text(json.dumps({"exit_code": exit_code}))
    return DagHandle(backend="local", cluster_id="7", schedd="local", dag_file=dag_file)


def merge_report(layout: DagLayout, unit: str) -> None:
    out = {
        "dataset": "/P/E-p-v1/GEN-SIM",
        "lfn": f"/store/{unit}.root",
        "size": 10,
        "events": 5,
        "adler32": "00000001",
        "site": "T2_CH_CERN",
    }
    layout.merge_output(unit).write_text(json.dumps({"outputs": [out]}))


def test_the_dag_end_reads_every_merge_report_even_without_a_status_file(
    acts: DagActivities,
) -> None:
    plan = run(acts.plan_dag, PlanInput(request_name=GEN))
    layout = DagLayout(Path(plan.dag_file).parent)
    units = planned_work_units(layout)
    for u in units:
        merge_report(layout, u)
    layout.merge_output(units[1]).write_text("{not json")  # corrupt
    layout.status_file.unlink(missing_ok=True)  # gone when DAGMan exited
    handle = finished_job(acts, plan.dag_file, 0)
    res = run(
        acts.monitor_dag,
        MonitorInput(
            request_name=GEN,
            dag=handle,
            attempt=1,
            known_work_units=[units[0]],
            max_seconds=5,
            poll_seconds=0.1,
        ),
    )
    assert res.finished and res.exit_code == 0
    assert [w.name for w in res.new_work_units] == units[2:]
    assert list(res.unreported_work_units) == [units[1]]
    wf = acts.deps.repo.get_workflow_by_request(GEN)
    dag = acts.deps.repo.dag_attempt(wf.id, 1)
    assert dag is not None and dag.exit_code == 0 and dag.completed_at is not None


def test_a_resubmission_never_reruns_recorded_work_units(acts: DagActivities) -> None:
    """DAGMan left no rescue DAG and its files say nothing (it was lost early, or exited
    0 while being stopped and its files were removed): the resubmission gets a rescue DAG
    per recorded unit's group that marks its merge and what led to it DONE, so only the
    cleanup runs again; the outer DAG marks no unit DONE that DAGMan did not finish."""
    plan = run(acts.plan_dag, PlanInput(request_name=GEN))
    layout = DagLayout(Path(plan.dag_file).parent)
    units = planned_work_units(layout)
    repo = acts.deps.repo
    wf = repo.get_workflow_by_request(GEN)
    first = repo.dag_attempt(wf.id, 1)
    assert first is not None
    repo.update_dag(
        first.id, completed_work_units=units[:3], stop_requested_at=utcnow(), stop_reason="stop"
    )
    acts.deps.backend.submit_dag = lambda *a, **k: DagHandle(  # type: ignore[method-assign]
        backend="local", cluster_id="9", schedd="local", dag_file=plan.dag_file
    )
    run(
        acts.submit_dag,
        SubmitDagInput(
            request_name=GEN, dag_file=plan.dag_file, attempt=2, known_work_units=units[:2]
        ),
    )
    # The tracker starts the new attempt from what this run of the request knows (an
    # earlier run may have been told of a unit it never handed over): that one is news.
    second = repo.dag_attempt(wf.id, 2)
    assert second is not None and second.completed_work_units == units[:2]
    assert second.stop_requested_at is None  # the earlier attempt's stop is not this one's
    assert rescue_files(layout.dag_file) == []
    group_rescues = []
    for unit in units:
        group_dag = layout.group_dir(unit) / "group.dag"
        rescues = rescue_files(group_dag)
        if unit not in units[:3]:
            assert rescues == [], unit  # nothing recorded: the group runs from its start
            continue
        [rescue] = rescues
        spec = parse_dag(group_dag)
        apply_rescue(spec, rescue)
        assert {n for n, node in spec.nodes.items() if not node.done} == {"cleanup"}, unit
        group_rescues.append(rescue)
    # Submitted again with nothing new done: the same rescue DAGs serve.
    run(acts.submit_dag, SubmitDagInput(request_name=GEN, dag_file=plan.dag_file, attempt=3))
    assert [r for u in units for r in rescue_files(layout.group_dir(u) / "group.dag")] == (
        group_rescues
    )


def test_after_an_abort_the_dag_record_says_removed_with_final_counts(
    acts: DagActivities,
) -> None:
    from wms2.dagman.records import DONE, ERROR, NodeRecord, write_status_file
    from wms2.models import DAGStatus

    plan = run(acts.plan_dag, PlanInput(request_name=GEN))
    layout = DagLayout(Path(plan.dag_file).parent)
    unit = planned_work_units(layout)[0]
    write_status_file(
        layout.group_dir(unit) / "group.dag.status",
        layout.group_dir(unit) / "group.dag",
        4,
        [NodeRecord("proc_0", DONE), NodeRecord("proc_1", ERROR), NodeRecord("merge")],
        0,
    )
    write_status_file(layout.status_file, layout.dag_file, 4, [NodeRecord(unit)], 0)
    handle = finished_job(acts, plan.dag_file, 2)  # condor_rm: DAGMan exits 2
    res = run(
        acts.await_dag_exit,
        MonitorInput(request_name=GEN, dag=handle, attempt=1, poll_seconds=0.1, aborted=True),
    )
    assert res.exit_code == 2
    wf = acts.deps.repo.get_workflow_by_request(GEN)
    dag = acts.deps.repo.dag_attempt(wf.id, 1)
    assert dag is not None and dag.status is DAGStatus.REMOVED and dag.exit_code == 2
    assert (dag.nodes_done, dag.nodes_failed, dag.nodes_running) == (1, 1, 0)
    assert dag.completed_at is not None


def test_reprioritize_rewrites_the_priority_file_and_edits_idle_jobs(
    acts: DagActivities,
) -> None:
    plan = run(acts.plan_dag, PlanInput(request_name=GEN))
    root = Path(plan.dag_file).parent
    assert (root / "priority.sub").read_text() == "priority = 90000\n"  # the request's
    pool = acts.deps.backend.pool  # type: ignore[attr-defined]
    with pool.locked() as state:  # one idle job of this request, one of another
        state["idle"] = {
            str(n): {"priority": 90000, "seq": n, "sites": [], "request": req, "pid": 1}
            for n, req in ((1, GEN), (2, "someone_else"))
        }
    edit = run(
        acts.reprioritize_dag,
        ReprioritizeInput(request_name=GEN, dag_file=plan.dag_file, priority=120000),
    )
    assert edit.edited == 1
    assert (root / "priority.sub").read_text() == "priority = 120000\n"
    idle = pool.snapshot()["idle"]
    assert (idle["1"]["priority"], idle["2"]["priority"]) == (120000, 90000)
