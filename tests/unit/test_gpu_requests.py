"""RequiresGPU and GPUParams: read per step as WMCore reads them, and written into the
submit files as WMCore's SimpleCondorPlugin writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.test_reqmgr_semantics import fixture
from wms2.condor.local.submitfile import load_job
from wms2.config import Settings
from wms2.plan_dag import plan_request
from wms2.reqmgr import RequestImportError, request_from_reqmgr
from wms2.services.catalog import OfflineCatalog

DIGI_GPU = {
    "GPUMemoryMB": 8000,
    "CUDACapabilities": ["7.5", "10.0", "8.0"],
    "CUDARuntime": "11.4",
    "GPUName": "Tesla T4",
}

# What WMCore's SimpleCondorPlugin.getJobParameters sets for this job (a task whose
# DIGIPremix step requires a GPU with DIGI_GPU, RECO optional with its own parameters):
# WMTask.getRequiresGPU gives "required" (required beats optional); getGPURequirements
# the first step's parameters that has some (DIGIPremix's); CUDACapabilities sorted as
# numbers: 7.5 < 8.0 < 10.0, so the range is 7.5 to 10.0 (as strings, "10.0" < "7.5").
WMCORE_AD = {
    "My.RequiresGPU": "1",
    "request_gpus": "1",
    "My.DESIRED_GPUMemoryMB": "8000",
    "My.DESIRED_GPUMinimumCapability": "7.5",
    "My.DESIRED_GPUMaximumCapability": "10.0",
    "My.DESIRED_GPURuntime": "11.4",
    "gpus_minimum_memory": "8000",
    "gpus_minimum_capability": "7.5",
    "gpus_maximum_capability": "10.0",
    "gpus_minimum_runtime": "11.4",
}


def submit_lines(ad: dict[str, str]) -> list[str]:
    """WMCore's htcondor.Submit entries as submit-file lines (`My.X` is `+X`)."""
    return [f"{k.replace('My.', '+', 1)} = {v}" for k, v in ad.items()]


def test_stepchain_per_step_gpu_settings() -> None:
    r = request_from_reqmgr(fixture("stepchain_premix_gpu"))
    assert [s.requires_gpu for s in r.steps] == ["forbidden", "required", "optional"]
    assert r.steps[0].gpu_params is None  # the top level's "null"
    assert r.steps[1].gpu_params == DIGI_GPU
    assert r.steps[2].gpu_params == {
        "GPUMemoryMB": 4000,
        "CUDACapabilities": ["6.0"],
        "CUDARuntime": "11.2",
    }
    assert (r.requires_gpu, r.gpu_params) == ("required", DIGI_GPU)


def test_taskchain_gpu_dicts_by_task_name() -> None:
    doc = fixture("taskchain_rehlt")
    doc["RequiresGPU"] = {"RECODreHLT": "optional"}  # a task not named: forbidden
    doc["GPUParams"] = json.dumps({"RECODreHLT": DIGI_GPU})
    r = request_from_reqmgr(doc)
    assert [s.requires_gpu for s in r.steps] == ["forbidden", "optional"]
    assert [s.gpu_params for s in r.steps] == [None, DIGI_GPU]
    assert (r.requires_gpu, r.gpu_params) == ("optional", DIGI_GPU)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"RequiresGPU": "required", "GPUParams": "null"},
            "RequiresGPU 'required' but GPUParams is empty or not given",
        ),
        ({"RequiresGPU": "maybe"}, "RequiresGPU 'maybe' must be one of forbidden, optional"),
        (
            {"RequiresGPU": "optional", "GPUParams": '{"GPUMemoryMB": 1}'},
            "lacks the mandatory CUDACapabilities, CUDARuntime",
        ),
        (
            {
                "RequiresGPU": "required",
                "GPUParams": json.dumps({**DIGI_GPU, "CUDACapabilities": ["7"]}),
            },
            "GPUParams.CUDACapabilities item '7' is not like '7.5'",
        ),
        ({"GPUParams": "{not json"}, "GPUParams '{not json' is not a valid JSON object"),
    ],
)
def test_gpu_refusals_name_field_and_value(change: dict[str, str], message: str) -> None:
    doc = fixture("stepchain_gen_premix") | change
    with pytest.raises(RequestImportError, match=message.replace("(", r"\(")) as e:
        request_from_reqmgr(doc)
    assert "\n" not in str(e.value)


def test_submit_lines_are_wmcores(
    catalog: OfflineCatalog, settings: Settings, tmp_path: Path
) -> None:
    summary = plan_request(
        request_from_reqmgr(fixture("stepchain_premix_gpu")), catalog, catalog, settings
    )
    root = Path(summary.dag_dir)
    expected = submit_lines(WMCORE_AD)
    for role in ("processing", "landing"):
        text = (root / f"{role}.sub").read_text().splitlines()
        gpu = [line for line in text if line.startswith(("+RequiresGPU", "+DESIRED_GPU", "gpus_"))]
        assert [line for line in text if line.startswith("request_gpus")] == ["request_gpus = 1"]
        assert ["request_gpus = 1", *gpu] == [expected[1], expected[0], *expected[2:]], role
    for role in ("merge", "cleanup"):  # WMCore: merge and cleanup tasks never ask for GPUs
        assert "gpus" not in (root / f"{role}.sub").read_text()
    # The local backend reads them back as the job's GPU requirement (the site fragment
    # is written by the node's PRE script when it runs).
    (root / "mg_000000" / "site.sub").write_text('+DESIRED_Sites = "T2_CH_CERN"\n')
    job = load_job(root / "processing.sub", root / "mg_000000", {"node": "proc_000000"}, 7)
    assert job.gpu == {
        "count": 1,
        "memory_mb": 8000,
        "min_capability": "7.5",
        "max_capability": "10.0",
        "runtime": "11.4",
    }


def test_forbidden_without_params_writes_nothing(
    catalog: OfflineCatalog, settings: Settings
) -> None:
    summary = plan_request(
        request_from_reqmgr(fixture("stepchain_gen_premix")), catalog, catalog, settings
    )
    assert "gpus" not in (Path(summary.dag_dir) / "processing.sub").read_text()
