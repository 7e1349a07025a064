from __future__ import annotations

import copy
import re

import pytest

from tests.conftest import GEN, RERECO, STEPCHAIN, TASKCHAIN
from wms2.models import SplittingAlgo
from wms2.reqmgr import RequestImportError, request_from_reqmgr
from wms2.services.catalog import OfflineCatalog


def test_stepchain(catalog: OfflineCatalog) -> None:
    r = request_from_reqmgr(catalog.get_request(STEPCHAIN), STEPCHAIN)
    assert r.input_dataset.endswith("/GEN-SIM")
    assert r.secondary_input_dataset.endswith("/PREMIX")
    assert r.splitting_algo is SplittingAlgo.EVENT_AWARE_LUMI
    assert r.splitting_params == {"events_per_job": 2000}
    assert r.scram_arch == "el8_amd64_gcc11" and r.multicore == 8 and r.memory_mb == 15900
    assert r.time_per_event_sec == 9.5 and r.size_per_event_kb == 500.0
    assert r.acquisition_era == "Run3Summer23DRPremix" and r.priority == 110000
    assert [s.acquisition_era for s in r.steps] == [
        "Run3Summer23DRPremix",
        "Run3Summer23DRPremix",
        "Run3Summer23MiniAODv4",
    ]
    # Each output belongs to the step whose era, processing string and version name it.
    assert [s.output_datasets for s in r.steps] == [
        [],
        r.output_datasets[:1],
        r.output_datasets[1:],
    ]
    assert r.request_type == "StepChain" and len(r.output_datasets) == 2


def test_taskchain(catalog: OfflineCatalog) -> None:
    r = request_from_reqmgr(catalog.get_request(TASKCHAIN))
    assert r.splitting_algo is SplittingAlgo.FILE_BASED
    assert r.splitting_params == {"files_per_job": 5}
    assert r.site_blacklist == ["T2_DE_DESY"]
    assert [s.name for s in r.steps] == ["DIGI2RAW", "RECO"]


def test_rereco_top_level_fields_and_mask(catalog: OfflineCatalog) -> None:
    r = request_from_reqmgr(catalog.get_request(RERECO))
    assert r.splitting_algo is SplittingAlgo.LUMI_BASED
    assert r.splitting_params["lumis_per_job"] == 10
    assert r.splitting_params["run_whitelist"] == [379415, 379416]
    assert r.splitting_params["lumi_mask"] == {"379415": [[1, 150]], "379416": [[1, 60]]}


def test_generation_has_no_input(catalog: OfflineCatalog) -> None:
    r = request_from_reqmgr(catalog.get_request(GEN))
    assert r.input_dataset is None
    assert r.splitting_params == {
        "request_num_events": 20000,
        "first_event": 1,
        "first_lumi": 1,
        "events_per_job": 1000,
        "events_per_lumi": 250,
    }


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: (d.pop("CMSSWVersion"), d["Step1"].pop("CMSSWVersion")),
            "CMSSWVersion is missing",
        ),
        (lambda d: (d.pop("ScramArch"), d["Step1"].pop("ScramArch")), "ScramArch is missing"),
        (
            lambda d: d["Step1"].update(SplittingAlgo="Harvest"),
            "SplittingAlgo 'Harvest' is not supported",
        ),
        (lambda d: d.pop("Step2"), "Step2 is missing or not a dict but StepChain is 3"),
        (lambda d: d.update(StepChain="three"), "StepChain 'three' must be a positive integer"),
        (
            lambda d: d["Step1"].update(InputDataset="not-a-dataset"),
            "input_dataset 'not-a-dataset'",
        ),
        (lambda d: d.update(OutputDatasets=["/bad"]), "OutputDatasets '/bad'"),
        (lambda d: d.update(RequestPriority=-4), "priority -4 is out of range"),
        (
            lambda d: d.update(Memory="lots"),
            "Memory (step QCD-Run3Summer23DRPremix-00042_0) 'lots'",
        ),
        (lambda d: d.update(RequestName="../../etc"), "request_name '../../etc'"),
    ],
)
def test_bad_documents_name_the_field(catalog: OfflineCatalog, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    doc = copy.deepcopy(catalog.get_request(STEPCHAIN))
    mutate(doc)
    with pytest.raises(RequestImportError, match=re.escape(message)):
        request_from_reqmgr(doc)


def test_name_mismatch_and_non_object() -> None:
    with pytest.raises(RequestImportError, match="does not match the requested 'b'"):
        request_from_reqmgr({"RequestName": "a"}, "b")
    with pytest.raises(RequestImportError, match="must be a JSON object, not list"):
        request_from_reqmgr([])  # type: ignore[arg-type]
