from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, RERECO, SAMPLE_CATALOG, STEPCHAIN, TASKCHAIN
from wms2.config import Settings
from wms2.dagfiles.layout import DagDirectoryInUse
from wms2.models import PilotMetrics
from wms2.plan_dag import load_plan, plan_request, resources_for
from wms2.planning.splitting import SplittingError
from wms2.reqmgr import RequestImportError, request_from_reqmgr
from wms2.services.catalog import OfflineCatalog


@pytest.mark.parametrize("name", [STEPCHAIN, TASKCHAIN, RERECO])
def test_every_sample_request_plans(catalog: OfflineCatalog, settings: Settings, name: str) -> None:
    request = request_from_reqmgr(catalog.get_request(name))
    summary = plan_request(request, catalog, catalog, settings)
    assert summary.work_units >= 1
    assert summary.total_nodes == sum(summary.node_counts.values())
    assert summary.node_counts["Merge"] == summary.work_units
    assert load_plan(Path(summary.dag_dir)) == summary
    assert len(summary.model_dump_json()) < 10_000  # a small Temporal payload


def test_rereco_mask_is_respected(catalog: OfflineCatalog, settings: Settings) -> None:
    request = request_from_reqmgr(catalog.get_request(RERECO))
    summary = plan_request(request, catalog, catalog, settings)
    lumis = []
    for g in range(summary.work_units):
        m = json.loads((Path(summary.dag_dir) / f"mg_{g:06d}" / "group_manifest.json").read_text())
        lumis += [
            (r, lumi)
            for n in m["nodes"].values()
            for r, a, b in n["lumis"]
            for lumi in range(a, b + 1)
        ]
    assert lumis and all((r == 379415 and x <= 150) or (r == 379416 and x <= 60) for r, x in lumis)
    assert len(lumis) == len(set(lumis)) == 210


def test_mask_that_excludes_everything(catalog: OfflineCatalog, settings: Settings) -> None:
    doc = copy.deepcopy(catalog.get_request(RERECO))
    doc["LumiList"] = {"1": [[1, 10]]}
    with pytest.raises(
        SplittingError, match=r"data selection \(runs, lumis, blocks\) excludes every file"
    ):
        plan_request(request_from_reqmgr(doc), catalog, catalog, settings)


def test_pilot_metrics_drive_the_plan(catalog: OfflineCatalog, settings: Settings) -> None:
    request = request_from_reqmgr(catalog.get_request(STEPCHAIN))
    metrics = PilotMetrics(
        time_per_event_sec=3.0,
        memory_peak_mb=3000,
        output_size_per_event_kb=50.0,
        cpu_efficiency=0.8,
        events_processed=70,
        recommended_events_per_job=500,
        recommended_memory_mb=3500,
        recommended_time_per_job_sec=1500,
    )
    res = resources_for(request, metrics)
    assert (res.time_per_event_sec, res.size_per_event_kb, res.memory_mb) == (3.0, 50.0, 3500)
    with_pilot = plan_request(request, catalog, catalog, settings, metrics)
    without = plan_request(
        request,
        catalog,
        catalog,
        settings.model_copy(update={"submit_dir": settings.submit_dir / "b"}),
    )
    # Smaller jobs (500 events) and smaller output per event (bigger groups).
    assert with_pilot.node_counts["Processing"] > without.node_counts["Processing"]
    assert "request_memory = 3500" in (Path(with_pilot.dag_dir) / "processing.sub").read_text()


def test_request_without_outputs_is_refused(catalog: OfflineCatalog, settings: Settings) -> None:
    doc = copy.deepcopy(catalog.get_request(STEPCHAIN))
    doc["OutputDatasets"] = []
    with pytest.raises(RequestImportError, match=r"OutputDatasets \[\] must list"):
        request_from_reqmgr(doc)
    # A record without outputs (written before imports checked it) is refused by planning.
    request = request_from_reqmgr(catalog.get_request(STEPCHAIN))
    request = request.model_copy(update={"output_datasets": []})
    with pytest.raises(SplittingError, match="names no output dataset"):
        plan_request(request, catalog, catalog, settings)


