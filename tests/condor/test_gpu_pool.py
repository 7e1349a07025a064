"""GPU slots of the local pool (WMS2_LOCAL_GPUS): GPU jobs match only a GPU site whose
GPUs fit their requirement, and a GPU request runs end to end on the GPU site only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.condor.dagkit import wait
from tests.condor.test_sites_reach_dags import CERN, WISC, matches, plan
from tests.conftest import GEN
from wms2.condor import build_backend
from wms2.condor.local.backend import LocalBackend
from wms2.condor.local.pool import negotiate
from wms2.config import LocalGPUs, Settings
from wms2.services.catalog import OfflineCatalog

T4 = {"gpus": 2, "memory_mb": 16000, "capability": "7.5", "runtime": "12.2"}
NEED = {
    "count": 1,
    "memory_mb": 8000,
    "min_capability": "7.0",
    "max_capability": "8.0",
    "runtime": "11.4",
}


def job(seq: int, gpu: dict | None = None, *sites: str) -> dict:
    entry = {"priority": 0, "seq": seq, "sites": list(sites), "request": "r", "pid": 1}
    return entry | ({"gpu": gpu} if gpu else {})


def pool(idle: dict, running: dict | None = None) -> dict:
    return {
        "sites": {CERN: 5, WISC: 4},
        "gpus": {WISC: T4},
        "idle": idle,
        "running": running or {},
    }


def test_gpu_jobs_match_only_fitting_gpu_sites() -> None:
    # CERN has more free slots, so a CPU job goes there; a GPU job only to WISC's GPUs.
    assert negotiate(pool({"cpu": job(1, None, CERN, WISC)})) == {"cpu": CERN}
    assert negotiate(pool({"gpu": job(1, NEED, CERN, WISC)})) == {"gpu": WISC}
    assert negotiate(pool({"gpu": job(1, NEED, CERN)})) == {}  # never on a non-GPU site
    # Each requirement is checked: memory 16000 MB < 20000; capability 7.5 outside 8.0-9.0;
    # runtime 12.2 older than 12.4.
    for unmet in ({"memory_mb": 20000}, {"min_capability": "8.0", "max_capability": "9.0"},
                  {"runtime": "12.4"}):  # fmt: skip
        assert negotiate(pool({"gpu": job(1, NEED | unmet, WISC)})) == {}, unmet
    # Two GPUs at WISC: the third GPU job waits though WISC has CPU slots left; a
    # running GPU job holds its GPU.
    three = {f"g{i}": job(i, NEED, WISC) for i in range(3)}
    assert negotiate(pool(three)) == {"g0": WISC, "g1": WISC}
    busy = {"r": {"site": WISC, "pid": 1, "gpus": 2}}
    assert negotiate(pool({"g": job(1, NEED, WISC), "c": job(2, None, WISC)}, busy)) == {"c": WISC}


def test_gpu_sites_must_be_pool_sites(settings: Settings) -> None:
    s = settings.model_copy(
        update={"local_sites": {CERN: 1}, "local_gpus": {WISC: LocalGPUs(**T4)}}
    )
    with pytest.raises(ValueError, match="local_gpus 'T2_US_Wisconsin' is not a site"):
        build_backend(s)


def test_gpu_request_runs_on_the_gpu_site_only(catalog: OfflineCatalog, settings: Settings) -> None:
    s = settings.model_copy(
        update={
            # CERN has more slots and no GPU: every job of a CPU request could go there.
            "local_sites": {CERN: 3, WISC: 1},
            "local_gpus": {WISC: LocalGPUs(**T4)},
            "synthetic_max_seconds": 0.05,
            "local_status_interval_sec": 0.2,
        }
    )
    backend = build_backend(s)
    assert isinstance(backend, LocalBackend)
    assert "GPUs = 2" in (backend.pool.dir / f"{WISC}.ad").read_text()
    params = {"GPUMemoryMB": 8000, "CUDACapabilities": ["7.0", "7.5"], "CUDARuntime": "11.4"}
    summary = plan(
        catalog,
        s,
        "gpu_request",
        RequiresGPU="required",
        GPUParams=json.dumps(params),
        Step1={**catalog.get_request(GEN)["Step1"], "RequestNumEvents": 4000},
    )
    handle = backend.submit_dag(Path(summary.dag_file), "gpu_request")
    assert wait(backend, handle, 240).exit_code == 0
    started = matches(backend)
    # 4000 events / 1000 per job = 4 jobs, one work unit: landing, 4 jobs and the merge
    # ran at WISC (the merge asks for no GPU, but it is pinned to the landing's site).
    assert len([m for m in started if m[3] == "gpu_request"]) == 1 + 4 + 1
    assert {site for _, _, site, _, _ in started} == {WISC}
    root = Path(summary.dag_dir)
    assert all((root / g / "merge_output.json").exists() for g in ["mg_000000"])
