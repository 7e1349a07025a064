"""The fixtures' requests planned against the sample catalog: the files, lumis, runs,
sites, resources and LFNs of the plan are what the ReqMgr2 arguments say."""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_reqmgr_semantics import PU, fixture
from wms2.config import Settings
from wms2.plan_dag import PlanSummary, plan_request
from wms2.planning.inputs import InputOnTape
from wms2.planning.splitting import SplittingError
from wms2.reqmgr import request_from_reqmgr
from wms2.services.catalog import OfflineCatalog


def nodes(summary: PlanSummary) -> list[dict[str, Any]]:
    root = Path(summary.dag_dir)
    found = []
    for g in range(summary.work_units):
        m = json.loads((root / f"mg_{g:06d}" / "group_manifest.json").read_text())
        found += [{**n, "outputs": m["outputs"]} for n in m["nodes"].values()]
    return found


def sandbox(summary: PlanSummary) -> dict[str, Any]:
    with tarfile.open(Path(summary.dag_dir) / "sandbox.tar.gz") as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        return json.loads(member.read())


def submit_value(summary: PlanSummary, key: str) -> str:
    text = (Path(summary.dag_dir) / "processing.sub").read_text()
    found = re.search(rf"^{key} = (.*)$", text, re.M)
    assert found is not None
    return found.group(1)


def test_rereco_selection_plans_only_the_selected_lumis_where_the_data_is(
    catalog: OfflineCatalog, settings: Settings
) -> None:
    summary = plan_request(
        request_from_reqmgr(fixture("rereco_selection")), catalog, catalog, settings
    )
    planned = nodes(summary)
    lumis = sorted(
        (run, lumi) for n in planned for run, a, b in n["lumis"] for lumi in range(a, b + 1)
    )
    # RunWhitelist 379415+379416, RunBlacklist 379416, LumiList 379415:1-100.
    assert lumis == [(379415, lumi) for lumi in range(1, 101)]
    # Each job runs where every one of its files has a disk replica, inside the whitelist
    # (FNAL, T0, CNAF which holds it on tape only, CSCS which has none).
    for n in planned:
        disk = set.intersection(*(set(catalog.replicas([f])[f]) for f in n["files"]))
        assert n["sites"] == sorted(disk & {"T1_US_FNAL", "T0_CH_CERN"}) != []
    # EventsPerJob absent: 12 h of TimePerEvent 3 s.
    assert max(n["events"] for n in planned) <= 14400
    assert submit_value(summary, "request_cpus") == "8"
    assert submit_value(summary, "request_memory") == "15900"
    lfn = planned[0]["outputs"][0]["lfn"]
    assert lfn.startswith("/store/data/Run2024C/JetMET0/AOD/ReRecoSel2024-v1/000000/")


def test_block_lists_select_files(catalog: OfflineCatalog, settings: Settings) -> None:
    doc = fixture("rereco_selection")
    doc.update(RunBlacklist=[], LumiList={})
    doc["BlockBlacklist"] = ["/JetMET0/Run2024C-v1/RAW#c9196890-0000"]
    planned = nodes(plan_request(request_from_reqmgr(doc), catalog, catalog, settings))
    runs = {run for n in planned for run, _, _ in n["lumis"]}
    assert runs == {379416}  # block 0000 holds run 379415
    doc["BlockBlacklist"] = []
    doc["BlockWhitelist"] = ["/JetMET0/Run2024C-v1/RAW#c9196890-0000"]
    planned = nodes(plan_request(request_from_reqmgr(doc), catalog, catalog, settings))
    assert {run for n in planned for run, _, _ in n["lumis"]} == {379415}
    doc["BlockWhitelist"] = ["/JetMET0/Run2024C-v1/RAW#nosuchblock"]
    with pytest.raises(SplittingError, match=r"BlockWhitelist names 1 block\(s\) .* does not have"):
        plan_request(request_from_reqmgr(doc), catalog, catalog, settings)


