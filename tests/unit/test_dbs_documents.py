"""The bulkblocks document WMS2 registers, field by field against the shape dbs2go's
InsertBulkBlocks reads (tests/fixtures/dbs, written after its BulkBlocks struct)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wms2.outputs.blocks import BlockFile, bulk_block

SHAPE = json.loads(
    (
        Path(__file__).resolve().parent.parent / "fixtures/dbs/bulkblocks_dbs2go_shape.json"
    ).read_text()
)
AOD = "/JetMET0/Run2024C-ReReco-v1/AOD"
LFN = "/store/data/Run2024C/JetMET0/AOD/ReReco-v1/000000/a.root"
RAW = "/store/data/Run2024C/JetMET0/RAW/v1/000000/00000000.root"


def ours() -> dict[str, Any]:
    return bulk_block(
        AOD,
        f"{AOD}#x",
        "T1_US_FNAL",
        [BlockFile(LFN, 123456, 900, "0a1b2c3d", [(379415, 1)], [RAW])],
        processing_version=1,
        app=("cmsRun", "CMSSW_14_0_21", "Merged"),
        global_tag="140X_dataRun3_v17",
        primary_ds_type="data",
        created_at=1764400000,
    )


def keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: keys(v) for k, v in value.items()}
    if isinstance(value, list) and value:
        return [keys(value[0])]
    return type(value).__name__


def test_every_section_and_field_dbs2go_reads_is_there_with_its_type() -> None:
    doc = ours()
    for section, expected in SHAPE.items():
        assert section in doc, section
        got = keys(doc[section])
        want = keys(expected)
        if isinstance(want, dict):
            for field, kind in want.items():
                assert field in got, (section, field)
                if kind != "NoneType":
                    assert got[field] == kind, (section, field, got[field], kind)
        elif isinstance(want, list) and want:
            assert got and all(f in got[0] for f in want[0]), section
    assert "ds_parent_list" not in doc and "block_parent_list" not in doc


def test_provenance_and_parentage_values() -> None:
    doc = ours()
    assert doc["dataset_conf_list"] == SHAPE["dataset_conf_list"]
    assert doc["file_conf_list"] == SHAPE["file_conf_list"]
    assert doc["primds"]["primary_ds_type"] == "data"
    assert doc["file_parent_list"] == SHAPE["file_parent_list"]
    assert doc["files"][0]["file_lumi_list"] == [{"run_num": 379415, "lumi_section_num": 1}]
    assert doc["processing_era"]["processing_version"] == 1
    assert doc["dataset"]["processed_ds_name"] == "Run2024C-ReReco-v1"
