"""Failures handled without tickets, on the real stack (dev server, worker, local pool of
two sites): a site that fails every job and a node that fails always. The first DAG
ends with failures; `starter.py report` groups them at 80 columns; the operator's restart
runs a rescue that avoids the failing site; the node that failed the same way in both
rounds ends the request in review (PARTIAL) with its report, not in another rescue."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from tests.conftest import GEN, SAMPLE_CATALOG
from tests.integration.conftest import WorkerSite
from tests.integration.test_end_to_end import run_starter, start
from tests.workflows.harness import until
from wms2.models import RequestStatus
from workflows.request import RequestWorkflow

CERN, WISC = "T2_CH_CERN", "T2_US_Wisconsin"
# The GEN request under a name of this test's own: the session's dev server may still run
# another test's GEN workflows (its output workflows finish after an abort).
NAME = "wms2test_failures_gen"


def gen_document() -> dict:
    doc = json.loads((SAMPLE_CATALOG / "requests" / f"{GEN}.json").read_text())
    return {**doc, "RequestName": NAME}


ALWAYS = "proc_000002"
S = RequestStatus


def site_tries(dag_dir: Path) -> list[dict]:
    return [
        {**json.loads(x), "unit": f.parent.name}
        for f in sorted(dag_dir.glob("mg_*/node_outcomes.jsonl"))
        for x in f.read_text().splitlines()
    ]


async def test_report_rescue_avoiding_the_site_and_review_of_a_hopeless_node(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    site.start_worker(
        env={
            "WMS2_LOCAL_SITES": json.dumps({CERN: 3, WISC: 1}),  # few units at WISC: < 30%
            "WMS2_FAIL_SITES": WISC,  # the local runner's jobs inherit these
            "WMS2_FAIL_NODES": ALWAYS,
            "WMS2_SYNTHETIC_MAX_SECONDS": "0.05",
        }
    )
    h = await start(dev_server, site, NAME, urgent=True, request_document=gen_document())
    first = await until(h, lambda s: s.status in (S.PARTIAL, S.FAILED), 90)
    assert first.status is S.PARTIAL, first.transitions[-1].reason
    dag_dir = Path(first.dag_file or "").parent
    tries = site_tries(dag_dir)
    wisc_units = sorted({t["unit"] for t in tries if t["class"] == "site"})
    assert wisc_units and all(t["site"] == WISC for t in tries if t["class"] == "site")
    kept = await h.query(RequestWorkflow.failure_report)
    assert kept is not None and kept.decision.startswith("review (PARTIAL)")
    causes = {g.cause: g for g in kept.groups}
    assert set(causes) == {f"site exit 69 at {WISC}", "transient exit 1"}
    assert causes[f"site exit 69 at {WISC}"].units == wisc_units
    assert first.failure_summary == kept.summary_line()

    out = run_starter(site, "report", NAME)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert max(map(len, lines)) <= 80, out.stdout
    assert lines[0].startswith("Failure report") and lines[1] == NAME
    assert f"site exit 69 at {WISC}" in out.stdout and "transient exit 1" in out.stdout
    assert f"{ALWAYS} on request (WMS2_FAIL_NODES)" in out.stdout  # its stderr's last line

    restarted = run_starter(site, "restart", NAME, "--reason", "look at the report")
    assert restarted.returncode == 0, restarted.stderr
    s = await until(h, lambda s: s.status is S.PARTIAL and s.dag_attempt == 2, 90)
    assert "failed the same way in 2 rounds" in s.transitions[-1].reason
    assert s.auto_rescues == 0  # no automatic rescue for a hopeless node
    report = await h.query(RequestWorkflow.failure_report)
    assert report is not None and len(report.hopeless) == 1
    assert report.hopeless[0].endswith(f"/{ALWAYS}")
    second = [t for t in site_tries(dag_dir) if t["round"] == 1]
    # The rescue ran the units the site had failed elsewhere; no site error any more.
    assert {t["unit"] for t in second if t["node"] != ALWAYS} <= set(wisc_units)
    assert all(t["site"] == CERN and t["class"] == "success" for t in second
               if t["node"] != ALWAYS)  # fmt: skip
    assert s.alerts[-1].kind == "failures_need_review"
    # The operator's call: abort (the session's dev server serves later tests of GEN).
    aborted = run_starter(site, "abort", NAME, "--reason", "payload bug")
    assert aborted.returncode == 0, aborted.stderr
    s = await until(h, lambda s: s.status is S.ABORTED, 60)
    assert s.failure_report is not None  # the report stays with the request
    with pytest.raises(WorkflowFailureError):  # ends Canceled
        await asyncio.wait_for(h.result(), 60)