def test_locality_without_and_with_trust_sitelists(
    catalog: OfflineCatalog, settings: Settings
) -> None:
    doc = fixture("rereco_selection")
    doc["SiteWhitelist"] = ["T1_IT_CNAF", "T2_CH_CSCS"]  # CNAF holds it on tape only
    with pytest.raises(
        SplittingError,
        match=r"have no site to run at: \S+ \(block\(s\) /JetMET0/Run2024C-v1/RAW#\S+\) is on "
        r"disk at .*, outside the site lists "
        r"\(whitelist T1_IT_CNAF, T2_CH_CSCS",
    ):
        plan_request(request_from_reqmgr(doc), catalog, catalog, settings)
    doc["TrustSitelists"] = True  # read remotely from anywhere in the whitelist
    planned = nodes(plan_request(request_from_reqmgr(doc), catalog, catalog, settings))
    assert {tuple(n["sites"]) for n in planned} == {("T1_IT_CNAF", "T2_CH_CSCS")}


def test_taskchain_task_splitting_and_mask(catalog: OfflineCatalog, settings: Settings) -> None:
    summary = plan_request(
        request_from_reqmgr(fixture("taskchain_rehlt")), catalog, catalog, settings
    )
    planned = nodes(summary)
    per_job = [sum(b - a + 1 for _, a, b in n["lumis"]) for n in planned]
    assert sum(per_job) == 30 + 16 and max(per_job) == 4  # LumisPerJob 4 of Task1
    for n in planned:
        disk = set.intersection(*(set(catalog.replicas([f])[f]) for f in n["files"]))
        assert n["sites"] == sorted(disk & {"T1_US_FNAL", "T0_CH_CERN"}) != []
    assert submit_value(summary, "request_memory") == "3000"  # Task2's own Memory
    assert submit_value(summary, "request_cpus") == "4"
    steps = sandbox(summary)["steps"]
    assert [(s["name"], s["global_tag"]) for s in steps] == [
        ("HLTD", "140X_dataRun3_HLT_v3"),
        ("RECODreHLT", "140X_dataRun3_v17"),
    ]
    raw, aod = (o["lfn"] for o in planned[0]["outputs"])
    assert raw.startswith("/store/data/Run2024C/JetMET0/RAW/HLTD_ReHLT2024-v3/")
    assert aod.startswith("/store/data/Run2024C/JetMET0/AOD/RECODreHLT_ReHLT2024-v3/")


def test_stepchain_generation_with_pileup(catalog: OfflineCatalog, settings: Settings) -> None:
    summary = plan_request(
        request_from_reqmgr(fixture("stepchain_gen_premix")), catalog, catalog, settings
    )
    planned = nodes(summary)
    assert sum(n["events"] for n in planned) == 200000  # 50000 kept at 25%
    assert max(n["events"] for n in planned) == int(12 * 3600 / 13.0)
    # The pileup is complete at FNAL, CERN and DESY; Wisconsin holds half of it.
    assert {tuple(n["sites"]) for n in planned} == {("T1_US_FNAL", "T2_CH_CERN")}
    manifest = sandbox(summary)
    (pileup,) = manifest["pileup"]
    assert pileup["dataset"] == PU and pileup["step"] == "DIGIPremix" and pileup["type"] == "mc"
    assert len(pileup["files"]) == 20
    assert pileup["sites"] == ["T1_US_FNAL", "T2_CH_CERN", "T2_DE_DESY"]
    # Each step its own release and architecture, a name (never a list).
    assert [(s["cmssw_version"], s["scram_arch"]) for s in manifest["steps"]] == [
        ("CMSSW_13_0_14", "el8_amd64_gcc11"),
        ("CMSSW_13_0_17", "el8_amd64_gcc12"),
        ("CMSSW_13_0_17", "el8_amd64_gcc12"),
    ]
    assert manifest["steps"][0]["config_url"] == (
        "https://cmsweb.cern.ch/couchdb/reqmgr_config_cache/"
        "7a3c0f8e2b1d4e6f9a0b1c2d3e4f5a61/configFile"
    )
    assert submit_value(summary, "request_cpus") == "8"
    assert submit_value(summary, "request_memory") == "12000"
    gensim, aodsim = (o["lfn"] for o in planned[0]["outputs"])
    assert gensim.startswith(
        "/store/backfill/1/Run3Summer23wmLHEGS/TTbarToHad_TuneCP5_13p6TeV_powheg-pythia8/"
        "GEN-SIM/130X_mcRun3_2023_realistic_v14-v1/"
    )
    assert "/AODSIM/130X_mcRun3_2023_realistic_v14-v2/" in aodsim


