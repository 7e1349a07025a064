"""Harvesting requests on the real stack (dev server, a worker process, the local pool):
a DQMHarvest and a ReReco with EnableHarvesting run to COMPLETED, each DQM file uploaded
once after the DAG (the offline catalog's dqm_uploads.json) and shown by `status`."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.condor.test_harvesting import write_dqm_catalog
from tests.conftest import RERECO
from tests.integration.conftest import WorkerSite
from tests.integration.test_end_to_end import catalog_state, repo, run_starter, start
from tests.unit.test_reqmgr_semantics import fixture
from wms2.messages import Activity
from wms2.models import RequestStatus
from workflows.request import RequestWorkflow

HARVEST = "pdmvserv_Run2024C_JetMET0_DQMHarvest_261102_100000_5502"
RERECO_DQM = "pdmvserv_Run2024C_JetMET0_ReReco_DQM_261118_070000_2425"
RERECO_DQMIO = "/JetMET0/Run2024C-ReReco2024-v1/DQMIO"


def harvest_catalog(root: Path) -> Path:
    """The DQMIO catalog with a DQMHarvest (byRun over two runs) and a small ReReco whose
    chain harvests its DQMIO output."""
    write_dqm_catalog(root)
    requests = root / "requests"
    harvest = fixture("dqmharvest") | {"RunWhitelist": [379415, 379416]}
    (requests / f"{HARVEST}.json").write_text(json.dumps(harvest))
    rereco = json.loads((requests / f"{RERECO}.json").read_text())
    rereco |= {
        "RequestName": RERECO_DQM,
        "RunWhitelist": [379415, 379416],
        "LumiList": {"379415": [[1, 20]], "379416": [[1, 10]]},
        "OutputDatasets": ["/JetMET0/Run2024C-ReReco2024-v1/AOD", RERECO_DQMIO],
        "EnableHarvesting": True,
        "DQMUploadUrl": "https://cmsweb.cern.ch/dqm/relval",
    }
    (requests / f"{RERECO_DQM}.json").write_text(json.dumps(rereco))
    return root


async def uploads_scheduled(h: WorkflowHandle) -> int:
    """How often the request asked for the upload (the ledger makes a repeat send nothing;
    the request must not need one)."""
    n = 0
    async for event in h.fetch_history_events():
        attrs = event.activity_task_scheduled_event_attributes
        n += event.HasField("activity_task_scheduled_event_attributes") and (
            attrs.activity_type.name == Activity.UPLOAD_DQM.value
        )
    return n


async def test_harvesting_requests_complete_with_their_dqm_files_uploaded_once(
    dev_server: WorkflowEnvironment, site: WorkerSite, tmp_path: Path
) -> None:
    site.catalog_dir = harvest_catalog(tmp_path / "catalog")
    site.start_worker()
    harvest = await start(dev_server, site, HARVEST, urgent=True)
    rereco = await start(dev_server, site, RERECO_DQM, urgent=True)
    results = await asyncio.wait_for(asyncio.gather(harvest.result(), rereco.result()), 90)
    for r in results:
        assert r.status is RequestStatus.COMPLETED, r.reason
    recorded = catalog_state(site).recorded_dqm_uploads()

    # The DQMHarvest: two jobs (one per run), no work unit, no output; two DQM files.
    s = await harvest.query(RequestWorkflow.status)
    files = [f"DQM_V0001_R00037941{r}__JetMET0__Run2024C-ReRecoSel2024-v1__DQMIO.root"
             for r in (5, 6)]  # fmt: skip
    assert [u.file for u in s.dqm_uploads] == files and s.harvest_jobs == 2
    assert {u.url for u in s.dqm_uploads} == {"https://cmsweb.cern.ch/dqm/offline"}
    assert (s.progress.work_units_total, s.progress.nodes_done, s.outputs_by_state) == (0, 2, {})
    assert "2 DQM file(s) uploaded" in s.transitions[-1].reason
    # The chain: its DQMIO output harvested after its merges, one file per run.
    c = await rereco.query(RequestWorkflow.status)
    chain_files = [u.file for u in c.dqm_uploads]
    assert len(chain_files) == c.harvest_jobs == 2
    assert all(f.endswith("__JetMET0__Run2024C-ReReco2024-v1__DQMIO.root") for f in chain_files)
    assert len(c.completed_work_units) == c.progress.work_units_total > 0
    assert c.outputs_by_state.get("announced", 0) == 2 * len(c.completed_work_units)

    # Each file is in the DQM GUI's record once, with the size the request shows.
    mine = {f"{u.url}/{u.file}": u for u in [*s.dqm_uploads, *c.dqm_uploads]}
    assert set(recorded) == set(mine)
    assert all(int(recorded[k]["size"]) == u.size for k, u in mine.items())
    assert [await uploads_scheduled(h) for h in (harvest, rereco)] == [1, 1]
    r = repo(site)
    dag = r.latest_dag(r.get_workflow_by_request(HARVEST).id)
    assert dag.status.value == "completed" and dag.total_work_units == 0

    shown = run_starter(site, "status", HARVEST, env={"COLUMNS": "200"}).stdout
    assert re.search(r"DQM uploads\s+│\s+2 file\(s\) of 2 harvesting job\(s\) to "
                     r"https://cmsweb.cern.ch/dqm/offline", shown), shown  # fmt: skip
    assert all(f in shown for f in files)
