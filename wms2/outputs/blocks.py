"""DBS documents for merged outputs: one block per work unit output, inserted with the
DBS writer's bulkblocks API (the shape `insertBulkBlock` takes)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from wms2.planning.lfn import dataset_parts


@dataclass(frozen=True)
class BlockFile:
    lfn: str
    size: int
    events: int
    adler32: str
    lumis: list[tuple[int, int]] = field(default_factory=list)  # (run, lumi)
    parents: list[str] = field(default_factory=list)  # the input files it was made from


def unit_block_name(request_name: str, dataset: str, work_unit: str) -> str:
    """`/P/Proc/TIER#<uuid>`, stable for a request, dataset and work unit, so a retried
    registration names the same block. The request is part of the name: two requests
    writing one dataset (an extension, an ACDC) never share a block or its rules."""
    key = f"wms2:block:{request_name}:{dataset}:{work_unit}"
    return f"{dataset}#{uuid.uuid5(uuid.NAMESPACE_URL, key)}"


def bulk_block(
    dataset: str,
    block: str,
    origin_site: str,
    files: list[BlockFile],
    *,
    processing_version: int = 1,
    app: tuple[str, str, str] = ("cmsRun", "CMSSW", "Merged"),
    global_tag: str = "",
    primary_ds_type: str = "mc",
    created_by: str = "wms2",
    created_at: int = 0,
) -> dict[str, Any]:
    """The bulkblocks document for `files` in `block`. The dataset is inserted as
    PRODUCTION: announcing it makes it VALID."""
    primary, era, _, tier = dataset_parts(dataset)
    app_name, release, label = app
    conf = {
        "release_version": release,
        "pset_hash": "GIBBERISH",
        "app_name": app_name,
        "output_module_label": label,
        "global_tag": global_tag,
    }
    return {
        "dataset_conf_list": [conf],
        "file_conf_list": [{**conf, "lfn": f.lfn} for f in files],
        "files": [
            {
                "logical_file_name": f.lfn,
                "file_size": f.size,
                "event_count": f.events,
                "adler32": f.adler32,
                "check_sum": "NOTSET",
                "file_type": "EDM",
                "is_file_valid": 1,
                "file_lumi_list": [{"run_num": r, "lumi_section_num": ls} for r, ls in f.lumis],
                "last_modified_by": created_by,
            }
            for f in files
        ],
        "block": {
            "block_name": block,
            "origin_site_name": origin_site,
            "open_for_writing": 1,
            "file_count": len(files),
            "block_size": sum(f.size for f in files),
            "create_by": created_by,
            "creation_date": created_at,
        },
        "processing_era": {"processing_version": processing_version, "create_by": created_by},
        "acquisition_era": {"acquisition_era_name": era, "start_date": created_at},
        "primds": {
            "primary_ds_name": primary,
            "primary_ds_type": primary_ds_type,
            "create_by": created_by,
            "creation_date": created_at,
        },
        "dataset": {
            "dataset": dataset,
            "primary_ds_name": primary,
            "processed_ds_name": dataset.strip("/").split("/")[1],
            "data_tier_name": tier,
            "dataset_access_type": "PRODUCTION",
            "physics_group_name": "NoGroup",
            "processing_version": processing_version,
            "acquisition_era_name": era,
            "xtcrosssection": None,
            "create_by": created_by,
        },
        # As WMCore's DBS3Upload: file parentage (DBS derives the blocks' from it).
        "file_parent_list": [
            {"logical_file_name": f.lfn, "parent_logical_file_name": parent}
            for f in files
            for parent in f.parents
        ],
        "dataset_parent_list": [],
    }
