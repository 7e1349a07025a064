"""RequiresGPU and GPUParams read as WMCore reads them (StdBase/StepChain/TaskChain, Lexicon
gpuParameters, WMTask.setTaskGPUSettings/getRequiresGPU/getGPURequirements).

- RequiresGPU is "forbidden" (default), "optional" or "required"; a StepChain step or a
  TaskChain task may set its own, and a TaskChain's top-level value may be a dict keyed by
  TaskName.
- GPUParams is a JSON-encoded object ("null" when unset) with GPUMemoryMB (int > 0),
  CUDACapabilities (non-empty list of "N.N" strings) and CUDARuntime ("N.N"); GPUName,
  CUDADriverVersion and CUDARuntimeVersion are optional. It may also be keyed by the
  task's name. A step's own GPUParams wins over the top-level one.
- "optional" or "required" without GPUParams is refused (StdBase.validateGPUSettings).

WMS2 runs every step in one job, so the job asks what WMCore's task asks for its steps:
"required" if any step requires a GPU, else "optional" if any may use one; the
parameters of the first step that has some.
"""

from __future__ import annotations

import json
import re
from typing import Any

from wms2.reqmgr.arguments import unset
from wms2.reqmgr.errors import RequestImportError

GPU_CHOICES = ("forbidden", "optional", "required")
_MANDATORY = {"GPUMemoryMB", "CUDARuntime", "CUDACapabilities"}
_OPTIONAL = {"GPUName", "CUDADriverVersion", "CUDARuntimeVersion"}
_CUDA_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?$")  # Lexicon.CUDA_VERSION_REGEX


def _decode(field: str, value: Any) -> Any:
    """GPUParams as stored (a JSON string) or already decoded (a dict, from --file)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise RequestImportError(f"{field} {value!r} is not a valid JSON object") from None
    return value


def check_gpu_params(field: str, params: Any) -> dict[str, Any] | None:
    """One decoded GPUParams object, validated as Lexicon.gpuParameters does."""
    if params is None:
        return None
    if not isinstance(params, dict):
        raise RequestImportError(f"{field} {params!r} is not a dictionary")
    keys = set(params)
    if not keys >= _MANDATORY:
        missing = ", ".join(sorted(_MANDATORY - keys))
        raise RequestImportError(f"{field} {params!r} lacks the mandatory {missing}")
    if keys - _MANDATORY - _OPTIONAL:
        unknown = ", ".join(sorted(keys - _MANDATORY - _OPTIONAL))
        raise RequestImportError(f"{field} {params!r} has unsupported arguments: {unknown}")
    memory = params["GPUMemoryMB"]
    if isinstance(memory, bool) or not isinstance(memory, int) or memory <= 0:
        raise RequestImportError(f"{field}.GPUMemoryMB {memory!r} must be an integer > 0")
    caps = params["CUDACapabilities"]
    if not isinstance(caps, list) or not caps:
        raise RequestImportError(f"{field}.CUDACapabilities {caps!r} must be a non-empty list")
    for cap in caps:
        if not isinstance(cap, str) or not _CUDA_VERSION.match(cap):
            raise RequestImportError(f"{field}.CUDACapabilities item {cap!r} is not like '7.5'")
    runtime = params["CUDARuntime"]
    if not isinstance(runtime, str) or not _CUDA_VERSION.match(runtime):
        raise RequestImportError(f"{field}.CUDARuntime {runtime!r} is not like '11.2'")
    return params


def _choice(field: str, value: Any) -> str:
    if value not in GPU_CHOICES:
        raise RequestImportError(f"{field} {value!r} must be one of {', '.join(GPU_CHOICES)}")
    return str(value)


def step_gpu(
    doc: dict[str, Any], step: dict[str, Any], kind: str, name: str, where: str
) -> tuple[str, dict[str, Any] | None]:
    """(RequiresGPU, GPUParams) of one step: its own values, else the top level's (a
    dict keyed by the step's name, for a TaskChain), else forbidden / none."""
    own = step.get("RequiresGPU") if kind else None
    top = doc.get("RequiresGPU")
    field = f"RequiresGPU{where}" if not unset(own) or isinstance(top, dict) else "RequiresGPU"
    if not unset(own):
        required = _choice(field, own)
    elif isinstance(top, dict):  # WMTask.setTaskGPUSettings: a task not named is forbidden
        required = _choice(field, top.get(name) or "forbidden")
    else:
        required = _choice(field, "forbidden" if unset(top) else top)
    own_params = _decode(f"GPUParams{where}", step.get("GPUParams")) if kind else None
    if kind and not unset(own_params):
        params = check_gpu_params(f"GPUParams{where}", own_params)
    else:
        top_params = _decode("GPUParams", doc.get("GPUParams"))
        if isinstance(top_params, dict) and not set(top_params) & (_MANDATORY | _OPTIONAL):
            # Keyed by TaskName (a TaskChain): a task it does not name has none.
            params = check_gpu_params(f"GPUParams{where}", top_params.get(name))
        else:
            params = check_gpu_params("GPUParams", None if unset(top_params) else top_params)
    if required != "forbidden" and params is None:
        raise RequestImportError(f"{field} {required!r} but GPUParams is empty or not given")
    return required, params


def job_gpu(
    steps: list[tuple[str, dict[str, Any] | None]],
) -> tuple[str, dict[str, Any] | None]:
    """The job's (RequiresGPU, GPUParams) over its steps (WMTask.getRequiresGPU and
    getGPURequirements)."""
    wanted = {required for required, _ in steps}
    required = next((c for c in ("required", "optional") if c in wanted), "forbidden")
    params = next((p for _, p in steps if p), None)
    return required, params
