"""DAG-end reconciliation on a real planned DAG directory: which work units have a usable
merge report, and which should have one but do not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import GEN
from wms2.config import Settings
from wms2.dagfiles import DagLayout
from wms2.dagman.dagfile import apply_rescue, parse_dag, rescue_files
from wms2.dagman.jobstate import JobstateWriter
from wms2.dagman.records import (
    DONE,
    ERROR,
    FUTILE,
    READY,
    SUBMITTED,
    NodeRecord,
    write_rescue,
    write_status_file,
)
from wms2.plan_dag import plan_request
from wms2.reqmgr import request_from_reqmgr
from wms2.services.catalog import OfflineCatalog
from wms2.tracking.reconcile import (
    done_by_dagman,
    ensure_rescue,
    planned_work_units,
    reconcile_work_units,
)


@pytest.fixture
def layout(catalog: OfflineCatalog, settings: Settings) -> DagLayout:
    plan = plan_request(request_from_reqmgr(catalog.get_request(GEN)), catalog, catalog, settings)
    return DagLayout(Path(plan.dag_dir))


def merged(layout: DagLayout, unit: str, text: str | None = None) -> None:
    report = {
        "outputs": [
            {
                "dataset": "/P/E-p-v1/GEN-SIM",
                "lfn": f"/store/{unit}.root",
                "size": 1,
                "events": 1,
                "adler32": "00000001",
                "site": "T2_CH_CERN",
            }
        ]
    }
    layout.merge_output(unit).write_text(text if text is not None else json.dumps(report))


def test_a_succeeded_dag_without_status_file_is_read_from_the_merge_reports(
    layout: DagLayout,
) -> None:
    units = planned_work_units(layout)
    assert units == [f"mg_{i:06d}" for i in range(5)]
    for u in units:
        merged(layout, u)
    merged(layout, units[3], '{"outputs": [')  # corrupt: cut off mid-write
    layout.status_file.unlink(missing_ok=True)  # deleted at the DAG's end
    r = reconcile_work_units(layout, known={units[0]}, dag_succeeded=True, wait_sec=0.01)
    assert sorted(r.reports) == [units[1], units[2], units[4]]
    assert list(r.unreported) == [units[3]] and "unusable" in r.unreported[units[3]]


def test_a_report_rewritten_between_reads_is_found_on_a_later_attempt(
    layout: DagLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    units = planned_work_units(layout)
    for u in units:
        merged(layout, u)
    merged(layout, units[2], "")
    sleeps: list[float] = []

    def fix_it(seconds: float) -> None:  # the writer finishes while we wait
        sleeps.append(seconds)
        merged(layout, units[2])

    monkeypatch.setattr("wms2.tracking.reconcile.time.sleep", fix_it)
    r = reconcile_work_units(layout, known=set(), dag_succeeded=True, wait_sec=0.5)
    assert sorted(r.reports) == units and r.unreported == {} and sleeps == [0.5]


def test_a_failed_dag_only_owes_the_units_dagman_counts_done(layout: DagLayout) -> None:
    units = planned_work_units(layout)
    merged(layout, units[0])
    # The status file says units 0 and 1 are DONE, unit 2 failed; a rescue DAG adds unit 3.
    write_status_file(
        layout.status_file,
        layout.dag_file,
        2,
        [NodeRecord(units[0], DONE), NodeRecord(units[1], DONE), NodeRecord(units[2], ERROR)],
        0,
    )
    write_rescue(layout.dag_file, [NodeRecord(units[3], DONE), NodeRecord(units[2], ERROR)])
    assert done_by_dagman(layout) == {units[0], units[1], units[3]}
    r = reconcile_work_units(layout, known=set(), dag_succeeded=False, wait_sec=0.01)
    assert list(r.reports) == [units[0]]
    assert sorted(r.unreported) == [units[1], units[3]]  # done, but no merge report


# ── rescue DAGs rebuilt after a lost DAGMan ──────────────────────────────────


def events(layout: DagLayout, unit: str) -> JobstateWriter:
    """The group's JOBSTATE_LOG, written as DAGMan writes it."""
    return JobstateWriter(layout.group_dir(unit) / "group.dag.jobstate.log")


