"""Planning writes the same bytes for the same input: every file of the DAG directory of
each sample request, each ReqMgr2 fixture that plans, and a synthetic dataset under every
splitting algorithm, against digests recorded from the planner before its speed-ups.

Paths under the test's directory read as <TMP>; plan.json's `seconds` (how long planning
took) and the sandbox's gzip header (its write time) are the only parts left out.
Record the digests again, after a change that means to alter planned files:

    WMS2_RECORD_PLAN_DIGESTS=1 .venv/bin/python -m pytest tests/unit/test_plan_digests.py
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.condor.test_harvesting import DQMIO, LUMIS, F
from tests.conftest import GEN, RERECO, SAMPLE_CATALOG, STEPCHAIN, TASKCHAIN
from tests.unit.test_reqmgr_semantics import fixture
from wms2.config import Settings
from wms2.models import PilotMetrics, Request, SplittingAlgo
from wms2.plan_dag import plan_request
from wms2.recovery_spec import EVENT_RANGES, RECOVERY_FILES
from wms2.reqmgr import request_from_reqmgr
from wms2.services.catalog import OfflineCatalog
from wms2.services.catalog_builder import build_dataset

DIGESTS = Path(__file__).resolve().parent.parent / "fixtures" / "planning" / "digests.json"
RECORD = os.environ.get("WMS2_RECORD_PLAN_DIGESTS") == "1"

SYNTHETIC = "/SynthPrimary/SynthEra-SynthProc-v1/GEN-SIM"
METRICS = PilotMetrics(
    time_per_event_sec=3.0,
    memory_peak_mb=3000,
    output_size_per_event_kb=50.0,
    cpu_efficiency=0.8,
    events_processed=70,
    recommended_events_per_job=500,
    recommended_memory_mb=3500,
    recommended_time_per_job_sec=1500,
)


def synthetic(algo: SplittingAlgo, **params: Any) -> Request:
    """A request on the synthetic dataset (300 files, 2 runs, 4 blocks, 3 disk sites and
    a tape copy of some files): the benchmark's input, small."""
    return Request(
        request_name=f"synth_{algo.value}",
        requestor="digests",
        input_dataset=SYNTHETIC,
        output_datasets=["/SynthPrimary/SynthEra2-SynthProc-v1/AODSIM"],
        cmssw_version="CMSSW_14_0_0",
        scram_arch="el9_amd64_gcc12",
        splitting_algo=algo,
        splitting_params=params,
        size_per_event_kb=300.0,
    )


def premix(**top: Any) -> Request:
    doc = fixture("stepchain_gen_premix") | top
    doc["Step1"] = doc["Step1"] | {"RequestNumEvents": 5000, "EventsPerJob": 5000}
    return request_from_reqmgr(doc)


def with_harvesting() -> Request:
    gen = fixture_of(GEN)
    dqmio = gen["OutputDatasets"][0].rsplit("/", 1)[0] + "/DQMIO"
    return request_from_reqmgr(
        gen
        | {
            "RequestName": "gen_with_harvesting",
            "OutputDatasets": [*gen["OutputDatasets"], dqmio],
            "EnableHarvesting": True,
            "DQMUploadUrl": "https://cmsweb.cern.ch/dqm/relval",
            "Step1": gen["Step1"] | {"RequestNumEvents": 4000},
        }
    )


