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
from wms2.outputs.messages import DqmUpload, DqmUploadResult
from wms2.services.protocols import DQMUploader

LEDGER = "uploads.json"
DONE_SUFFIX = ".done.json"


def harvest_results(dag_dir: Path) -> list[dict[str, Any]]:
    """Every finished harvesting job's result (<node>.done.json), in node order."""
    return [
        json.loads(p.read_text())
        for p in sorted((Path(dag_dir) / HARVEST_DIR).glob("*" + DONE_SUFFIX))
    ]


def planned_harvests(dag_dir: Path) -> list[str]:
    """The harvesting jobs planned for the DAG: one manifest <node>.json each (node names
    hold no dot; the jobs' own .done.json and .tweak.json files do)."""
    hdir = Path(dag_dir) / HARVEST_DIR
    return sorted(p.stem for p in hdir.glob("harvest_*.json") if "." not in p.stem)


def _ledger(dag_dir: Path) -> dict[str, Any]:
    path = Path(dag_dir) / HARVEST_DIR / LEDGER
    return json.loads(path.read_text()) if path.exists() else {}


def upload_harvests(
    dag_dir: Path, uploader: DQMUploader, results: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Upload what is not uploaded yet (of `results`, default every job's); returns what
    this call uploaded."""
    ledger_path = Path(dag_dir) / HARVEST_DIR / LEDGER
    ledger = _ledger(dag_dir)
    sent = []
    for result in harvest_results(dag_dir) if results is None else results:
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


def missing_results(dag_dir: Path) -> dict[str, str]:
    """Planned harvesting jobs without a usable result: no (readable) <node>.done.json,
    or the DQM file it names is gone. Their DQM files cannot be uploaded."""
    hdir = Path(dag_dir) / HARVEST_DIR
    missing = {}
    for node in planned_harvests(dag_dir):
        try:
            result = json.loads((hdir / (node + DONE_SUFFIX)).read_text())
            dqm = hdir / Path(result["dqm_file"]).name
        except (OSError, ValueError, KeyError, TypeError) as e:
            missing[node] = f"no readable {node}{DONE_SUFFIX} ({type(e).__name__})"
            continue
        if not dqm.is_file():
            missing[node] = f"its DQM file {dqm.name} is gone"
    return missing


def upload_dag_harvests(dag_dir: Path, uploader: DQMUploader) -> DqmUploadResult:
    """What the request does once its DAG is done: every DQM file uploaded once (those
    of jobs with a usable result; the others are named in `missing`), and the whole
    list of what the DQM GUI has from this DAG."""
    missing = missing_results(dag_dir)
    hdir = Path(dag_dir) / HARVEST_DIR
    usable = [
        json.loads((hdir / (n + DONE_SUFFIX)).read_text())
        for n in planned_harvests(dag_dir)
        if n not in missing
    ]
    sent = upload_harvests(dag_dir, uploader, usable)
    uploads = [
        DqmUpload(url=r["url"], file=r["file"], size=int(r["size"]))
        for r in sorted(_ledger(dag_dir).values(), key=lambda r: (r["file"], r["url"]))
    ]
    return DqmUploadResult(uploads=uploads, sent=len(sent), missing=missing)