def passed(log: JobstateWriter, node: str, post: bool = True) -> None:
    for event in ("PRE_SCRIPT_STARTED", "PRE_SCRIPT_SUCCESS", "SUBMIT", "JOB_TERMINATED"):
        log.node(node, event)
    log.node(node, "JOB_SUCCESS", "0")
    if post:
        for event in ("POST_SCRIPT_STARTED", "POST_SCRIPT_TERMINATED", "POST_SCRIPT_SUCCESS"):
            log.node(node, event)


def group_rescue_done(layout: DagLayout, unit: str) -> set[str] | None:
    """The nodes the group's newest rescue DAG marks DONE (None: it has none)."""
    group_dag = layout.group_dir(unit) / "group.dag"
    rescues = rescue_files(group_dag)
    if not rescues:
        return None
    spec = parse_dag(group_dag)
    apply_rescue(spec, rescues[-1])
    return {n for n, node in spec.nodes.items() if node.done}


def test_a_lost_groups_rescue_holds_only_nodes_whose_job_and_post_succeeded(
    layout: DagLayout,
) -> None:
    unit = planned_work_units(layout)[1]  # landing, proc_000004..7, merge, cleanup
    log = events(layout, unit)
    passed(log, "landing")
    passed(log, "proc_000004")
    # Its job succeeded but its POST failed: the node failed (DAGMan retries it).
    passed(log, "proc_000005", post=False)
    for event in ("POST_SCRIPT_STARTED", "POST_SCRIPT_TERMINATED", "POST_SCRIPT_FAILURE"):
        log.node("proc_000005", event)
    # In doubt: the job ended, the POST was running when DAGMan died.
    passed(log, "proc_000006", post=False)
    log.node("proc_000006", "POST_SCRIPT_STARTED")
    # A retry after a failed first attempt succeeded; the job alone does not count.
    passed(log, "proc_000007", post=False)
    log.node("proc_000007", "POST_SCRIPT_FAILURE")
    passed(log, "proc_000007")
    with open(log.path, "a") as f:
        f.write("1700000000 proc_000006 POST_SCRIPT_SUCCESS")  # cut off by the kill
    assert ensure_rescue(layout, recorded=set(), memory_factor=1.5) is None  # no unit is done
    assert group_rescue_done(layout, unit) == {"landing", "proc_000004", "proc_000007"}
    header = rescue_files(layout.group_dir(unit) / "group.dag")[0].read_text()
    assert "# Total number of Nodes: 7" in header and "# Nodes premarked DONE: 3" in header
    # A POST that passed a failed job (DAGMan would count the node done): in doubt.
    other = planned_work_units(layout)[2]
    log = events(layout, other)
    passed(log, "landing")
    for event in ("SUBMIT", "JOB_TERMINATED", "JOB_FAILURE", "POST_SCRIPT_SUCCESS"):
        log.node("proc_000008", event)
    ensure_rescue(layout, recorded=set(), memory_factor=1.5)
    assert group_rescue_done(layout, other) == {"landing"}
    # Units whose groups recorded nothing run from their start: no rescue DAG.
    assert all(group_rescue_done(layout, u) is None for u in planned_work_units(layout)[3:])
    # Asked again (a retried submission) with nothing new: the same rescue DAG serves.
    ensure_rescue(layout, recorded=set(), memory_factor=1.5)
    assert len(rescue_files(layout.group_dir(unit) / "group.dag")) == 1


def test_the_status_file_and_an_earlier_rescue_count_and_a_started_node_vouches_for_its_parents(
    layout: DagLayout,
) -> None:
    unit = planned_work_units(layout)[1]
    group_dag = layout.group_dir(unit) / "group.dag"
    write_rescue(group_dag, [NodeRecord("landing", DONE)])  # an earlier removal's
    status = layout.group_dir(unit) / "group.dag.status"
    # The status file (30 s old at worst) has proc_000004 DONE, proc_000005 running.
    write_status_file(
        status,
        group_dag,
        0,
        [
            NodeRecord("proc_000004", DONE),
            NodeRecord("proc_000005", SUBMITTED),
            NodeRecord("proc_000006", READY),
        ],
        1,
    )
    # The log was lost, but the merge had started: DAGMan starts a node only after
    # every parent is DONE.
    log = events(layout, unit)
    log.node("merge", "PRE_SCRIPT_STARTED")
    ensure_rescue(layout, recorded=set(), memory_factor=1.5)
    procs = {f"proc_{i:06d}" for i in range(4, 8)}
    assert group_rescue_done(layout, unit) == {"landing", *procs}
    assert len(rescue_files(group_dag)) == 2  # the earlier one is kept, the new one wins


