"""The per-request sandbox: manifest.json (the payload configuration) plus one
configuration file per step, packed into sandbox.tar.gz and shipped to every node."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

from wms2.models import Request


def sandbox_manifest(
    request: Request,
    mode: str,
    synthetic: dict[str, float | int],
    time_per_event_sec: float,
    size_per_event_kb: float,
    memory_mb: int,
    outputs: list[dict[str, Any]],
) -> dict[str, Any]:
    steps = request.payload_config.get("steps") or [{}]
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
        "steps": [
            {
                "name": s.get("StepName") or s.get("TaskName") or f"step{i + 1}",
                "cmssw_version": s.get("CMSSWVersion") or request.cmssw_version,
                "scram_arch": s.get("ScramArch") or request.scram_arch,
                "global_tag": s.get("GlobalTag") or request.global_tag,
                "config_file": f"steps/step{i + 1}.json",
            }
            for i, s in enumerate(steps)
        ],
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