def starter(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"WMS2_CATALOG_DIR": str(SAMPLE_CATALOG), "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, str(REPO / "starter.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_starter_plan_dry_run(tmp_path: Path) -> None:
    res = starter("plan", TASKCHAIN, "--dry-run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "work units" in res.stdout and "Processing nodes" in res.stdout
    assert (tmp_path / ".wms2" / "dry-run" / TASKCHAIN / "workflow.dag").exists()
    assert not (tmp_path / ".wms2" / "submit" / TASKCHAIN).exists()


def test_a_dry_run_beside_a_live_request_leaves_its_dag_directory_alone(tmp_path: Path) -> None:
    """The live DAG directory keeps its status file, rescue DAG, lock and merge reports,
    and real planning refuses to overwrite it."""
    res = starter("plan", TASKCHAIN, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    live = tmp_path / ".wms2" / "submit" / TASKCHAIN
    made = {
        "workflow.dag.status": "[ StatusEnd ]",
        "workflow.dag.rescue001": "DONE mg_000000\n",
        "workflow.dag.lock": "4242",
        "mg_000000/merge_output.json": '{"outputs": []}',
    }
    for name, text in made.items():
        (live / name).write_text(text)
    before = sorted(str(p.relative_to(live)) for p in live.rglob("*"))
    res = starter("plan", TASKCHAIN, "--dry-run", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert all((live / name).read_text() == text for name, text in made.items())
    assert sorted(str(p.relative_to(live)) for p in live.rglob("*")) == before
    res = starter("plan", TASKCHAIN, cwd=tmp_path)
    assert res.returncode == 1 and "lock file" in res.stderr and "not replanned" in res.stderr
    (live / "workflow.dag.lock").unlink()
    res = starter("plan", TASKCHAIN, cwd=tmp_path)
    assert res.returncode == 1 and "1 merged work unit(s)" in res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    assert (live / "mg_000000" / "merge_output.json").exists()


def test_starter_plan_errors_are_clear(tmp_path: Path) -> None:
    res = starter("plan", "no_such_request", "--dry-run", cwd=tmp_path)
    assert res.returncode == 1 and "request 'no_such_request' does not exist" in res.stderr
    assert res.stderr.count("\n") == 1 and res.stdout == ""  # one line, on stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    res = starter("plan", "--file", str(bad), cwd=tmp_path)
    assert res.returncode == 1 and "cannot read request file" in res.stderr


def test_replanning_starts_from_a_clean_directory(
    catalog: OfflineCatalog, settings: Settings
) -> None:
    request = request_from_reqmgr(catalog.get_request(TASKCHAIN))
    first = plan_request(request, catalog, catalog, settings)
    root = Path(first.dag_dir)
    (root / "workflow.dag.status").write_text("old run")
    (root / "mg_000000" / "stale.txt").write_text("{}")
    (root / "pilot").mkdir()
    (root / "pilot" / "pilot_metrics.json").write_text("{}")
    plan_request(request, catalog, catalog, settings)
    assert not (root / "workflow.dag.status").exists()
    assert not (root / "mg_000000" / "stale.txt").exists()
    assert (root / "pilot" / "pilot_metrics.json").exists()  # the pilot's measurements stay
    # Once a work unit was merged, the directory is the request's record: never replanned.
    (root / "mg_000001" / "merge_output.json").write_text("{}")
    with pytest.raises(DagDirectoryInUse, match="1 merged work unit"):
        plan_request(request, catalog, catalog, settings)
    assert (root / "mg_000001" / "merge_output.json").exists()


def test_planning_pauses_the_collector_and_gives_it_back() -> None:
    import gc

    from wms2.planning.gc_pause import gc_paused

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # a second plan at once (another worker thread)
            assert not gc.isenabled()
        assert not gc.isenabled()  # the first is still planning
    assert gc.isenabled()
    gc.disable()  # someone else's choice is kept
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
