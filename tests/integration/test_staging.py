"""A request whose input is on tape only, on the real stack: a Rucio rule (the offline
catalog's) stages it to disk, the request waits in PLANNING, then plans and completes."""

from __future__ import annotations

import asyncio
import json

from temporalio.testing import WorkflowEnvironment

from tests.integration.conftest import WorkerSite
from tests.integration.test_end_to_end import catalog_state, start
from tests.unit.test_reqmgr_semantics import FIXTURES
from wms2.models import RequestStatus
from workflows.request import RequestWorkflow


async def test_input_on_tape_is_staged_then_planned(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    doc = json.loads((FIXTURES / "rereco_from_tape.json").read_text())
    name = doc["RequestName"]
    site.start_worker()
    h = await start(dev_server, site, name, urgent=True, request_document=doc)
    result = await asyncio.wait_for(h.result(), 240)
    assert result.status is RequestStatus.COMPLETED, result.reason
    s = await h.query(RequestWorkflow.status)
    names = [t.to_status.value for t in s.transitions]
    assert names == ["submitted", "queued", "planning", "planning", "active", "completed"]
    assert s.transitions[3].reason.startswith("input staged (rule ")
    assert s.staging is not None and s.staging.state == "OK"
    assert (s.staging.rse_expression, s.staging.blocks, s.staging.files) == (
        "T1_US_FNAL_Disk",
        1,
        12,
    )
    rules = [
        r
        for r in catalog_state(site).recorded_rules().values()
        if r["comment"] == f"WMS2 staging of input for {name}"
    ]
    assert len(rules) == 1 and rules[0]["dids"] == ["/JetMET0/Run2023D-v1/RAW#7a9e0001-tape"]
    assert s.outputs_by_state == {"announced": s.progress.work_units_total}
    assert not [a for a in s.alerts if a.kind in ("staging_stuck", "slow_staging")]
