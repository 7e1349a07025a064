"""Watching a DAG from DAGMan's files: the tracker's incremental look and the full look
agree, news comes from the JOBSTATE_LOG before the status file is rewritten, and a
DAG where nothing happens is not parsed again."""

from __future__ import annotations

from pathlib import Path

import pytest

import wms2.tracking.watch as dagwatch
from wms2.condor.handles import DagHandle
from wms2.condor.simulated import SimulatedBackend, SimulatedDag
from wms2.dagman.jobstate import State
from wms2.tracking.watch import DagWatch, observe_dag


@pytest.fixture
def sim(tmp_path: Path) -> SimulatedDag:
    dag = SimulatedDag(tmp_path / "req", "req", work_units=4, status_interval=30)
    dag.create(cluster=7)
    return dag


def handle(sim: SimulatedDag) -> DagHandle:
    return DagHandle(
        backend="simulated", cluster_id="7", schedd="", dag_file=str(sim.layout.dag_file)
    )


def look(watch: DagWatch, backend: SimulatedBackend):  # type: ignore[no-untyped-def]
    return watch.look(backend.query(watch.handle), backend)


def test_a_unit_is_news_from_the_log_before_the_status_file(sim: SimulatedDag) -> None:
    backend = SimulatedBackend()
    watch = DagWatch("req", 1, handle(sim))
    first = look(watch, backend)
    assert first is None and watch.progress.work_units_total == 4
    sim.complete_unit("mg_000001")  # the outer status file is not rewritten yet
    res = look(watch, backend)
    assert res is not None and [u.name for u in res.new_work_units] == ["mg_000001"]
    out = res.new_work_units[0].outputs[0]
    assert (out.lfn, out.events, out.dataset) == (
        "/store/sim/req/mg_000001.root",
        100,
        "/Sim/Proc-v1/AODSIM",
    )
    watch.sent(res, 0.0)
    assert look(watch, backend) is None  # never reported twice


