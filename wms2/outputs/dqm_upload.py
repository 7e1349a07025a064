"""After the harvesting jobs: upload each DQM file they wrote to the request's DQM GUI,
once. WMCore's DQMUpload step runs inside the harvesting job; here the jobs run on the
submit host (local universe) and the upload goes through the service layer, so the
offline catalog records it and a real deployment posts it with httpx
(wms2.services.dqm).

Idempotent: harvest/uploads.json lists what was uploaded, and a file already listed is
never sent again (a retried activity, a rerun).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from wms2.dagfiles.harvest import HARVEST_DIR
from wms2.services.protocols import DQMUploader

LEDGER = "uploads.json"


def harvest_results(dag_dir: Path) -> list[dict[str, Any]]:
    """Every finished harvesting job's result (<node>.done.json), in node order."""
    return [
        json.loads(p.read_text()) for p in sorted((Path(dag_dir) / HARVEST_DIR).glob("*.done.json"))
    ]


def upload_harvests(dag_dir: Path, uploader: DQMUploader) -> list[dict[str, Any]]:
    """Upload what is not uploaded yet; returns what this call uploaded."""
    ledger_path = Path(dag_dir) / HARVEST_DIR / LEDGER
    ledger: dict[str, Any] = json.loads(ledger_path.read_text()) if ledger_path.exists() else {}
    sent = []
    for result in harvest_results(dag_dir):
        key = f"{result['upload_url']}/{Path(result['dqm_file']).name}"
        if key in ledger:
            continue
        path = Path(dag_dir) / HARVEST_DIR / Path(result["dqm_file"]).name
        record = uploader.upload_dqm(result["upload_url"], path)
        ledger[key] = record
        sent.append(record)
        tmp = ledger_path.with_name(LEDGER + ".tmp")
        tmp.write_text(json.dumps(ledger, indent=1, sort_keys=True))
        os.replace(tmp, ledger_path)  # after each file: a crash never re-sends one
    return sent
