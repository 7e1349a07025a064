"""DeterministicPileup and LheInputFiles: what every job's tweak files say, from running
the real payload wrapper (cmssw mode, no /cvmfs) on each planned job."""

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
from wms2.services.protocols import FileQuery


def run_all_jobs(
    catalog: OfflineCatalog, settings: Settings, doc: dict[str, Any], tmp: Path
) -> dict[str, dict[str, Any]]:
    """Plan `doc` in cmssw mode, run every job's payload: node -> {"tweaks", "script"}."""
    cmssw = settings.model_copy(update={"payload_mode": "cmssw", "synthetic_max_seconds": 0.0})
    root = Path(plan_request(request_from_reqmgr(doc), catalog, catalog, cmssw).dag_dir)
    jobs: dict[str, dict[str, Any]] = {}
    for group in sorted(root.glob("mg_*")):
        manifest = json.loads((group / "group_manifest.json").read_text())
        for node in sorted(manifest["nodes"]):
            scratch = tmp / node
            scratch.mkdir(parents=True)
            shutil.copy(root / "sandbox.tar.gz", scratch)
            shutil.copy(group / "group_manifest.json", scratch)
            args = ["--node", node, "--manifest", "group_manifest.json"]
            res = run(root / "bin" / "wms2_payload.py", *args, "--sandbox", "sandbox.tar.gz",
                      cwd=scratch)  # fmt: skip
            assert res.returncode == 0, res.stderr
            jobs[node] = {
                "tweaks": [
                    json.loads((scratch / f"tweak_step{i}.json").read_text()) for i in (1, 2, 3)
                ],
                "script": (scratch / f"{node}.cmssw.sh").read_text(),
            }
    return jobs


def premix_doc(generated: int, per_job: int, **top: Any) -> dict[str, Any]:
    """The premix StepChain generating `generated` events (FilterEfficiency 0.25)."""
    doc = fixture("stepchain_gen_premix") | top
    doc["Step1"] = doc["Step1"] | {"RequestNumEvents": generated // 4, "EventsPerJob": per_job}
    return doc


def test_deterministic_pileup_slices_are_disjoint_and_reproducible(
    catalog: OfflineCatalog, settings: Settings, tmp_path: Path
) -> None:
    # 5000 kept at 25% = 20000 generated, 5000 per job: 4 jobs. The PREMIX dataset has
    # 20 files of 1200 events = 24000. Job k skips k x 5000 pileup events (WMCore:
    # (nJobs - 1) x eventsPerJob): 0, 5000, 10000, 15000, and reads its 5000 from there.
    doc = premix_doc(20000, 5000, DeterministicPileup=True)
    jobs = run_all_jobs(catalog, settings, doc, tmp_path / "a")
    files = [f.lfn for f in catalog.list_files(FileQuery(PU))]
    digi = {n: j["tweaks"][1] for n, j in jobs.items()}
    assert [d["process.mixData.input.skipEvents"] for d in digi.values()] == [
        0,
        5000,
        10000,
        15000,
    ]
    for d in digi.values():  # every job reads the same files in the same order
        assert d["process.mixData.input.fileNames"] == files
        assert d["process.mixData.input.sequential"] is True
    slices = [
        range(d["process.mixData.input.skipEvents"], d["process.mixData.input.skipEvents"] + j)
        for d, j in zip(digi.values(), [5000] * 4, strict=True)
    ]
    assert all(set(a).isdisjoint(b) for i, a in enumerate(slices) for b in slices[i + 1 :])
    # The GENSIM and RECO steps mix nothing; a request without it gets no slices.
    assert all("process.mixData.input.skipEvents" not in j["tweaks"][2] for j in jobs.values())
    plain = run_all_jobs(catalog, settings, premix_doc(20000, 5000), tmp_path / "b")
    assert all("process.mixData.input.skipEvents" not in j["tweaks"][1] for j in plain.values())
    # Planned again, every job gets the same slice.
    again = run_all_jobs(catalog, settings, doc, tmp_path / "c")
    assert {n: j["tweaks"][1] for n, j in again.items()} == digi


def test_deterministic_pileup_wraps_at_the_pileups_events(
    catalog: OfflineCatalog, settings: Settings, tmp_path: Path
) -> None:
    # 30000 generated, 6000 per job: 5 jobs skipping 0, 6000, 12000, 18000 and
    # 24000 % 24000 = 0 (WMCore: skipPileupEvents modulo the events available).
    jobs = run_all_jobs(
        catalog, settings, premix_doc(30000, 6000, DeterministicPileup="True"), tmp_path
    )
    assert [j["tweaks"][1]["process.mixData.input.skipEvents"] for j in jobs.values()] == [
        0,
        6000,
        12000,
        18000,
        0,
    ]


def test_lhe_input_jobs_skip_the_events_before_theirs(
    catalog: OfflineCatalog, settings: Settings, tmp_path: Path
) -> None:
    # FirstEvent 101, 3000 events per job, 8000 generated (2000 kept at 25%): jobs of 3000,
    # 3000, 2000 events starting at events 101, 3101, 6101. WMCore's makeJobTweak for an
    # LHE job: no firstEvent, skipEvents = FirstEvent - 1 = 100, 3100, 6100.
    doc = premix_doc(8000, 3000, FirstEvent=101)
    doc["Step1"] = doc["Step1"] | {"LheInputFiles": True, "EventsPerLumi": 1000}
    jobs = run_all_jobs(catalog, settings, doc, tmp_path / "lhe")
    first = [j["tweaks"][0] for j in jobs.values()]
    assert [t["process.source.skipEvents"] for t in first] == [100, 3100, 6100]
    assert [t["process.maxEvents.input"] for t in first] == [3000, 3000, 2000]
    # Lumis of 1000 events: job 1 lumis 1-3, job 2 4-6, job 3 7-8.
    assert [t["process.source.firstLuminosityBlock"] for t in first] == [1, 4, 7]
    assert all("process.source.firstEvent" not in t for t in first)
    for j in jobs.values():
        step1 = j["script"].split("# step 2")[0]
        assert "cmssw_enable_lazy_download.py --input_pkl PSet.pkl --output_pkl PSet.pkl" in step1
    # Without LheInputFiles: firstEvent 101, 3101, 6101 and no skipEvents.
    plain = run_all_jobs(
        catalog, settings, premix_doc(8000, 3000, FirstEvent=101), tmp_path / "plain"
    )
    first = [j["tweaks"][0] for j in plain.values()]
    assert [t["process.source.firstEvent"] for t in first] == [101, 3101, 6101]
    assert all("process.source.skipEvents" not in t for t in first)
    assert all("lazy_download" not in j["script"] for j in plain.values())
