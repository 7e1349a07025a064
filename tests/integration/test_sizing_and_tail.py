"""Right-sized jobs and the tail's boost on the real stack (dev server, worker, local pool
of two sites), with the worker's settings: jobs run twice as long as the request
estimated. After two work units finished, the units whose SUBDAG had not started run
with half the events per job and half the memory; when 60% of the units are done, the
jobs started from then on carry the boosted JobPrio. The request completes with every
event produced once, and what changed is in its state."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.conftest import GEN, SAMPLE_CATALOG
from tests.integration.conftest import WorkerSite
from tests.integration.test_end_to_end import run_starter, start
from wms2.models import RequestStatus
from wms2.sizing.measure import job_reports
from workflows.request import RequestWorkflow

CERN, WISC = "T2_CH_CERN", "T2_US_Wisconsin"
# The GEN request under a name of this test's own: the session's dev server may still run
# another test's GEN workflows (its output workflows finish after an abort).
NAME = "wms2test_sizing_gen"


def gen_document() -> dict:
    doc = json.loads((SAMPLE_CATALOG / "requests" / f"{GEN}.json").read_text())
    return {**doc, "RequestName": NAME}


PRIORITY, BOOST = 90000, 5000  # the GEN request's RequestPriority; the setting


async def test_later_units_are_resized_and_the_tail_is_boosted(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    site.start_worker(
        env={
            "WMS2_LOCAL_SITES": json.dumps({CERN: 2, WISC: 2}),
            "WMS2_CATEGORY_THROTTLES": json.dumps({"MergeGroup": 1}),  # one unit at a time
            # 1000 events x 20 s x 1e-5 = 0.2 s per job (not capped: timed), run 2x long.
            "WMS2_SYNTHETIC_TIME_SCALE": "1e-5",
            "WMS2_SYNTHETIC_MAX_SECONDS": "1",
            "WMS2_SLOW_FACTOR": "2",
            "WMS2_TARGET_JOB_LENGTH_SEC": "5000",
            "WMS2_SIZING_EVERY_UNITS": "1",
            "WMS2_SIZING_MIN_FINISHED_UNITS": "2",
            "WMS2_TAIL_FRACTION": "0.6",
            "WMS2_TAIL_PRIORITY_BOOST": str(BOOST),
        }
    )
    h = await start(
        dev_server, site, NAME, urgent=True, config=None, request_document=gen_document()
    )  # the worker's settings
    result = await asyncio.wait_for(h.result(), 90)
    assert result.status is RequestStatus.COMPLETED, result.reason
    s = await h.query(RequestWorkflow.status)
    dag_dir = Path(s.dag_file or "").parent

    # By hand: 40 s/event against a 5000 s target wants 125 events (0.5 lumi of 250):
    # at most 2x per round -> 2 lumis, 500 events; peak RSS ~20 MB -> memory 2000 -> 1000.
    sized = [c for c in s.sizing_changes if "events/job" in c]
    assert sized and "events/job 1000 -> 500, memory 2000 -> 1000 MB" in sized[0]
    applied = sorted(p.parent.name for p in dag_dir.glob("mg_*/sizing.log"))
    assert applied and len(applied) <= 3  # two had finished, one at least was running
    for unit in sorted(p.name for p in dag_dir.glob("mg_*")):
        reports = job_reports(dag_dir / unit)
        if unit in applied:
            # A second round may halve once more (2 lumis -> 1): never below 250 events.
            assert {r["events"] for r in reports} <= {500, 250}, unit
        else:
            assert sorted(r["events"] for r in reports) == [1000] * 4, unit
        merged = json.loads((dag_dir / unit / "merge_output.json").read_text())
        assert all(o["events"] == 4000 for o in merged["outputs"]), unit
    logged = [json.loads(x) for x in (dag_dir / "sizing.jsonl").read_text().splitlines()]
    assert logged[0]["finished_units"] >= 2 and logged[0]["units"]

    # The tail: 3 of 5 units done -> the DAG's JobPrio is raised; jobs started since have it.
    tail = [c for c in s.sizing_changes if "tail:" in c]
    assert len(tail) == 1 and f"JobPrio {PRIORITY} -> {PRIORITY + BOOST}" in tail[0]
    rows = [
        x.split()
        for x in (site.root / ".wms2" / "local-condor" / "pool" / "matches.log")
        .read_text()
        .splitlines()
    ]
    prios = [int(r[4]) for r in rows]
    assert prios[0] == PRIORITY and prios[-1] == PRIORITY + BOOST
    first_boosted = prios.index(PRIORITY + BOOST)
    assert set(prios[first_boosted:]) == {PRIORITY + BOOST}  # never lowered again
    assert s.priority == PRIORITY  # the request's own priority (admission) is unchanged
    assert re.search(r"tail: 3/5 units done", tail[0])

    # Shown: `starter.py report` lists what changed, at 80 columns.
    out = run_starter(site, "report", NAME)
    assert out.returncode == 0, out.stderr
    assert "no failed or held jobs" in out.stdout and "changed on the way:" in out.stdout
    assert "events/job 1000 -> 500" in out.stdout and max(map(len, out.stdout.splitlines())) <= 80
