"""cmssw payload mode: the per-job tweak files and the commands a job would run, checked
without /cvmfs by running the real payload wrapper on planned nodes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.unit.test_node_scripts import run
from tests.unit.test_reqmgr_semantics import PU, fixture
from wms2.config import Settings
from wms2.plan_dag import plan_request
from wms2.reqmgr import request_from_reqmgr
from wms2.services.catalog import OfflineCatalog


def run_job(
    catalog: OfflineCatalog, settings: Settings, name: str, tmp: Path
) -> tuple[dict[str, Any], Path]:
    """Plan fixture `name` in cmssw mode and run its first job: (node spec, scratch)."""
    cmssw = settings.model_copy(update={"payload_mode": "cmssw", "synthetic_max_seconds": 0.0})
    summary = plan_request(request_from_reqmgr(fixture(name)), catalog, catalog, cmssw)
    root = Path(summary.dag_dir)
    manifest = json.loads((root / "mg_000000" / "group_manifest.json").read_text())
    node = sorted(manifest["nodes"])[0]
    scratch = tmp / "scratch"
    scratch.mkdir()
    shutil.copy(root / "sandbox.tar.gz", scratch)
    shutil.copy(root / "mg_000000" / "group_manifest.json", scratch)
    res = run(
        root / "bin" / "wms2_payload.py",
        "--node",
        node,
        "--manifest",
        "group_manifest.json",
        "--sandbox",
        "sandbox.tar.gz",
        cwd=scratch,
    )
    assert res.returncode == 0, res.stderr
    assert "/cvmfs is not mounted" in res.stderr  # so it ran the synthetic payload
    return manifest["nodes"][node] | {"name": node}, scratch


def tweak(scratch: Path, step: int) -> dict[str, Any]:
    return json.loads((scratch / f"tweak_step{step}.json").read_text())


def test_generation_with_premix_pileup(
    catalog: OfflineCatalog, settings: Settings, tmp_path: Path
) -> None:
    node, scratch = run_job(catalog, settings, "stepchain_gen_premix", tmp_path)
    assert tweak(scratch, 1) == {
        "process.maxEvents.input": node["events"],
        "process.source.firstRun": 1,
        "process.source.firstLuminosityBlock": 1,
        "process.source.firstEvent": 1,
        "process.source.numberEventsInLuminosityBlock": node["events"],
        "process.options.numberOfThreads": 2,
    }
    pileup = catalog.list_files(
        __import__("wms2.services.protocols").services.protocols.FileQuery(PU)
    )
    assert tweak(scratch, 2) == {
        "process.source.fileNames": ["file:../step1/RAWSIMoutput.root"],
        "process.maxEvents.input": -1,
        "process.mixData.input.fileNames": [f.lfn for f in pileup],
        "process.options.numberOfThreads": 4,
    }
    assert tweak(scratch, 3)["process.source.fileNames"] == ["file:../step2/PREMIXRAWoutput.root"]
    script = (scratch / f"{node['name']}.cmssw.sh").read_text()
    # Each step with its own architecture and release, its real configuration, its tweak.
    assert script.count("export SCRAM_ARCH=el8_amd64_gcc11") == 1
    assert script.count("export SCRAM_ARCH=el8_amd64_gcc12") == 2
    assert "[ -d CMSSW_13_0_17 ] || scram project CMSSW_13_0_17" in script
    assert (
        "-o cfg.py https://cmsweb.cern.ch/couchdb/reqmgr_config_cache/"
        "7a3c0f8e2b1d4e6f9a0b1c2d3e4f5a63/configFile" in script
    )
    assert (
        "edm_pset_tweak.py --input_pkl PSet.pkl --output_pkl PSet.pkl --json ../tweak_step3.json"
        in script
    )
    assert f"cmsRun -j ../{node['name']}.step3.fjr.xml PSet.py" in script
    assert "[" not in script.split("SCRAM_ARCH=")[1].split("\n")[0]  # never a Python list


def test_input_lumis_and_parents(
    catalog: OfflineCatalog, settings: Settings, tmp_path: Path
) -> None:
    node, scratch = run_job(catalog, settings, "stepchain_include_parents", tmp_path)
    first = tweak(scratch, 1)
    assert first["process.source.fileNames"] == node["files"]
    assert first["process.source.secondaryFileNames"] == node["parents"] != []
    assert first["process.maxEvents.input"] == -1
    assert first["process.source.lumisToProcess"] == [
        f"{run}:{a}-{run}:{b}" for run, a, b in node["lumis"]
    ]