def test_nothing_changed_means_nothing_parsed(
    sim: SimulatedDag, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = SimulatedBackend()
    watch = DagWatch("req", 1, handle(sim))
    look(watch, backend)
    reads: list[Path] = []
    real = dagwatch.read_status_file
    monkeypatch.setattr(dagwatch, "read_status_file", lambda p: reads.append(p) or real(p))
    for _ in range(5):
        assert look(watch, backend) is None
    assert reads == []
    sim.start_unit("mg_000002")
    sim.write_outer(force=True)
    look(watch, backend)
    # The outer file changed: it and only the running group's file are read again.
    assert sorted(p.parent.name for p in reads) == ["mg_000002", "req"]
    assert watch.progress.nodes_running == 4


def test_an_unreadable_report_waits_and_is_read_later(sim: SimulatedDag) -> None:
    backend = SimulatedBackend()
    watch = DagWatch("req", 1, handle(sim))
    sim.complete_unit("mg_000000")
    report = sim.layout.merge_output("mg_000000")
    text = report.read_text()
    report.write_text(text[: len(text) // 2])  # being written (or corrupted)
    assert look(watch, backend) is None and watch.pending == {"mg_000000"}
    report.write_text(text)
    res = look(watch, backend)
    assert res is not None and [u.name for u in res.new_work_units] == ["mg_000000"]


def test_the_end_reports_every_unit_once_and_agrees_with_the_full_look(
    sim: SimulatedDag,
) -> None:
    backend = SimulatedBackend()
    watch = DagWatch("req", 1, handle(sim), reported={"mg_000000"})  # recorded before
    for unit in sim.units:
        sim.complete_unit(unit)
    sim.finish(0)
    res = look(watch, backend)
    assert res is not None and res.finished and res.exit_code == 0
    assert [u.name for u in res.new_work_units] == ["mg_000001", "mg_000002", "mg_000003"]
    assert res.progress.work_units_done == 4 and res.progress.nodes_done == 16
    full = observe_dag(sim.layout, handle(sim), {"mg_000000"}, backend)
    assert full.model_dump() == res.model_dump()


def test_progress_alone_is_news_only_when_due(sim: SimulatedDag) -> None:
    backend = SimulatedBackend()
    watch = DagWatch("req", 1, handle(sim))
    look(watch, backend)
    assert watch.progress_due(now=100.0, interval=60)  # never sent
    res = dagwatch.MonitorResult(progress=watch.progress)
    watch.sent(res, 100.0)
    sim.start_unit("mg_000003")
    sim.write_outer(force=True)
    look(watch, backend)
    assert not watch.progress_due(now=130.0, interval=60)
    assert watch.progress_due(now=161.0, interval=60)


def test_a_unit_whose_post_script_failed_is_not_news(sim: SimulatedDag) -> None:
    """Its job succeeded and its merge report reads, but the POST script said no: the
    POST script's verdict is the node's."""
    backend = SimulatedBackend()
    watch = DagWatch("req", 1, handle(sim))
    sim.complete_unit("mg_000001")
    sim.log.node("mg_000001", "POST_SCRIPT_STARTED", "1.0")
    sim.log.node("mg_000001", "POST_SCRIPT_TERMINATED", "1.0")
    sim.log.node("mg_000001", "POST_SCRIPT_FAILURE", "1.0")
    assert look(watch, backend) is None
    assert watch.jobstate is not None
    assert watch.jobstate.in_state(State.FAILED) == ["mg_000001"]


def test_a_unit_with_a_post_script_waits_for_its_verdict(sim: SimulatedDag) -> None:
    """Read between the job's end and its POST script's start, a unit whose DAG gives it
    a POST script is not yet done."""
    text = sim.layout.dag_file.read_text()
    sim.layout.dag_file.write_text(text + "SCRIPT POST mg_000002 /bin/true\n")
    backend = SimulatedBackend()
    watch = DagWatch("req", 1, handle(sim))
    sim.complete_unit("mg_000002")
    assert look(watch, backend) is None
    sim.log.node("mg_000002", "POST_SCRIPT_STARTED", "1.0")
    sim.log.node("mg_000002", "POST_SCRIPT_SUCCESS", "1.0")
    res = look(watch, backend)
    assert res is not None and [u.name for u in res.new_work_units] == ["mg_000002"]


def test_a_unit_that_failed_then_succeeded_is_news_once_it_succeeded(sim: SimulatedDag) -> None:
    backend = SimulatedBackend()
    watch = DagWatch("req", 1, handle(sim))
    sim.log.node("mg_000003", "SUBMIT", "1.0")
    sim.log.node("mg_000003", "JOB_FAILURE", "1")
    assert look(watch, backend) is None
    assert watch.jobstate is not None and watch.jobstate.in_state(State.FAILED) == ["mg_000003"]
    sim.log.retry("mg_000003")
    sim.complete_unit("mg_000003")
    res = look(watch, backend)
    assert res is not None and [u.name for u in res.new_work_units] == ["mg_000003"]
    assert watch.jobstate.in_state(State.FAILED) == []
    assert watch.jobstate.nodes["mg_000003"].retries == 1


def test_harvesting_nodes_are_nodes_not_work_units(tmp_path: Path) -> None:
    """An outer DAG with harvesting jobs (EnableHarvesting, or a DQMHarvest's jobs
    alone): they are counted as nodes by their own status, never as work units, so a
    chain is not left one unit short at its end and a failed harvest counts as failed."""
    from wms2.dagfiles.layout import DagLayout
    from wms2.dagman.status import DONE, ERROR, SUBMITTED, DagSnapshot, NodeInfo
    from wms2.tracking.watch import GroupCounts, progress_of

    def snapshot(nodes: dict[str, int]) -> DagSnapshot:
        return DagSnapshot(0, {}, {n: NodeInfo(s) for n, s in nodes.items()}, 0, None)

    layout = DagLayout(tmp_path)
    groups = {"mg_000000": GroupCounts(4, 4, 0, 0), "mg_000001": GroupCounts(4, 4, 0, 0)}
    chain = snapshot({"mg_000000": DONE, "mg_000001": DONE, "harvest_R000000001": SUBMITTED})
    p = progress_of(layout, chain, dict(groups))
    assert (p.work_units_total, p.work_units_done) == (2, 2)
    assert (p.nodes_total, p.nodes_done, p.nodes_running) == (9, 8, 1)
    # A DQMHarvest DAG: no work unit, its jobs are its nodes.
    alone = snapshot({"harvest_R000379415": DONE, "harvest_R000379416": ERROR})
    p = progress_of(layout, alone, {})
    assert (p.work_units_total, p.nodes_total, p.nodes_done, p.nodes_failed) == (0, 2, 1, 1)
