"""The submit lines of a GPU request, as WMCore's SimpleCondorPlugin.getJobParameters
writes them (its `ad[...]` entries in condor_submit syntax: `My.X` is `+X`):

    RequiresGPU required      +RequiresGPU = 1, request_gpus = 1
    otherwise                 +RequiresGPU = 0, request_gpus = 0
    GPUParams given           +DESIRED_GPUMemoryMB, +DESIRED_GPUMinimumCapability and
                              +DESIRED_GPUMaximumCapability (lowest and highest of
                              CUDACapabilities, sorted as numbers), +DESIRED_GPURuntime
    no GPUParams              each of those UNDEFINED
    always                    gpus_minimum_memory, gpus_minimum_capability,
                              gpus_maximum_capability, gpus_minimum_runtime: the same
                              values; condor_submit turns them into the job's GPU
                              requirement (require_gpus) when it asks for GPUs

A request that forbids GPUs and gives no GPUParams gets none of these lines: that is what
WMCore's 0 and UNDEFINED values mean to the negotiator, and its submit files stay as they
were. Merge, cleanup and harvesting jobs never ask for GPUs (WMTask.setTaskGPUSettings).
"""

from __future__ import annotations

from typing import Any

UNDEFINED = "UNDEFINED"


def gpu_lines(requires_gpu: str, params: dict[str, Any] | None) -> list[str]:
    if requires_gpu == "forbidden" and not params:
        return []
    flag = "1" if requires_gpu == "required" else "0"
    if params:
        caps = sorted(params["CUDACapabilities"], key=float)
        memory, low, high = str(params["GPUMemoryMB"]), str(caps[0]), str(caps[-1])
        runtime = str(params["CUDARuntime"])
    else:
        memory = low = high = runtime = UNDEFINED
    return [
        f"+RequiresGPU = {flag}",
        f"request_gpus = {flag}",
        f"+DESIRED_GPUMemoryMB = {memory}",
        f"+DESIRED_GPUMinimumCapability = {low}",
        f"+DESIRED_GPUMaximumCapability = {high}",
        f"+DESIRED_GPURuntime = {runtime}",
        f"gpus_minimum_memory = {memory}",
        f"gpus_minimum_capability = {low}",
        f"gpus_maximum_capability = {high}",
        f"gpus_minimum_runtime = {runtime}",
    ]
