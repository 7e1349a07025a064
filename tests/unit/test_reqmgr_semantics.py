"""Real ReqMgr2 shapes read the way WMCore means them (fixtures written by us, following
WMCore's argument definitions: StdBase, StepChain, TaskChain, ReReco)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from wms2.models import SplittingAlgo
from wms2.reqmgr import RequestImportError, request_from_reqmgr
from wms2.reqmgr.arguments import FIELD_NAMES, FIELDS
from wms2.reqmgr.splitting import events_per_job_and_lumi

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "reqmgr"
PU = "/Neutrino_E-10_gun/Run3Summer21PrePremix-Summer23_130X_mcRun3_2023_realistic_v13-v1/PREMIX"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def test_stepchain_with_per_stepname_values() -> None:
    r = request_from_reqmgr(fixture("stepchain_gen_premix"))
    assert r.requestor == "unknown" and r.requestor_dn is None  # empty in the stored dump
    assert [s.name for s in r.steps] == ["GENSIM", "DIGIPremix", "RECO"]
    assert [s.scram_arch for s in r.steps] == ["el8_amd64_gcc11", "el8_amd64_gcc12"] * 1 + [
        "el8_amd64_gcc12"
    ]
    assert [s.cmssw_version for s in r.steps] == ["CMSSW_13_0_14", "CMSSW_13_0_17", "CMSSW_13_0_17"]
    assert [s.acquisition_era for s in r.steps] == [
        "Run3Summer23wmLHEGS",
        "Run3Summer23DRPremix",
        "Run3Summer23DRPremix",
    ]
    assert [s.processing_version for s in r.steps] == [1, 2, 2]
    gensim, aodsim = r.output_datasets
    assert r.output_step(gensim).name == "GENSIM" and r.output_step(aodsim).name == "RECO"
    assert r.steps[1].pileup_dataset == PU and r.steps[1].pileup_type == "mc"
    # A StepChain has one Memory and one TimePerEvent for its job, the top-level numbers
    # (WMCore's StepChain); its cores are the most any step uses (Step1 2, Step2 4, top 8).
    assert [s.multicore for s in r.steps] == [2, 4, 8]
    assert (r.memory_mb, r.multicore, r.time_per_event_sec) == (12000, 8, 13.0)
    # Generation: EventBased; 50000 events kept at 25% efficiency means 200000 generated;
    # EventsPerJob fills WMCore's 12 h target job length, EventsPerLumi defaults to it:
    # int(43200 s / 13.0 s) = 3323.
    assert r.splitting_algo is SplittingAlgo.EVENT_BASED
    per_job = 3323
    assert r.splitting_params == {
        "request_num_events": 200000,
        "first_event": 1,
        "first_lumi": 1,
        "events_per_job": per_job,
        "events_per_lumi": per_job,
    }
    assert r.merged_lfn_base == "/store/backfill/1" and r.unmerged_lfn_base == "/store/unmerged"


def test_taskchain_with_per_taskname_values_and_task_splitting() -> None:
    r = request_from_reqmgr(fixture("taskchain_rehlt"))
    assert [s.name for s in r.steps] == ["HLTD", "RECODreHLT"]
    assert [s.global_tag for s in r.steps] == ["140X_dataRun3_HLT_v3", "140X_dataRun3_v17"]
    assert [s.processing_string for s in r.steps] == ["HLTD_ReHLT2024", "RECODreHLT_ReHLT2024"]
    raw, aod = r.output_datasets
    assert r.output_step(raw).name == "HLTD" and r.output_step(aod).name == "RECODreHLT"
    # One job runs both tasks: memory and cores of the larger task (HLTD 2400 MB from the
    # top level, RECODreHLT 3000 MB and 4 cores); time per event HLTD's (top-level 0.8 s)
    # plus RECODreHLT's own 2.5 s times the events reaching it (HLTD keeps all): 3.3 s.
    assert [s.time_per_event_sec for s in r.steps] == [0.8, 2.5]
    assert (r.memory_mb, r.multicore) == (3000, 4)
    assert r.time_per_event_sec == pytest.approx(0.8 + 1.0 * 2.5)
    assert r.splitting_algo is SplittingAlgo.LUMI_BASED
    assert r.splitting_params == {
        "lumis_per_job": 4,
        "run_whitelist": [379415],
        "lumi_mask": {"379415": [[1, 30], [45, 60]]},
    }


def test_rereco_selection_and_absent_splitting() -> None:
    r = request_from_reqmgr(fixture("rereco_selection"))
    assert r.splitting_algo is SplittingAlgo.EVENT_AWARE_LUMI  # absent: WMCore's default
    assert r.splitting_params == {
        "events_per_job": 12 * 3600 // 3,
        "run_whitelist": [379415, 379416],
        "run_blacklist": [379416],
        "lumi_mask": {"379415": [[1, 100]], "379416": [[1, 60]]},
    }
    assert r.merged_lfn_base == "/store/data" and r.trust_sitelists is False
    assert r.steps[0].name == "cmsRun1" and r.steps[0].output_datasets == r.output_datasets


@pytest.mark.parametrize(
    ("per_job", "per_lumi", "tpe", "requested", "expected"),
    [
        (None, None, 12.0, None, (3600, 3600)),
        (1000, 300, 1.0, None, (900, 300)),  # a multiple of EventsPerLumi
        (1000, 2000, 1.0, None, (1000, 1000)),  # EventsPerLumi never above EventsPerJob
        (None, 100, 1.0, 5000, (5000, 100)),  # never above RequestNumEvents
        (None, None, 100000.0, None, (1, 1)),
    ],
)
def test_events_per_job_and_lumi_as_wmcore(
    per_job: int | None,
    per_lumi: int | None,
    tpe: float,
    requested: int | None,
    expected: tuple[int, int],
) -> None:
    assert events_per_job_and_lumi(per_job, per_lumi, tpe, requested) == expected


def test_empty_values_mean_not_set() -> None:
    doc = fixture("rereco_selection")
    doc.update(RunBlacklist=[], LumiList={}, BlockWhitelist=None, Group="", MergedLFNBase="")
    doc.update(SplittingAlgo="", EventsPerJob=None, TimePerEvent=None, Memory=None)
    r = request_from_reqmgr(doc)
    assert r.group == "DATAOPS" and r.merged_lfn_base == "/store/data"
    assert r.memory_mb == 2300 and r.time_per_event_sec == 12.0  # WMCore's defaults
    assert r.splitting_params == {
        "events_per_job": 3600,
        "run_whitelist": [379415, 379416],
    }


def test_a_plain_value_or_a_dict_by_stepname() -> None:
    doc = fixture("stepchain_gen_premix")
    doc["ProcessingVersion"] = 7
    r = request_from_reqmgr(doc)
    assert [s.processing_version for s in r.steps] == [7, 7, 7]
    doc = fixture("stepchain_gen_premix")
    doc["Step3"]["ProcessingString"] = "Own_v14"  # the step's own value wins
    doc["OutputDatasets"][1] = doc["OutputDatasets"][1].replace(
        "130X_mcRun3_2023_realistic_v14", "Own_v14"
    )
    doc.pop("ChainParentageMap")
    r = request_from_reqmgr(doc)
    assert r.steps[2].processing_string == "Own_v14"
    assert r.output_step(doc["OutputDatasets"][1]).name == "RECO"


def _set(path: str, value: Any) -> Any:
    def mutate(doc: dict[str, Any]) -> None:
        *keys, last = path.split(".")
        target = doc
        for k in keys:
            target = target[k]
        if value is _DROP:
            target.pop(last)
        else:
            target[last] = value

    return mutate


_DROP = object()


@pytest.mark.parametrize(
    ("name", "mutate", "message"),
    [
        (
            "rereco_selection",
            _set("RunWhitelist", ["abc"]),
            "RunWhitelist 'abc' is not a run number",
        ),
        ("rereco_selection", _set("RunBlacklist", [0]), "RunBlacklist 0 is not a run number"),
        ("rereco_selection", _set("LumiList", {"x": [[1, 2]]}), "LumiList run 'x' is not a run"),
        (
            "rereco_selection",
            _set("LumiList", {"379415": [[50, 10]]}),
            "LumiList run 379415: lumi range [50, 10] is reversed",
        ),
        (
            "rereco_selection",
            _set("BlockWhitelist", ["notablock"]),
            "BlockWhitelist 'notablock' is not a block name",
        ),
        (
            "rereco_selection",
            _set("BlockBlacklist", ["/Other/Run2024C-v1/RAW#abc"]),
            "is not a block of the input dataset /JetMET0/Run2024C-v1/RAW",
        ),
        ("rereco_selection", _set("InputDataset", _DROP), "InputDataset is missing (ReReco"),
        ("rereco_selection", _set("OpenRunningTimeout", 3600), "OpenRunningTimeout 3600"),
        ("rereco_selection", _set("RequiresGPU", "required"), "RequiresGPU 'required'"),
        (
            "stepchain_gen_premix",
            _set("Step1.IncludeParents", True),
            "IncludeParents is true but there is no input",
        ),
        ("rereco_selection", _set("MergedLFNBase", "/store/../etc"), "merged_lfn_base"),
        ("rereco_selection", _set("SplittingAlgo", "Harvest"), "SplittingAlgo 'Harvest'"),
        (
            "stepchain_gen_premix",
            _set("AcquisitionEra", {"GENSIM": "A", "Step2": "B", "RECO": "C"}),
            "AcquisitionEra is given per step but has no value for 'DIGIPremix'",
        ),
        (
            "stepchain_gen_premix",
            _set("Step1.RunWhitelist", [1]),
            "run_whitelist select input data but there is no input",
        ),
        ("stepchain_gen_premix", _set("Step1.RequestNumEvents", _DROP), "RequestNumEvents is"),
        ("stepchain_gen_premix", _set("Step2.StepName", _DROP), "Step2.StepName is missing"),
        ("stepchain_gen_premix", _set("Step1.FilterEfficiency", 0), "FilterEfficiency (step"),
        (
            "taskchain_rehlt",
            _set("Memory", {"HLTD": "x", "RECODreHLT": 2}),
            "Memory (task HLTD) 'x' is not a number",
        ),
        ("taskchain_rehlt", _set("Task2.ScramArch", 5), "ScramArch (task RECODreHLT) 5"),
        (
            "taskchain_rehlt",
            _set("OutputDatasets", ["/JetMET0/Run2024C-Unknown-v3/AOD"]),
            "OutputDatasets '/JetMET0/Run2024C-Unknown-v3/AOD' matches no step",
        ),
    ],
)
def test_malformed_forms_are_one_line_errors_naming_field_and_value(
    name: str, mutate: Any, message: str
) -> None:
    doc = copy.deepcopy(fixture(name))
    mutate(doc)
    with pytest.raises(RequestImportError, match=re.escape(message)) as exc:
        request_from_reqmgr(doc)
    assert "\n" not in str(exc.value)


def test_the_readme_lists_every_field_with_its_treatment() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for f in FIELDS:
        assert f"| `{f.name}` | {f.treatment} |" in readme, f.name


def test_every_field_of_the_fixtures_is_known_or_bookkeeping() -> None:
    """No argument that selects data or places jobs reaches WMS2 unread: every field of
    the fixtures is in the table, or bookkeeping WMS2 has no use for."""
    bookkeeping = {
        "_id",
        "RequestString",
        "RequestTransition",
        "PriorityTransition",
        "RequestDate",
        "Team",
        "Dashboard",
        "DashboardHost",
        "DashboardPort",
        "DbsUrl",
        "CouchURL",
        "CouchWorkloadDBName",
        "CustodialSites",
        "NonCustodialSites",
        "SubscriptionPriority",
        "DeleteFromSource",
        "BlockCloseMaxEvents",
        "BlockCloseMaxFiles",
        "BlockCloseMaxSize",
        "BlockCloseMaxWaitTime",
        "DQMConfigCacheID",
        "DQMHarvestUnit",
        "DQMSequences",
        "DQMUploadProxy",
        "DQMUploadUrl",
        "EnableNewStageout",
        "GlobalTagConnect",
        "GracePeriod",
        "HardTimeout",
        "SoftTimeout",
        "MaxMergeEvents",
        "MaxMergeSize",
        "MaxWaitTime",
        "MinMergeSize",
        "Override",
        "OverrideCatalog",
        "PeriodicHarvestInterval",
        "RobustMerge",
        "RunNumber",
        "SubRequestType",
        "ValidStatus",
        "VoGroup",
        "VoRole",
        "PrepID",
        "Seeding",
        "InputFromOutputModule",
        "ParentageResolved",
        "Scenario",
        "TransientOutputModules",
    }
    for name in (
        "stepchain_gen_premix",
        "taskchain_rehlt",
        "rereco_selection",
        "stepchain_include_parents",
    ):
        doc = fixture(name)
        keys = set(doc) | {
            k
            for v in doc.values()
            if isinstance(v, dict) and ("StepName" in v or "TaskName" in v)
            for k in v
        }
        keys -= {k for k in keys if re.fullmatch(r"(Step|Task)\d+", k)}
        unknown = keys - FIELD_NAMES - bookkeeping
        assert not unknown, (name, unknown)
