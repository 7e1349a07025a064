"""The sizing decision and the re-split, every number computed by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RERECO
from wms2.config import Settings
from wms2.dagfiles import DagLayout
from wms2.plan_dag import plan_request
from wms2.reqmgr import request_from_reqmgr
from wms2.services.catalog import OfflineCatalog
from wms2.sizing import sizing_round
from wms2.sizing.decide import Limits, Sizing, decide, decide_memory
from wms2.sizing.measure import MARK
from wms2.sizing.resplit import redag, resplit

LIMITS = Limits(min_memory_mb=500, max_memory_mb=4000, target_wall_sec=8 * 3600, memory_margin=0.2)
NOW = Sizing(lumis_per_job=4, events_per_lumi=250, memory_mb=2000)  # 1000 events/job


@pytest.mark.parametrize(
    ("tpe", "rss", "lumis", "memory"),
    [
        # 8 h / 4 s = 7200 events = 28.8 lumis: up at most 2x -> 8 lumis (2000 events).
        # 1500 MB * 1.2 = 1800 MB: within 2x -> 1800.
        (4.0, 1500.0, 8, 1800),
        # 8 h / 40 s = 720 events = 2.88 lumis -> floor 2 (2x down is the bound: 2).
        # 3000 * 1.2 = 3600 MB: within 2x of 2000 -> 3600 (below the 4000 limit).
        (40.0, 3000.0, 2, 3600),
        # 8 h / 30 s = 960 events = 3.84 lumis -> floor 3 (shorter than the target).
        # 100 MB * 1.2 = 120 MB: at most 2x down -> 1000 MB.
        (30.0, 100.0, 3, 1000),
        # 8 h / 1 s = 28800 events: 2x up -> 8 lumis; but the unit has 6 lumis -> 6.
        # 5000 * 1.2 = 6000 MB: 2x up -> 4000, the limit -> 4000.
        (1.0, 5000.0, 6, 4000),
    ],
)
def test_decide_steps_at_most_2x_within_limits(
    tpe: float, rss: float, lumis: int, memory: int
) -> None:
    d = decide(NOW, tpe, rss, LIMITS, max_lumis=6 if tpe == 1.0 else 16)
    assert (d.after.lumis_per_job, d.after.memory_mb) == (lumis, memory)
    assert d.after.events_per_job == lumis * 250


def test_decide_without_timing_keeps_events_and_odd_lumis_never_more_than_halve() -> None:
    d = decide(NOW, None, None, LIMITS, 16)
    assert not d.changed and d.why == "nothing measured"
    three = Sizing(3, 100, 2000)
    # 8 h / 1000 s = 28.8 events = 0.288 lumis; half of 3 is 1.5 -> ceil 2, not 1 (3x).
    assert decide(three, 1000.0, None, LIMITS, 16).after.lumis_per_job == 2
    # Memory floor: 600 * 1.2 = 720; 2x down of 900 is 450 -> 720 stands; floor 500 ok.
    assert decide(Sizing(4, 250, 900), None, 600.0, LIMITS, 16).after.memory_mb == 720
    assert decide(Sizing(4, 250, 900), None, 10.0, LIMITS, 16).after.memory_mb == 500


def test_resplit_numbers_events_on_and_redag_rewrites_the_processing_nodes() -> None:
    manifest = {
        "group_index": 3,
        "nodes": {
            "proc_000012": {"files": [], "events": 1000, "lumis": [[1, 49, 52]],
                            "first_event": 12001, "last_event": 13000, "sites": ["A"]},
            "proc_000013": {"files": [], "events": 1000, "lumis": [[1, 53, 56]],
                            "first_event": 13001, "last_event": 14000, "sites": ["A"]},
        },
    }  # fmt: skip
    new = resplit(manifest, Sizing(3, 250, 1000))
    assert {k: (v["lumis"], v["first_event"], v["last_event"], v["events"])
            for k, v in new["nodes"].items()} == {
        "proc_000003_0000": ([[1, 49, 51]], 12001, 12750, 750),
        "proc_000003_0001": ([[1, 52, 54]], 12751, 13500, 750),
        "proc_000003_0002": ([[1, 55, 56]], 13501, 14000, 500),
    }  # fmt: skip
    dag = (
        "JOB landing /r/landing.sub\n"
        'JOB proc_000012 /r/processing.sub\nVARS proc_000012 node="proc_000012"\n'
        "RETRY proc_000012 3 UNLESS-EXIT 2\n"
        'JOB proc_000013 /r/processing.sub\nVARS proc_000013 node="proc_000013"\n'
        "RETRY proc_000013 3 UNLESS-EXIT 2\n"
        "JOB merge /r/merge.sub\n"
        "PARENT landing CHILD proc_000012 proc_000013\n"
        "PARENT proc_000012 proc_000013 CHILD merge\n"
        "PARENT merge CHILD cleanup\n"
    )
    out = redag(dag, ["proc_000012", "proc_000013"], list(new["nodes"]), "/r/mg/processing.sub")
    names = list(new["nodes"])
    assert out.splitlines() == [
        "JOB landing /r/landing.sub",
        *[line for n in names for line in (
            f"JOB {n} /r/mg/processing.sub", f'VARS {n} node="{n}"', f"RETRY {n} 3 UNLESS-EXIT 2"
        )],
        "JOB merge /r/merge.sub",
        f"PARENT landing CHILD {' '.join(names)}",
        f"PARENT {' '.join(names)} CHILD merge",
        "PARENT merge CHILD cleanup",
    ]  # fmt: skip


def test_a_dag_without_the_apply_script_is_not_sized(tmp_path: Path) -> None:
    """A DAG planned before sizing: a prepared sizing would never be applied."""
    (tmp_path / "workflow.dag").write_text("SUBDAG EXTERNAL mg_000000 group.dag DIR mg\n")
    limits = Limits(500, 2500, 3600.0, 0.2)
    result = sizing_round(DagLayout(tmp_path), limits, min_finished=0)
    assert result.resized == [] and "no apply_sizing.py PRE scripts" in result.skipped["*"]


# ── units whose jobs read input files: memory only ───────────────────────────


def test_decide_memory_alone_by_hand() -> None:
    # 3000 * 1.2 = 3600 MB; 2x down of 8000 is 4000 -> 4000. From 4000: 3600 stands.
    assert decide_memory(8000, 3000.0, BIG)[0] == 4000
    assert decide_memory(4000, 3000.0, BIG)[0] == 3600
    # 9000 * 1.2 = 10800; 2x up of 4000 allows 8000; the 10000 limit does not bite.
    assert decide_memory(4000, 9000.0, BIG)[0] == 8000
    # 20 * 1.2 = 24; 2x down of 600 is 300; the 500 floor -> 500.
    assert decide_memory(600, 20.0, BIG)[0] == 500


BIG = Limits(min_memory_mb=500, max_memory_mb=10000, target_wall_sec=3600, memory_margin=0.2)


def test_a_planned_rereco_gets_its_memory_right_sized_without_a_resplit(
    catalog: OfflineCatalog, settings: Settings
) -> None:
    """The ReReco asks 8000 MB (4 cores); its first unit finished with a 3000 MB peak."""
    plan = plan_request(request_from_reqmgr(catalog.get_request(RERECO)), catalog, catalog,
                        settings)  # fmt: skip
    layout = DagLayout(Path(plan.dag_file).parent)
    root = layout.root
    done, started = root / "mg_000000", root / "mg_000001"
    layout.merge_output(done.name).write_text("{}")
    report = {"events": 1000, "wall_sec": 60.0, "time_scale": 1.0, "peak_rss_mb": 3000.0}
    (done / "proc_000000.out").write_text(f"{MARK}{json.dumps(report)}\n")
    (started / ".started").touch()
    manifests = {u.name: (u / "group_manifest.json").read_text() for u in root.glob("mg_*")}

    result = sizing_round(layout, BIG, min_finished=1)
    pending = sorted(u.name for u in root.glob("mg_*"))[2:]
    assert result.resized == pending and len(pending) == 10
    assert result.change == (
        "10 unit(s): memory 8000 -> 4000 MB (peak RSS 3000 MB + 20%: 4000 MB "
        "(limits 500-10000); jobs read input files: not re-split)"
    )
    for name in (done.name, started.name):
        assert not (root / name / "resized").exists()
    gdir = root / pending[0]
    sub = (gdir / "resized" / "processing.sub").read_text()
    assert "request_memory = 4000\n" in sub and "+MaxWallTimeMins = 111\n" in sub
    # Same nodes, same manifest: only the processing JOB lines name the unit's own file.
    old_dag = (gdir / "group.dag").read_text()
    new_dag = (gdir / "resized" / "group.dag").read_text()
    assert new_dag == old_dag.replace(str(root / "processing.sub"), str(gdir / "processing.sub"))
    assert (gdir / "resized" / "group_manifest.json").read_text() == manifests[gdir.name]
    logged = [json.loads(x) for x in (root / "sizing.jsonl").read_text().splitlines()]
    assert [r["units"] for r in logged] == [pending]

    # The unit's PRE script applies it; the next round goes on from the prepared 4000 MB
    # for the units not started yet: 3600 (within 2x), and leaves the started unit alone.
    script = layout.bin_dir / "apply_sizing.py"
    subprocess.run([sys.executable, str(script)], cwd=gdir, check=True)
    assert "request_memory = 4000\n" in (gdir / "processing.sub").read_text()
    again = sizing_round(layout, BIG, min_finished=1)
    assert again.resized == pending[1:]
    assert "memory 4000 -> 3600 MB" in again.change
    prepared = root / pending[1] / "resized" / "processing.sub"
    assert "request_memory = 3600\n" in prepared.read_text()
    assert "request_memory = 4000\n" in (gdir / "processing.sub").read_text()
