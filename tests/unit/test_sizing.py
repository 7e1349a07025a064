"""The sizing decision and the re-split, every number computed by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from wms2.dagfiles import DagLayout
from wms2.sizing import sizing_round
from wms2.sizing.decide import Limits, Sizing, decide
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
