"""DQM harvesting: DQMHarvest requests (byRun, multiRun, run/lumi selection, the DQM GUI
upload recorded) and EnableHarvesting in a chain (harvesting after every merge of the
DQMIO output), planned and run on the local backend."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.condor.dagkit import wait
from tests.conftest import GEN, SAMPLE_CATALOG
from tests.unit.test_reqmgr_semantics import fixture
from wms2.condor.local.backend import LocalBackend
from wms2.config import Settings
from wms2.outputs.dqm_upload import upload_harvests
from wms2.plan_dag import plan_request
from wms2.reqmgr import RequestImportError, request_from_reqmgr
from wms2.services.catalog import OfflineCatalog
from wms2.services.dqm import DQMGUIClient
from wms2.services.errors import ServiceRequestError
from wms2.services.http import ServiceClient

DQMIO = "/JetMET0/Run2024C-ReRecoSel2024-v1/DQMIO"
BASE = "/store/data/Run2024C/JetMET0/DQMIO/ReRecoSel2024-v1/000000"
# Four files: f0 run 379415 lumis 1-10; f1 379415 11-20 and 379416 1-5; f2 379416 6-10;
# f3 379420 1-3.
LUMIS = [
    {"379415": list(range(1, 11))},
    {"379415": list(range(11, 21)), "379416": list(range(1, 6))},
    {"379416": list(range(6, 11))},
    {"379420": [1, 2, 3]},
]
F = [f"{BASE}/dqm{i}.root" for i in range(4)]


def write_dqm_catalog(root: Path) -> Path:
    """The sample catalog at `root` with the DQMIO dataset above (four files)."""
    shutil.copytree(SAMPLE_CATALOG, root)
    files = [
        {"lfn": F[i], "size": 1000 + i, "events": 100, "adler32": "00000001",
         "lumis": LUMIS[i], "replicas": ["T2_CH_CERN"]}
        for i in range(4)
    ]  # fmt: skip
    doc = {"dataset": DQMIO, "blocks": [{"name": f"{DQMIO}#b1", "files": files}]}
    (root / "datasets" / "jetmet0_dqmio.json").write_text(json.dumps(doc))
    return root


@pytest.fixture
def dqm_catalog(tmp_path: Path) -> OfflineCatalog:
    return OfflineCatalog(write_dqm_catalog(tmp_path / "catalog"), tmp_path / "catalog-state")


def harvest_doc(**change: Any) -> dict[str, Any]:
    return fixture("dqmharvest") | change


def manifests(dag_dir: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((dag_dir / "harvest").glob("*.json"))
            if not p.name.endswith((".done.json", ".tweak.json", "uploads.json"))}  # fmt: skip


def run_dag(settings: Settings, dag_file: Path, name: str) -> None:
    backend = LocalBackend(settings.state_dir, settings.local_site, 2, 0.2)
    assert wait(backend, backend.submit_dag(dag_file, name), 240).exit_code == 0


def test_dqmharvest_import_has_no_output_and_refusals() -> None:
    r = request_from_reqmgr(fixture("dqmharvest"))
    assert (r.request_type, r.output_datasets, r.input_dataset) == ("DQMHarvest", [], DQMIO)
    assert r.harvest == {
        "unit": "byRun",
        "dataset": DQMIO,
        "config_cache_id": "5e1f2a3b4c5d6e7f8a9b0c1d2e3f4a51",
        "upload_url": "https://cmsweb.cern.ch/dqm/offline",
        "sequences": [],
    }
    with pytest.raises(RequestImportError, match="DQMHarvestUnit 'byLumi' must be one of"):
        request_from_reqmgr(harvest_doc(DQMHarvestUnit="byLumi"))
    with pytest.raises(RequestImportError, match="DQMConfigCacheID is missing"):
        request_from_reqmgr(harvest_doc(DQMConfigCacheID=None))


def test_dqmharvest_by_run_with_selection_uploads_once(
    dqm_catalog: OfflineCatalog, settings: Settings
) -> None:
    # The fixture whitelists run 379415: one job, over f0 and f1, lumis 1-20.
    summary = plan_request(request_from_reqmgr(fixture("dqmharvest")), dqm_catalog,
                           dqm_catalog, settings)  # fmt: skip
    root = Path(summary.dag_dir)
    jobs = manifests(root)
    assert list(jobs) == ["harvest_R000379415"]
    job = jobs["harvest_R000379415"]
    assert (job["files"], job["lumis"], job["runs"]) == (F[:2], [[379415, 1, 20]], [379415])
    assert job["config_url"] == (
        "https://cmsweb.cern.ch/couchdb/reqmgr_config_cache/"
        "5e1f2a3b4c5d6e7f8a9b0c1d2e3f4a51/configFile"
    )
    assert summary.node_counts == {"Harvest": 1} and summary.output_datasets == []
    assert summary.work_units == 0  # its jobs are nodes; work units are merge groups
    run_dag(settings, Path(summary.dag_file), summary.request_name)
    tweak = json.loads((root / "harvest" / "harvest_R000379415.tweak.json").read_text())
    assert tweak["process.source.lumisToProcess"] == ["379415:1-379415:20"]
    assert tweak["process.dqmSaver.workflow"] == DQMIO
    dqm = root / "harvest" / "DQM_V0001_R000379415__JetMET0__Run2024C-ReRecoSel2024-v1__DQMIO.root"
    assert dqm.exists()
    sent = upload_harvests(root, dqm_catalog)
    import hashlib

    md5 = hashlib.md5(dqm.read_bytes()).hexdigest()
    url = "https://cmsweb.cern.ch/dqm/offline"
    assert dqm_catalog.recorded_dqm_uploads() == {
        f"{url}/{dqm.name}": {
            "url": url,
            "file": dqm.name,
            "checksum": f"md5:{md5}",
            "size": str(dqm.stat().st_size),
        }
    }
    assert len(sent) == 1 and upload_harvests(root, dqm_catalog) == []  # never twice

    # A lumi mask instead: run 379416 lumis 3-7 are f1's 3-5 and f2's 6-7.
    masked = harvest_doc(RequestName="dqm_masked", RunWhitelist=[],
                         LumiList={"379416": [[3, 7]]})  # fmt: skip
    summary = plan_request(request_from_reqmgr(masked), dqm_catalog, dqm_catalog, settings)
    job = manifests(Path(summary.dag_dir))["harvest_R000379416"]
    assert (job["files"], job["lumis"]) == (F[1:3], [[379416, 3, 7]])


def test_dqmharvest_by_run_and_multirun_jobs(
    dqm_catalog: OfflineCatalog, settings: Settings
) -> None:
    by_run = harvest_doc(RequestName="dqm_all_runs", RunWhitelist=[])
    summary = plan_request(request_from_reqmgr(by_run), dqm_catalog, dqm_catalog, settings)
    jobs = manifests(Path(summary.dag_dir))
    # One job per run: 379415 (f0, f1: 1-20), 379416 (f1, f2: 1-10), 379420 (f3: 1-3).
    assert {n: (j["files"], j["lumis"]) for n, j in jobs.items()} == {
        "harvest_R000379415": (F[:2], [[379415, 1, 20]]),
        "harvest_R000379416": (F[1:3], [[379416, 1, 10]]),
        "harvest_R000379420": (F[3:], [[379420, 1, 3]]),
    }
    multi = harvest_doc(RequestName="dqm_multirun", RunWhitelist=[], DQMHarvestUnit="multiRun")
    summary = plan_request(request_from_reqmgr(multi), dqm_catalog, dqm_catalog, settings)
    root = Path(summary.dag_dir)
    jobs = manifests(root)
    assert list(jobs) == ["harvest_multirun"]
    job = jobs["harvest_multirun"]
    assert job["runs"] == [379415, 379416, 379420] and job["files"] == F
    assert job["lumis"] == [[379415, 1, 20], [379416, 1, 10], [379420, 1, 3]]
    assert job["dqm_file"] == "DQM_V0001_R000999999__JetMET0__Run2024C-ReRecoSel2024-v1__DQMIO.root"
    run_dag(settings, Path(summary.dag_file), summary.request_name)
    tweak = json.loads((root / "harvest" / "harvest_multirun.tweak.json").read_text())
    assert tweak["process.dqmSaver.forceRunNumber"] == 999999
    assert tweak["process.dqmSaver.runLimits"] == "379415-379420"
    assert [u["file"] for u in upload_harvests(root, dqm_catalog)] == [job["dqm_file"]]


def test_chain_harvesting_runs_after_every_dqmio_merge(
    catalog: OfflineCatalog, settings: Settings
) -> None:
    gen = catalog.get_request(GEN)
    dqmio = gen["OutputDatasets"][0].rsplit("/", 1)[0] + "/DQMIO"
    doc = gen | {
        "RequestName": "gen_with_harvesting",
        "OutputDatasets": [*gen["OutputDatasets"], dqmio],
        "EnableHarvesting": True,
        "DQMUploadUrl": "https://cmsweb.cern.ch/dqm/relval",
        "Step1": gen["Step1"] | {"RequestNumEvents": 4000},
    }
    # Small merged files: each of the 4 jobs is a work unit of its own.
    s = settings.model_copy(update={"target_merged_size_bytes": 1, "synthetic_max_seconds": 0.05})
    summary = plan_request(request_from_reqmgr(doc), catalog, catalog, s)
    root = Path(summary.dag_dir)
    assert summary.work_units == 4 and summary.node_counts["Harvest"] == 1
    dag = (root / "workflow.dag").read_text()
    assert "PARENT mg_000000 mg_000001 mg_000002 mg_000003 CHILD harvest_R000000001" in dag
    job = manifests(root)["harvest_R000000001"]
    # It reads the 4 merged DQMIO files (generation: run 1).
    assert len(job["files"]) == 4 and all(f.endswith(".root") for f in job["files"])
    run_dag(s, Path(summary.dag_file), summary.request_name)
    events = [
        line.split() for line in (root / "workflow.dag.jobstate.log").read_text().splitlines()
    ]
    order = [(e[1], e[2]) for e in events if not e[1].startswith("***")]
    merged_ends = [
        i for i, (n, ev) in enumerate(order) if n.startswith("mg_") and ev == "JOB_TERMINATED"
    ]
    harvest_start = order.index(("harvest_R000000001", "SUBMIT"))
    assert len(merged_ends) == 4 and max(merged_ends) < harvest_start
    assert all(Path(f).exists() for f in job["files"])
    uploads = upload_harvests(root, catalog)
    assert [u["url"] for u in uploads] == ["https://cmsweb.cern.ch/dqm/relval"]
    assert uploads[0]["file"].startswith("DQM_V0001_R000000001__MinBias_TuneCP5_13p6TeV-pythia8__")


def test_dqm_gui_client_posts_what_wmcore_posts(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        code = "200" if b"good" in request.content else "400"
        return httpx.Response(200, headers={"Dqm-Status-Code": code, "Dqm-Status-Message": "x"})

    http = ServiceClient.build(
        "dqm", "https://cmsweb.cern.ch", transport=httpx.MockTransport(answer)
    )
    path = tmp_path / "DQM_V0001_R000000001__A__B__DQMIO.root"
    path.write_bytes(b"good")
    sent = DQMGUIClient(http).upload_dqm("https://cmsweb.cern.ch/dqm/dev", path)
    # md5("good") computed by hand: 755f85c2723bb39381c7379a604160d8
    assert sent["checksum"] == "md5:755f85c2723bb39381c7379a604160d8" and sent["size"] == "4"
    assert str(seen[0].url) == "https://cmsweb.cern.ch/dqm/dev/data/put"
    body = seen[0].content
    assert b'name="checksum"' in body and b'name="file"; filename="' + path.name.encode() in body
    path.write_bytes(b"bad")
    with pytest.raises(ServiceRequestError, match="refused \\(400\\)"):
        DQMGUIClient(http).upload_dqm("https://cmsweb.cern.ch/dqm/dev", path)
