"""GPU slots of the local pool (WMS2_LOCAL_GPUS) and the matching of GPU jobs to them.

A site of the pool may declare GPUs: how many, and what each offers (memory, CUDA compute
capability, the newest CUDA runtime its driver supports). A job that asks for GPUs
(request_gpus > 0) matches only a site with that many free GPUs whose memory is at least
gpus_minimum_memory, whose capability lies in [gpus_minimum_capability,
gpus_maximum_capability] and whose runtime is at least gpus_minimum_runtime, as
condor_submit's require_gpus makes a real negotiator match a GPU. A job that asks for
none (RequiresGPU optional or forbidden) runs on any slot.
"""

from __future__ import annotations

from typing import Any

State = dict[str, Any]


def _version(value: str) -> tuple[int, ...]:
    return tuple(int(part) for part in str(value).split("."))


def machine_ad_lines(gpu: dict[str, Any] | None) -> str:
    """What a job at a GPU site sees of its GPUs in the machine ad."""
    if not gpu:
        return ""
    return (
        f"GPUs = {gpu['gpus']}\nGPUs_GlobalMemoryMb = {gpu['memory_mb']}\n"
        f"GPUs_Capability = {gpu['capability']}\n"
        f'GPUs_MaxSupportedVersion = "{gpu["runtime"]}"\n'
    )


def free_gpus(state: State) -> dict[str, int]:
    """GPUs not taken by running jobs, per GPU site."""
    free = {site: int(g["gpus"]) for site, g in state.get("gpus", {}).items()}
    for job in state["running"].values():
        if job.get("gpus") and job["site"] in free:
            free[job["site"]] -= int(job["gpus"])
    return free


def fits(need: dict[str, Any] | None, site: str, state: State, free: dict[str, int]) -> bool:
    """Whether a job with GPU needs `need` may start at `site` now."""
    if not need:
        return True
    gpu = state.get("gpus", {}).get(site)
    if gpu is None or free.get(site, 0) < need["count"]:
        return False
    if need["memory_mb"] is not None and int(gpu["memory_mb"]) < need["memory_mb"]:
        return False
    capability = float(gpu["capability"])
    if need["min_capability"] is not None and capability < float(need["min_capability"]):
        return False
    if need["max_capability"] is not None and capability > float(need["max_capability"]):
        return False
    return need["runtime"] is None or _version(gpu["runtime"]) >= _version(need["runtime"])