def recovered_files() -> Request:
    request = synthetic(SplittingAlgo.LUMI_BASED, lumis_per_job=2)
    lfn = "/store/data/SynthEra/SynthPrimary/GEN-SIM/SynthProc-v1/{:06d}/{:08d}.root"
    files = [lfn.format(i // 75, i) for i in (3, 4, 80, 81, 299)]
    return request.model_copy(
        update={
            "splitting_params": {
                "lumis_per_job": 2,
                RECOVERY_FILES: files,
                "lumi_mask": {"1": [[10, 14], [241, 250]], "2": [[448, 449]]},
            }
        }
    )


def recovered_ranges() -> Request:
    request = request_from_reqmgr(fixture_of(GEN))
    params = dict(request.splitting_params)
    params[EVENT_RANGES] = [[1001, 700, [11, 12, 13, 14]], [40001, 300, [401, 402]]]
    params["request_num_events"] = 1000
    return request.model_copy(update={"splitting_params": params})


def fixture_of(name: str) -> dict[str, Any]:
    return json.loads((SAMPLE_CATALOG / "requests" / f"{name}.json").read_text())


# name -> (request, pilot metrics, settings changed, unavailable sites)
Case = tuple[Callable[[], Request], PilotMetrics | None, dict[str, Any], dict[str, str] | None]
CASES: dict[str, Case] = {
    **{
        f"catalog:{name[:40]}": (
            (lambda n=name: request_from_reqmgr(fixture_of(n))),
            None,
            {},
            None,
        )
        for name in (STEPCHAIN, GEN, TASKCHAIN, RERECO)
    },
    **{
        f"fixture:{name}": ((lambda n=name: request_from_reqmgr(fixture(n))), None, {}, None)
        for name in (
            "rereco_selection",
            "stepchain_gen_premix",
            "stepchain_include_parents",
            "stepchain_premix_gpu",
            "stepchain_scramarch_lists",
            "taskchain_gen_filtered",
            "taskchain_rehlt",
        )
    },
    "dqmharvest": (lambda: request_from_reqmgr(fixture("dqmharvest")), None, {}, None),
    "pilot_metrics": (lambda: request_from_reqmgr(fixture_of(STEPCHAIN)), METRICS, {}, None),
    "deterministic_pileup": (lambda: premix(DeterministicPileup=True), None, {}, None),
    "harvesting_small_groups": (with_harvesting, None, {"target_merged_size_bytes": 1}, None),
    "cmssw_no_memory_retry": (
        lambda: request_from_reqmgr(fixture("stepchain_premix_gpu")),
        None,
        {"payload_mode": "cmssw", "condor_memory_retry": False},
        None,
    ),
    "site_taken_out": (
        lambda: synthetic(SplittingAlgo.FILE_BASED, files_per_job=1).model_copy(
            update={"site_whitelist": ["T2_CH_CERN", "T2_DE_DESY"], "trust_sitelists": True}
        ),
        None,
        {},
        {"T2_DE_DESY": "down"},
    ),
    "synthetic:FileBased": (
        lambda: synthetic(SplittingAlgo.FILE_BASED, files_per_job=2),
        None,
        {"target_merged_size_bytes": 2 * 10**10},
        None,
    ),
    "synthetic:LumiBased": (
        lambda: synthetic(SplittingAlgo.LUMI_BASED, lumis_per_job=4, split_on_run=True),
        None,
        {"target_merged_size_bytes": 2 * 10**10},
        None,
    ),
    "synthetic:EventAwareLumiBased": (
        lambda: synthetic(SplittingAlgo.EVENT_AWARE_LUMI, events_per_job=250),
        None,
        {"target_merged_size_bytes": 2 * 10**10},
        None,
    ),
    "synthetic:EventBased": (
        lambda: synthetic(SplittingAlgo.EVENT_BASED, events_per_job=120),
        None,
        {"target_merged_size_bytes": 2 * 10**10},
        None,
    ),
    "synthetic:whitelist_mask": (
        lambda: synthetic(
            SplittingAlgo.FILE_BASED,
            files_per_job=3,
            run_whitelist=[1],
            lumi_mask={"1": [[1, 40], [100, 130]]},
        ).model_copy(
            update={"site_whitelist": ["T2_CH_CERN", "T2_DE_DESY"], "trust_sitelists": True}
        ),
        None,
        {},
        None,
    ),
    "recovered_files": (recovered_files, None, {}, None),
    "recovered_ranges": (recovered_ranges, None, {}, None),
}


def normalized(path: Path, tmp: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".tar.gz"):
        data = gzip.decompress(data)  # the gzip header holds the time it was written
    elif path.name == "plan.json":
        plan = json.loads(data)
        plan.pop("seconds")
        data = json.dumps(plan, indent=1).encode()
    for prefix in {str(tmp.resolve()), str(tmp)}:
        data = data.replace(prefix.encode(), b"<TMP>")
    return data


def planned_digests(root: Path, tmp: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(normalized(p, tmp)).hexdigest()[:20]
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def recorded() -> dict[str, dict[str, str]]:
    return {} if RECORD else json.loads(DIGESTS.read_text())


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample catalog with the synthetic dataset and a DQMIO one added."""
    root = tmp_path_factory.mktemp("catalog")
    for name in ("requests", "acdc", "config.json", "sites.json"):
        (root / name).symlink_to(SAMPLE_CATALOG / name)
    (root / "datasets").mkdir()
    for p in (SAMPLE_CATALOG / "datasets").glob("*.json"):
        (root / "datasets" / p.name).symlink_to(p)
    doc = build_dataset(SYNTHETIC, 300, blocks=4, runs=(1, 2))
    (root / "datasets" / "synthetic.json").write_text(json.dumps(doc))
    files = [
        {
            "lfn": F[i],
            "size": 1000 + i,
            "events": 100,
            "adler32": "00000001",
            "lumis": LUMIS[i],
            "replicas": ["T2_CH_CERN"],
        }
        for i in range(4)
    ]  # fmt: skip  (tests/condor/test_harvesting.py's DQMIO dataset)
    dqm = {"dataset": DQMIO, "blocks": [{"name": f"{DQMIO}#b1", "files": files}]}
    (root / "datasets" / "dqmio.json").write_text(json.dumps(dqm))
    return root


_recorded_now: dict[str, dict[str, str]] = {}


@pytest.mark.parametrize("case", sorted(CASES))
def test_planned_files_are_byte_identical(
    case: str, catalog_dir: Path, tmp_path: Path, recorded: dict[str, dict[str, str]]
) -> None:
    make, metrics, changes, unavailable = CASES[case]
    settings = Settings(
        state_dir=tmp_path / ".wms2",
        catalog_dir=catalog_dir,
        submit_dir=tmp_path / "submit",
        output_dir=tmp_path / "store",
        **changes,
    )
    catalog = OfflineCatalog(catalog_dir, tmp_path / "catalog-state")
    summary = plan_request(make(), catalog, catalog, settings, metrics, False, unavailable)
    digests = planned_digests(Path(summary.dag_dir), tmp_path)
    if RECORD:
        _recorded_now[case] = digests
        DIGESTS.parent.mkdir(parents=True, exist_ok=True)
        DIGESTS.write_text(json.dumps(dict(sorted(_recorded_now.items())), indent=1) + "\n")
        return
    expected = recorded[case]
    assert sorted(digests) == sorted(expected), "the planned directory has other files"
    changed = [name for name in expected if digests[name] != expected[name]]
    assert not changed, f"{len(changed)} planned file(s) differ, first {changed[0]}"