def test_pileup_nowhere_complete_is_a_clear_error(
    catalog: OfflineCatalog, settings: Settings
) -> None:
    doc = fixture("stepchain_gen_premix")
    doc["SiteWhitelist"] = ["T2_US_Wisconsin"]
    with pytest.raises(SplittingError, match="have no site to run at"):
        plan_request(request_from_reqmgr(doc), catalog, catalog, settings)
    doc["TrustPUSitelists"] = True  # pileup read remotely: Wisconsin will do
    planned = nodes(plan_request(request_from_reqmgr(doc), catalog, catalog, settings))
    assert {tuple(n["sites"]) for n in planned} == {("T2_US_Wisconsin",)}


def test_include_parents_hands_each_job_its_files_parents(
    catalog: OfflineCatalog, settings: Settings
) -> None:
    request = request_from_reqmgr(fixture("stepchain_include_parents"))
    assert request.splitting_params["include_parents"] is True  # from Step1
    planned = nodes(plan_request(request, catalog, catalog, settings))
    parents = catalog.file_parents([f for n in planned for f in n["files"]])
    for n in planned:
        assert n["parents"] == [p for f in n["files"] for p in parents[f]]
        assert all(p.startswith("/store/data/Run2024C/JetMET0/RAW/") for p in n["parents"])
    assert len({f for n in planned for f in n["files"]}) == 20


def test_include_parents_without_parents_is_refused(
    catalog: OfflineCatalog, settings: Settings
) -> None:
    doc = fixture("stepchain_include_parents")
    doc["Step1"]["InputDataset"] = "/JetMET0/Run2024C-v1/RAW"  # RAW has no parents
    doc["Step1"]["SplittingAlgo"] = "FileBased"
    with pytest.raises(SplittingError, match=r"IncludeParents is true but 120 input file\(s\) "):
        plan_request(request_from_reqmgr(doc), catalog, catalog, settings)


def test_input_on_tape_only_is_staged_first_or_refused(
    catalog: OfflineCatalog, settings: Settings
) -> None:
    request = request_from_reqmgr(fixture("rereco_from_tape"))
    with pytest.raises(InputOnTape, match=r"12 input file\(s\) in 1 block\(s\) are on tape only"):
        plan_request(request, catalog, catalog, settings)
    off = settings.model_copy(update={"stage_tape_input": False})
    with pytest.raises(SplittingError, match="staging is switched off") as exc:
        plan_request(request, catalog, catalog, off)
    assert not isinstance(exc.value, InputOnTape)
    # Once a rule brought the block to FNAL's disk, the request plans there.
    block = "/JetMET0/Run2023D-v1/RAW#7a9e0001-tape"
    rule = catalog.create_rule([block], "T1_US_FNAL_Disk")
    catalog.get_rule(rule)
    catalog.get_rule(rule)  # OK after two polls
    planned = nodes(plan_request(request, catalog, catalog, settings))
    assert {tuple(n["sites"]) for n in planned} == {("T1_US_FNAL",)}


def test_an_empty_input_dataset_says_so(tmp_path: Path, settings: Settings) -> None:
    doc = fixture("rereco_selection")
    (tmp_path / "cat" / "datasets").mkdir(parents=True)
    (tmp_path / "cat" / "datasets" / "empty.json").write_text(
        json.dumps({"dataset": "/JetMET0/Run2024C-v1/RAW", "blocks": []})
    )
    empty = OfflineCatalog(tmp_path / "cat", tmp_path / "state")
    doc.update(RunWhitelist=[], RunBlacklist=[], LumiList={})
    with pytest.raises(SplittingError, match=r"^input dataset /JetMET0/Run2024C-v1/RAW has no"):
        plan_request(request_from_reqmgr(doc), empty, empty, settings)


def test_each_output_is_as_large_as_the_step_that_writes_it(
    catalog: OfflineCatalog, settings: Settings
) -> None:
    doc = fixture("stepchain_gen_premix")
    doc["SizePerEvent"] = {"GENSIM": 1000.0, "DIGIPremix": 3000.0, "RECO": 400.0}
    request = request_from_reqmgr(doc)
    gensim, aodsim = request.output_datasets
    # GENSIM keeps 1 event in 4: GEN-SIM is 1000 kB * 0.25 per generated event; AODSIM is
    # written by RECO from the same kept events.
    assert request.output_size_per_event_kb(gensim) == 250.0
    assert request.output_size_per_event_kb(aodsim) == 100.0
    assert request.size_per_event_kb == 250.0
    outputs = sandbox(plan_request(request, catalog, catalog, settings))["outputs"]
    assert [o["size_per_event_kb"] for o in outputs] == [250.0, 100.0]