def test_a_failed_groups_futile_nodes_vouch_for_nobody_and_its_sites_are_learned(
    layout: DagLayout,
) -> None:
    """A group DAG that failed: one node ERROR, merge and cleanup FUTILE (never started).
    Its rescue keeps what succeeded; the site that failed it for site reasons is excluded."""
    unit = planned_work_units(layout)[1]
    gdir = layout.group_dir(unit)
    procs = [f"proc_{i:06d}" for i in range(4, 8)]
    done = ["landing", *procs[1:]]
    write_rescue(gdir / "group.dag", [NodeRecord(n, DONE) for n in done])
    write_status_file(
        gdir / "group.dag.status",
        gdir / "group.dag",
        0,
        [
            *(NodeRecord(n, DONE) for n in done),
            NodeRecord(procs[0], ERROR),
            NodeRecord("merge", FUTILE),
            NodeRecord("cleanup", FUTILE),
        ],
        1,
    )
    (gdir / "node_outcomes.jsonl").write_text(
        '{"node":"proc_000004","exit":69,"class":"site","site":"T2_US_Wisconsin"}\n'
        '{"node":"proc_000005","exit":0,"class":"success","site":"T2_CH_CERN"}\n'
    )
    ensure_rescue(layout, recorded=set(), memory_factor=1.5)
    assert group_rescue_done(layout, unit) == set(done)  # not the whole group again
    assert json.loads((gdir / "excluded_sites.json").read_text()) == {"sites": ["T2_US_Wisconsin"]}


def test_a_unit_whose_cleanup_was_running_is_not_done_and_runs_only_its_cleanup(
    layout: DagLayout,
) -> None:
    units = planned_work_units(layout)
    unit = units[1]
    log = events(layout, unit)
    for node in ["landing", *(f"proc_{i:06d}" for i in range(4, 8)), "merge"]:
        passed(log, node)
    log.node("cleanup", "PRE_SCRIPT_STARTED")
    log.node("cleanup", "PRE_SCRIPT_SUCCESS")
    log.node("cleanup", "SUBMIT")
    merged(layout, unit)  # its output was recorded while the cleanup ran
    # Unit 0's group finished and DAGMan saw it: its outer node is DONE.
    JobstateWriter(layout.jobstate_log).node(units[0], "JOB_SUCCESS", "0")
    outer = ensure_rescue(layout, recorded={units[0], unit}, memory_factor=1.5)
    assert outer is not None
    spec = parse_dag(layout.dag_file)
    apply_rescue(spec, outer)
    assert {n for n, node in spec.nodes.items() if node.done} == {units[0]}
    assert group_rescue_done(layout, unit) == {
        n for n in parse_dag(layout.group_dir(unit) / "group.dag").nodes if n != "cleanup"
    }
    assert group_rescue_done(layout, units[0]) is None  # a finished group is not touched


def test_a_recorded_output_is_never_merged_again_and_an_unusable_one_restarts_its_group(
    layout: DagLayout,
) -> None:
    units = planned_work_units(layout)
    # Unit 1: the merge's POST was running at the kill, but its report was recorded.
    log = events(layout, units[1])
    for node in ["landing", *(f"proc_{i:06d}" for i in range(4, 8))]:
        passed(log, node)
    passed(log, "merge", post=False)
    log.node("merge", "POST_SCRIPT_STARTED")
    merged(layout, units[1])
    # Unit 2: its group finished, but its report is unusable and was never recorded;
    # cleanup removed the merge's inputs, so the whole group runs again (over an earlier
    # rescue DAG that would skip its processing).
    group2 = layout.group_dir(units[2]) / "group.dag"
    nodes2 = list(parse_dag(group2).nodes)
    write_rescue(group2, [NodeRecord(n, DONE) for n in nodes2 if n.startswith("proc_")])
    log = events(layout, units[2])
    for node in nodes2:
        passed(log, node, post=node != "cleanup")
    merged(layout, units[2], '{"outputs": [')
    ensure_rescue(layout, recorded={units[1]}, memory_factor=1.5)
    group1 = parse_dag(layout.group_dir(units[1]) / "group.dag").nodes
    assert group_rescue_done(layout, units[1]) == set(group1) - {"cleanup"}
    assert group_rescue_done(layout, units[2]) == set()
    assert len(rescue_files(group2)) == 2
