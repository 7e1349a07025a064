"""Right-sizing on the local pool with the DAGs WMS2 plans: jobs run twice as long as
the request estimated; after two work units finished, a sizing round halves the events
per job and the memory of the units whose SUBDAG had not started, and those units run
with the new sizing (more, shorter jobs; every event still produced once)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.condor.dagkit import wait, wait_for
from tests.condor.test_sites_reach_dags import CERN, WISC, plan
from wms2.condor.local.backend import LocalBackend
from wms2.config import Settings
from wms2.dagfiles import DagLayout
from wms2.services.catalog import OfflineCatalog
from wms2.sizing import Limits, sizing_round
from wms2.sizing.measure import job_reports


@pytest.fixture
def pool_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "local_sites": {CERN: 2, WISC: 2},
            "category_throttles": {"MergeGroup": 1},  # units one after the other
            # 1000 events x 20 s x 1e-5 = 0.2 s per job, below the cap: timed.
            "synthetic_time_scale": 1e-5,
            "synthetic_max_seconds": 1.0,
            "local_status_interval_sec": 0.2,
        }
    )


def test_later_units_are_resized_from_the_first_ones(
    catalog: OfflineCatalog, pool_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WMS2_SLOW_FACTOR", "2")  # 40 s/event where 20 were estimated
    s = pool_settings
    backend = LocalBackend(s.state_dir, s.local_site, 1, 0.2, s.local_sites)
    summary = plan(catalog, s)
    root, layout = Path(summary.dag_dir), DagLayout(Path(summary.dag_dir))
    handle = backend.submit_dag(Path(summary.dag_file), "GEN")
    wait_for(lambda: len(list(root.glob("mg_*/merge_output.json"))) >= 2, 60)
    limits = Limits(min_memory_mb=500, max_memory_mb=2500, target_wall_sec=5000, memory_margin=0.2)
    result = sizing_round(layout, limits, min_finished=2)
    assert wait(backend, handle, 120).exit_code == 0

    # By hand: 0.4 s per 1000 events at scale 1e-5 is 40 s/event; 5000 s hold 125 events,
    # 0.5 lumi of 250 events: at most 2x per round, so 2 lumis (500 events) instead of 4.
    # Peak RSS ~20 MB + 20% wants ~24 MB: at most 2x, so 1000 MB instead of 2000.
    assert result.resized, result
    assert result.change.startswith(
        f"{len(result.resized)} unit(s): events/job 1000 -> 500, memory 2000 -> 1000 MB"
    )
    tpe = float(re.search(r"([\d.]+) s/event", result.measurement).group(1))  # type: ignore[union-attr]
    assert 40 <= tpe < 48  # the sleep, plus writing the outputs
    logged = [json.loads(x) for x in (root / "sizing.jsonl").read_text().splitlines()]
    assert [r["units"] for r in logged] == [result.resized]
    for unit in sorted(p.name for p in root.glob("mg_*")):
        gdir = root / unit
        reports = job_reports(gdir)
        manifest = json.loads((gdir / "group_manifest.json").read_text())
        merged = json.loads((gdir / "merge_output.json").read_text())
        if unit in result.resized:
            assert (gdir / "sizing.log").exists() and not (gdir / "resized").exists()
            assert sorted(r["events"] for r in reports) == [500] * 8
            assert len(manifest["nodes"]) == 8
            asked = re.findall(r"DAG Node: proc_\S+ .*RequestMemory = (\d+)", (
                gdir / "group.log").read_text())  # fmt: skip
            assert asked == ["1000"] * 8
        else:
            assert sorted(r["events"] for r in reports) == [1000] * 4
        # Every event of the unit once: 4000, numbered without gap or overlap.
        spans = sorted((n["first_event"], n["last_event"]) for n in manifest["nodes"].values())
        assert sum(b - a + 1 for a, b in spans) == 4000
        assert all(spans[i][1] + 1 == spans[i + 1][0] for i in range(len(spans) - 1))
        assert all(o["events"] == 4000 for o in merged["outputs"])
