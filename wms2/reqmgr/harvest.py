"""DQM harvesting as ReqMgr2 asks for it: a DQMHarvest request (harvesting jobs over a
DQMIO dataset), or EnableHarvesting in a chain (harvest the chain's DQMIO output once it
is merged). Read as WMCore's DQMHarvest spec and StdBase.addDQMHarvestTask read them:

- DQMHarvestUnit: "byRun" (default; one harvesting job per run) or "multiRun" (one job
  over every run, the DQM file numbered 999999 with the run range);
- DQMConfigCacheID: the harvesting configuration (required by DQMHarvest; a chain
  without one harvests with its scenario's DQMSequences);
- DQMUploadUrl: the DQM GUI the result goes to (WMCore's default the dev GUI);
- a DQMHarvest has no OutputDatasets; a chain harvests its DQMIO output dataset.
"""

from __future__ import annotations

from typing import Any

from wms2.reqmgr.arguments import make_list, unset
from wms2.reqmgr.errors import RequestImportError

HARVEST_UNITS = ("byRun", "multiRun")
DEFAULT_UPLOAD_URL = "https://cmsweb.cern.ch/dqm/dev"  # StdBase's DQMUploadUrl default


def _enabled(value: Any) -> bool:
    return value in (True, "True", "true")


def harvest_spec(
    doc: dict[str, Any], request_type: str, first: dict[str, Any], outputs: list[str]
) -> dict[str, Any] | None:
    """What the request harvests and how; None when it does not harvest."""
    if request_type != "DQMHarvest" and not _enabled(doc.get("EnableHarvesting")):
        return None
    unit = doc.get("DQMHarvestUnit") or "byRun"
    if unit not in HARVEST_UNITS:
        raise RequestImportError(
            f"DQMHarvestUnit {unit!r} must be one of {', '.join(HARVEST_UNITS)}"
        )
    config = doc.get("DQMConfigCacheID")
    if request_type == "DQMHarvest":
        if unset(config):
            raise RequestImportError("DQMConfigCacheID is missing (DQMHarvest needs it)")
        dataset = first.get("InputDataset") or doc.get("InputDataset")
        if unset(dataset):
            raise RequestImportError("InputDataset is missing (DQMHarvest reads a DQMIO dataset)")
    else:
        dqmio = [d for d in outputs if d.endswith("/DQMIO")]
        if not dqmio:
            raise RequestImportError(
                f"EnableHarvesting {doc.get('EnableHarvesting')!r} but no OutputDatasets is DQMIO"
            )
        dataset = dqmio[0]
    url = doc.get("DQMUploadUrl")
    if not unset(url) and not str(url).startswith(("https://", "http://")):
        raise RequestImportError(f"DQMUploadUrl {url!r} is not an http(s) URL")
    return {
        "unit": unit,
        "dataset": str(dataset),
        "config_cache_id": None if unset(config) else str(config),
        "upload_url": str(url).rstrip("/") if not unset(url) else DEFAULT_UPLOAD_URL,
        "sequences": make_list(doc.get("DQMSequences") or []),
    }
