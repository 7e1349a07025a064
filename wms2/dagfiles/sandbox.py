"""The per-request sandbox: manifest.json (the payload configuration) plus one
configuration file per step, packed into sandbox.tar.gz and shipped to every node."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

from wms2.models import Request
from wms2.reqmgr.steps import scram_arch


def _steps(request: Request) -> list[dict[str, Any]]:
    """Each step with its own release, architecture (one name, never a list) and
    configuration reference; requests imported before steps were read have one."""
    config = request.payload_config
    url = f"{config.get('config_cache_url', 'https://cmsweb.cern.ch/couchdb')}/" + str(
        config.get("couch_db_name", "reqmgr_config_cache")
    )
    if not request.steps:
        raw = config.get("steps") or [{}]
        return [
            {
                "name": s.get("StepName") or s.get("TaskName") or f"step{i + 1}",
                "cmssw_version": s.get("CMSSWVersion") or request.cmssw_version,
                "scram_arch": scram_arch("ScramArch", s.get("ScramArch")) or request.scram_arch,
                "global_tag": s.get("GlobalTag") or request.global_tag,
                "config_file": f"steps/step{i + 1}.json",
            }
            for i, s in enumerate(raw)
        ]
    return [
        {
            "name": s.name,
            "cmssw_version": s.cmssw_version,
            "scram_arch": s.scram_arch,
            "global_tag": s.global_tag,
            "config_cache_id": s.config_cache_id,
            "config_url": f"{url}/{s.config_cache_id}/configFile" if s.config_cache_id else None,
            "cores": s.multicore,
            "event_streams": s.event_streams,
            "input_step": s.input_step,
            "input_module": _raw(config, i).get("InputFromOutputModule"),
            "keep_output": s.keep_output,
            "output_datasets": s.output_datasets,
            "pileup_dataset": s.pileup_dataset,
            "config_file": f"steps/step{i + 1}.json",
        }
        for i, s in enumerate(request.steps)
    ]


def _raw(config: dict[str, Any], index: int) -> dict[str, Any]:
    raw = config.get("steps") or []
    return raw[index] if index < len(raw) and isinstance(raw[index], dict) else {}


def sandbox_manifest(
    request: Request,
    mode: str,
    synthetic: dict[str, float | int],
    time_per_event_sec: float,
    size_per_event_kb: float,
    memory_mb: int,
    outputs: list[dict[str, Any]],
    pileup: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "request_name": request.request_name,
        "mode": mode,
        "cmssw_version": request.cmssw_version,
        "scram_arch": request.scram_arch,
        "global_tag": request.global_tag,
        "time_per_event_sec": time_per_event_sec,
        "size_per_event_kb": size_per_event_kb,
        "memory_mb": memory_mb,
        "cores": request.multicore,
        "outputs": outputs,
        "synthetic": synthetic,
        "steps": _steps(request),
        # Per step with pileup: the pileup dataset's files and the sites holding it all.
        "pileup": pileup or [],
        # LheInputFiles: generation jobs skip the LHE events before theirs (wms2_tweak).
        "lhe_input_files": bool(request.splitting_params.get("lhe_input_files")),
    }


def write_sandbox(path: Path, manifest: dict[str, Any], request: Request) -> None:
    steps = request.payload_config.get("steps") or [{}]
    members = {"manifest.json": manifest}
    for i, step in enumerate(steps):
        members[f"steps/step{i + 1}.json"] = step
    tmp = path.with_name(path.name + ".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for name, content in members.items():
            data = json.dumps(content, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    tmp.replace(path)
