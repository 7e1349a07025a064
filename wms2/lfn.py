"""CMS logical file names of merged outputs.

Dataset /Primary/AcqEra-ProcString-vN/TIER merges to
/store/{mc|data}/AcqEra/Primary/TIER/ProcString-vN/NNNNNN/<uuid>.root, where NNNNNN counts
work units in thousands (CMS keeps directories below ~1000 files).
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


def merged_lfn(dataset: str, work_unit_index: int, request_name: str, mc: bool) -> str:
    primary, era, rest, tier = dataset_parts(dataset)
    # Stable across replanning and retries: the same work unit always gets the same name.
    guid = uuid.uuid5(uuid.NAMESPACE_URL, f"wms2:{request_name}:{dataset}:{work_unit_index}")
    kind = "mc" if mc else "data"
    return f"/store/{kind}/{era}/{primary}/{tier}/{rest}/{work_unit_index // 1000:06d}/{guid}.root"
