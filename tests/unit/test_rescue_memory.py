"""A rescue starts a memory-failed unit's processing jobs with its raised memory: the
decision by hand (wms2.memory.rescue), then on a planned ReReco DAG directory whose unit
has a node held for memory (the evidence as the local pool and DAGMan write it): the
unit's own submit description is prepared in resized/, recorded once in the memory
ledger, shown in the failure report, and moved into place by the unit's PRE script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RERECO
from wms2.condor.local.memlimit import HOLD_REASON
from wms2.config import Settings
from wms2.dagfiles import DagLayout
from wms2.dagman.jobstate import JobstateWriter
from wms2.failures import build_report
from wms2.failures.render import render_report
from wms2.memory import ledger
from wms2.memory.ledger import RELEASED, RESCUE, MemoryBump
from wms2.memory.rescue import NodeMemory, RescueMemory, requested_in, rescue_memory
from wms2.plan_dag import plan_request
from wms2.reqmgr import request_from_reqmgr
from wms2.services.catalog import OfflineCatalog
from wms2.tracking.reconcile import ensure_rescue

# ── the decision, by hand ────────────────────────────────────────────────────


def test_a_node_held_for_memory_asks_one_raise_more() -> None:
    # int(300 * 1.5) = 450, below the 600 maximum.
    d = rescue_memory(300, 600, 1.5, [NodeMemory("proc_000000", failed_mb=300)])
    assert d == RescueMemory(300, 450, "proc_000000 failed for memory at 300 MB")


def test_the_raise_stops_at_the_jobs_maximum() -> None:
    # Released to 450, held again there: int(450 * 1.5) = 675, capped at 600.
    d = rescue_memory(300, 600, 1.5, [NodeMemory("p", raised_mb=450, failed_mb=450)])
    assert d is not None and d.to_mb == 600 and d.why == "p failed for memory at 450 MB"
    # A job already at its maximum learns nothing a rescue could use.
    assert rescue_memory(600, 600, 1.5, [NodeMemory("p", failed_mb=600)]) is None


def test_a_raised_node_starts_where_its_raise_took_it() -> None:
    # Evicted 300 -> 450 by HTCondor's retry, then the DAG stopped: the rescue asks 450.
    d = rescue_memory(300, 600, 1.5, [NodeMemory("p", raised_mb=450)])
    assert d == RescueMemory(300, 450, "p was raised to 450 MB")


def test_the_unit_takes_its_highest_node() -> None:
    # Factor 2, maximum 1000: a node raised to 700; another failed at 300 wants
    # int(300 * 2) = 600; a third failed at 400 wants 800. The unit: 800.
    nodes = [
        NodeMemory("a", raised_mb=700),
        NodeMemory("b", failed_mb=300),
        NodeMemory("c", failed_mb=400),
    ]
    assert rescue_memory(300, 1000, 2.0, nodes) == RescueMemory(
        300, 800, "c failed for memory at 400 MB"
    )


def test_never_lower_than_the_unit_asks_already() -> None:
    # A sizing round gave the unit 500 MB; a raise to 450 teaches nothing.
    assert rescue_memory(500, 600, 1.5, [NodeMemory("p", raised_mb=450)]) is None
    assert rescue_memory(500, 600, 1.5, []) is None


def test_the_request_a_memory_hold_names() -> None:
    assert requested_in(HOLD_REASON.format(usage=351.4, request=300)) == 300  # local pool
    assert requested_in("Job has gone over memory limit of 2500 megabytes.") == 2500
    assert requested_in("Job was held by the user") is None


# ── on a planned DAG directory ───────────────────────────────────────────────

FACTOR = 1.5
UNIT, NODE, OTHER = "mg_000000", "proc_000000", "proc_000001"


@pytest.fixture
def layout(catalog: OfflineCatalog, settings: Settings) -> DagLayout:
    """The ReReco at 300 MB on 4 cores at 150 MB per core: it may grow to 600 MB."""
    doc = {**catalog.get_request(RERECO), "Memory": 300}
    s = settings.model_copy(update={"memory_per_core_mb": 150, "condor_memory_retry": False})
    plan = plan_request(request_from_reqmgr(doc), catalog, catalog, s)
    return DagLayout(Path(plan.dag_file).parent)


def held(layout: DagLayout, node: str, cluster: int, request: int) -> None:
    """The node's job ran, was held for memory at `request` MB and never released (the
    DAG was removed): its JOBSTATE_LOG and event log as the local pool leaves them."""
    gdir = layout.group_dir(UNIT)
    log = JobstateWriter(gdir / "group.dag.jobstate.log")
    for event in ("PRE_SCRIPT_STARTED", "PRE_SCRIPT_SUCCESS", "SUBMIT", "EXECUTE", "JOB_HELD"):
        log.node(node, event, f"{cluster}.0")
    reason = HOLD_REASON.format(usage=350, request=request)
    with open(gdir / "group.log", "a") as f:
        for code, text in (("001", "Job executing on host: <local>"), ("012", reason)):
            f.write(f"{code} ({cluster:03d}.000.000) 2026-12-06 05:00:00 {text}\n...\n")


def test_a_held_node_raises_its_units_rescue_once(layout: DagLayout) -> None:
    held(layout, NODE, 41, 300)
    ensure_rescue(layout, recorded=set(), memory_factor=FACTOR)
    gdir = layout.group_dir(UNIT)
    resized = (gdir / "resized" / "processing.sub").read_text()
    # int(300 * 1.5) = 450 <= 600; the maximum stays.
    assert "request_memory = 450\n" in resized and "+WMS2_MaxMemoryMB = 600\n" in resized
    dag = (gdir / "resized" / "group.dag").read_text()
    jobs = [line.split() for line in dag.splitlines() if line.startswith("JOB proc_")]
    assert [j[1] for j in jobs] == [NODE, OTHER]
    assert all(j[2] == str(gdir / "processing.sub") for j in jobs)
    assert json.loads((gdir / "resized" / "group_manifest.json").read_text()) == json.loads(
        (gdir / "group_manifest.json").read_text()
    )
    # No other unit had memory trouble: nothing prepared for them.
    assert not list(layout.root.glob("mg_00000[1-9]/resized"))
    rescues = [b for b in ledger.read(layout.root) if b.how == RESCUE]
    assert [(b.node, b.from_mb, b.to_mb, b.reason) for b in rescues] == [
        (UNIT, 300, 450, f"{NODE} failed for memory at 300 MB")
    ]
    # A retried submission prepares nothing more and records nothing twice.
    ensure_rescue(layout, recorded=set(), memory_factor=FACTOR)
    assert "request_memory = 450\n" in (gdir / "resized" / "processing.sub").read_text()
    assert len([b for b in ledger.read(layout.root) if b.how == RESCUE]) == 1
    lines = ledger.summary(layout.root)
    assert lines[0] == "1 rescue(s) started 1 unit(s) with more memory"
    assert lines[1].endswith(f"{UNIT} rescue: 300 -> 450 MB ({NODE} failed for memory at 300 MB)")
    text = render_report(build_report(layout, RERECO, round_cap=2), 80)
    assert f"{UNIT} rescue starts its jobs at 450 MB (was 300):" in text
    assert max(map(len, text.splitlines())) <= 80

    # The unit's PRE script, as DAGMan runs it in the unit's directory, applies it.
    script = layout.bin_dir / "apply_sizing.py"
    subprocess.run([sys.executable, str(script)], cwd=gdir, check=True, env=dict(os.environ))
    assert "request_memory = 450\n" in (gdir / "processing.sub").read_text()
    assert f"JOB {NODE} {gdir / 'processing.sub'}" in (gdir / "group.dag").read_text()
    assert not (gdir / "resized").exists()


def test_a_release_then_a_hold_at_the_raise_asks_the_next_step(layout: DagLayout) -> None:
    # Held at 300, released with 450 (the ledger), held again at 450 and left there.
    ledger.record(layout.root, [MemoryBump(NODE, "41.0", 300, 450, RELEASED, 350.0)])
    held(layout, NODE, 41, 450)
    ensure_rescue(layout, recorded=set(), memory_factor=FACTOR)
    resized = (layout.group_dir(UNIT) / "resized" / "processing.sub").read_text()
    assert "request_memory = 600\n" in resized  # int(450 * 1.5) = 675, capped at 600


def test_a_raised_node_that_succeeded_still_raises_its_unfinished_unit(
    layout: DagLayout,
) -> None:
    # proc_000000 was released with 450 and succeeded; proc_000001 failed otherwise:
    # the unit reruns, its jobs start at the highest raise, 450.
    gdir = layout.group_dir(UNIT)
    log = JobstateWriter(gdir / "group.dag.jobstate.log")
    for event in ("SUBMIT", "EXECUTE", "JOB_HELD", "JOB_RELEASED", "JOB_TERMINATED"):
        log.node(NODE, event, "41.0")
    log.node(NODE, "JOB_SUCCESS", "0")
    for event in ("POST_SCRIPT_STARTED", "POST_SCRIPT_SUCCESS"):
        log.node(NODE, event, "41.0")
    for event in ("SUBMIT", "EXECUTE", "JOB_TERMINATED"):
        log.node(OTHER, event, "42.0")
    log.node(OTHER, "JOB_FAILURE", "1")
    ledger.record(layout.root, [MemoryBump(NODE, "41.0", 300, 450, RELEASED, 350.0)])
    ensure_rescue(layout, recorded=set(), memory_factor=FACTOR)
    resized = (gdir / "resized" / "processing.sub").read_text()
    assert "request_memory = 450\n" in resized


def test_a_memory_exit_code_counts_and_other_failures_do_not(layout: DagLayout) -> None:
    gdir = layout.group_dir(UNIT)
    log = JobstateWriter(gdir / "group.dag.jobstate.log")
    for node, cluster, code in ((NODE, "41", 50660), (OTHER, "42", 1)):
        for event in ("SUBMIT", "EXECUTE", "JOB_TERMINATED"):
            log.node(node, event, f"{cluster}.0")
        log.node(node, "JOB_FAILURE", str(code))
        log.node(node, "POST_SCRIPT_FAILURE", f"{cluster}.0")
        with open(gdir / "node_outcomes.jsonl", "a") as f:
            f.write(json.dumps({"node": node, "exit": code, "class": "permanent"}) + "\n")
    # Only proc_000000's watchdog exit (50660, RSS) is a memory failure: 300 -> 450.
    ensure_rescue(layout, recorded=set(), memory_factor=FACTOR)
    assert "request_memory = 450\n" in (gdir / "resized" / "processing.sub").read_text()
    rescues = [b for b in ledger.read(layout.root) if b.how == RESCUE]
    assert [b.reason for b in rescues] == [f"{NODE} failed for memory at 300 MB"]
