from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import GEN, STEPCHAIN
from wms2.services.catalog import OfflineCatalog
from wms2.services.errors import NotFoundError, ServiceRequestError
from wms2.services.protocols import FileQuery, RuleState

GENSIM = (
    "/QCD_Pt-15to7000_TuneCP5_13p6TeV_pythia8/"
    "Run3Summer23wmLHEGS-130X_mcRun3_2023_realistic_v14-v1/GEN-SIM"
)


def test_sample_catalog_has_the_promised_content(catalog: OfflineCatalog) -> None:
    assert {STEPCHAIN, GEN} <= set(catalog.request_names())
    assert catalog.get_request(STEPCHAIN)["RequestType"] == "StepChain"
    files = catalog.list_files(FileQuery(GENSIM))
    assert len(files) == 300 and len(catalog.list_blocks(GENSIM)) == 4
    assert all(f.checksums["adler32"] and f.events > 0 for f in files)
    lumis = catalog.file_lumis(FileQuery(GENSIM))
    assert all(len(v) == 3 for v in lumis.values())


def test_replicas_are_site_names_without_tape(catalog: OfflineCatalog) -> None:
    lfns = [f.lfn for f in catalog.list_files(FileQuery(GENSIM))]
    reps = catalog.replicas([*lfns, "/store/unknown.root"])
    assert reps["/store/unknown.root"] == []
    assert all(s in {"T1_US_FNAL", "T2_CH_CERN", "T2_DE_DESY"} for v in reps.values() for s in v)
    assert all(v for lfn, v in reps.items() if lfn != "/store/unknown.root")


def test_lumi_mask_filters_files(catalog: OfflineCatalog) -> None:
    q = FileQuery(GENSIM, lumi_mask={"1": [[1, 6]]})
    assert len(catalog.list_files(q)) == 2
    assert catalog.list_files(FileQuery(GENSIM, run_whitelist=[999])) == []


def test_rules_progress_and_are_recorded(catalog: OfflineCatalog) -> None:
    rule_id = catalog.create_rule(["/A/B-v1/AOD#1"], "T1_US_FNAL_Disk", lifetime=None)
    assert catalog.get_rule(rule_id).state is RuleState.REPLICATING
    assert catalog.get_rule(rule_id).state is RuleState.OK
    catalog.delete_rule(rule_id)
    with pytest.raises(NotFoundError):
        catalog.get_rule(rule_id)
    assert catalog.recorded_rules()[rule_id]["deleted"] is True


def test_stuck_rse_and_destinations(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    (root / "requests").mkdir(parents=True)
    (root / "datasets").mkdir()
    (root / "config.json").write_text(
        json.dumps({"destinations": {"AOD": ["T1_X_Disk"]}, "stuck_rses": ["T1_X_Disk"]})
    )
    cat = OfflineCatalog(root, tmp_path / "state")
    assert cat.destinations("/A/B-v1/AOD") == ["T1_X_Disk"]
    assert cat.destinations("/A/B-v1/NANOAOD") == []
    rule = cat.create_rule(["/A/B-v1/AOD#1"], "T1_X_Disk")
    assert cat.get_rule(rule).state is RuleState.STUCK


def test_missing_things_are_clear(catalog: OfflineCatalog, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="dataset /No/Such-v1/RAW does not exist"):
        catalog.list_files(FileQuery("/No/Such-v1/RAW"))
    with pytest.raises(ServiceRequestError, match="does not exist"):
        OfflineCatalog(tmp_path / "missing", tmp_path)
