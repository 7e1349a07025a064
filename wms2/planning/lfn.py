"""CMS logical file names of merged outputs.

Dataset /Primary/AcqEra-ProcString-vN/TIER merges, as WMCore names merged files, to
<MergedLFNBase>/AcqEra/Primary/TIER/ProcString-vN/NNNNNN/<uuid>.root, where NNNNNN counts
work units in thousands (CMS keeps directories below ~1000 files). The base is the
request's MergedLFNBase (/store/mc, /store/data, /store/backfill/1, ...).
"""

from __future__ import annotations

import uuid

from wms2.models import check_dataset_name

# Tiers that only simulation produces; everything else from real data is /store/data.
_MC_MARKERS = ("SIM", "GEN", "LHE", "PREMIX")


def dataset_parts(dataset: str) -> tuple[str, str, str, str]:
    """(primary, acquisition era, 'ProcString-vN', tier)."""
    check_dataset_name(dataset, "dataset")
    primary, processed, tier = dataset.strip("/").split("/")
    era, _, rest = processed.partition("-")
    return primary, era, rest or processed, tier


def is_mc(dataset: str, input_dataset: str | None) -> bool:
    tier = dataset.rsplit("/", 1)[-1]
    if input_dataset is None or any(m in tier for m in _MC_MARKERS):
        return True
    return any(m in input_dataset.rsplit("/", 1)[-1] for m in _MC_MARKERS)


def merged_lfn(dataset: str, work_unit_index: int, request_name: str, base: str) -> str:
    primary, era, rest, tier = dataset_parts(dataset)
    # Stable across replanning and retries: the same work unit always gets the same name.
    guid = uuid.uuid5(uuid.NAMESPACE_URL, f"wms2:{request_name}:{dataset}:{work_unit_index}")
    return f"{base}/{era}/{primary}/{tier}/{rest}/{work_unit_index // 1000:06d}/{guid}.root"


def merged_lfn_base(configured: str | None, dataset: str, input_dataset: str | None) -> str:
    """The request's MergedLFNBase; requests imported before it was read get /store/mc or
    /store/data by their tiers, as they did then."""
    if configured:
        return configured
    return "/store/mc" if is_mc(dataset, input_dataset) else "/store/data"
