"""Submit descriptions. One per role for the whole DAG: per-node values come through DAG
VARS ($(node), $(sites)) and through files relative to the node's group directory (the
group manifest, the site fragment), so 100,000 nodes do not mean 100,000 submit files.

Nothing here puts JSON or shell metacharacters into `arguments`.
"""

from __future__ import annotations

from pathlib import Path

from wms2.dagfiles.layout import GROUP_MANIFEST, LANDING_OUTPUT, SITE_SUBMIT
from wms2.memory.policy import MAX_MEMORY_ATTR, increase_expression


def _common(request_name: str, role: str, priority_file: Path | None = None) -> list[str]:
    # The DAG's priority lives in one file every submit description includes: condor_submit
    # reads it when DAGMan submits the node, so a changed priority reaches every node not
    # yet submitted (idle ones get their JobPrio edited).
    prio = [f"include : {priority_file}"] if priority_file is not None else []
    return [
        *prio,
        "universe = vanilla",
        "should_transfer_files = YES",
        "when_to_transfer_output = ON_EXIT",
        "log = group.log",
        f'+CMS_RequestName = "{request_name}"',
        f'+CMS_NodeRole = "{role}"',
        f"batch_name = {request_name}",
    ]


def landing_submit(
    bin_dir: Path,
    request_name: str,
    priority_file: Path | None = None,
    with_sites: bool = False,
    gpu: list[str] | None = None,
) -> str:
    # With the site manager, the landing's PRE script writes its candidate sites into the
    # group's site fragment when it runs; else the planned list (a DAG VARS) stands.
    sites = f"include : {SITE_SUBMIT}" if with_sites else '+DESIRED_Sites = "$(sites)"'
    return "\n".join(
        [
            f"executable = {bin_dir / 'wms2_landing.py'}",
            *_common(request_name, "Landing", priority_file),
            f"output = {LANDING_OUTPUT}",
            "error = landing.err",
            "request_cpus = 1",
            "request_memory = 100",
            "request_disk = 1000",
            "+WMS2_LandingNode = true",
            sites,
            # A GPU request's landing asks what its jobs ask, so it elects a site they match.
            *(gpu or []),
            "queue",
            "",
        ]
    )


def memory_retry_lines(memory_mb: int, max_mb: int, factor: float, condor_retry: bool) -> list[str]:
    """A job evicted for memory reruns with int(RequestMemory * factor) MB, up to max_mb
    (HTCondor 25.2+, `retry_request_memory_increase`/`_max`; an older condor_submit takes
    them as plain macros); held for memory, WMS2 releases it with as much (MAX_MEMORY_ATTR).
    Nothing when it cannot grow."""
    if max_mb <= memory_mb:
        return []
    retry = [
        f"retry_request_memory_increase = {increase_expression(factor)}",
        # With units: a pool may refuse quantities without (SUBMIT_REQUEST_MISSING_UNITS).
        f"retry_request_memory_max = {max_mb}MB",
    ]
    return [*(retry if condor_retry else []), f"+{MAX_MEMORY_ATTR} = {max_mb}"]


def processing_submit(
    bin_dir: Path,
    sandbox: Path,
    request_name: str,
    cores: int,
    memory_mb: int,
    disk_kb: int,
    wall_minutes: int,
    priority_file: Path | None = None,
    memory_retry: list[str] | None = None,
    gpu: list[str] | None = None,
) -> str:
    return "\n".join(
        [
            f"executable = {bin_dir / 'wms2_payload.py'}",
            f"arguments = --node $(node) --manifest {GROUP_MANIFEST} --sandbox {sandbox.name}",
            *_common(request_name, "Processing", priority_file),
            f"transfer_input_files = {sandbox}, {GROUP_MANIFEST}",
            "transfer_output_files = unmerged",
            "output = $(node).out",
            "error = $(node).err",
            f"request_cpus = {cores}",
            f"request_memory = {memory_mb}",
            *(memory_retry or []),
            f"request_disk = {disk_kb}",
            f"+MaxWallTimeMins = {wall_minutes}",
            # The PRE script writes this fragment: it pins the node to the elected site.
            f"include : {SITE_SUBMIT}",
            *(gpu or []),  # wms2.dagfiles.gpu: WMCore's GPU attributes
            "queue",
            "",
        ]
    )


def merge_submit(
    bin_dir: Path, request_name: str, memory_mb: int, priority_file: Path | None = None
) -> str:
    return "\n".join(
        [
            f"executable = {bin_dir / 'wms2_merge.py'}",
            f"arguments = --manifest {GROUP_MANIFEST}",
            *_common(request_name, "Merge", priority_file),
            f"transfer_input_files = {GROUP_MANIFEST}, elected_site, unmerged",
            "output = merge.out",
            "error = merge.err",
            "request_cpus = 1",
            f"request_memory = {memory_mb}",
            f"include : {SITE_SUBMIT}",
            "queue",
            "",
        ]
    )


def cleanup_submit(bin_dir: Path, request_name: str, priority_file: Path | None = None) -> str:
    # Local universe: the unmerged files live in the group directory on the submit host.
    lines = [
        line.replace("universe = vanilla", "universe = local")
        for line in _common(request_name, "Cleanup", priority_file)
        if "transfer" not in line
    ]
    return "\n".join(
        [
            f"executable = {bin_dir / 'wms2_cleanup.py'}",
            f"arguments = --manifest {GROUP_MANIFEST}",
            *lines,
            "output = cleanup.out",
            "error = cleanup.err",
            "queue",
            "",
        ]
    )


def pilot_submit(
    bin_dir: Path,
    sandbox: Path,
    request_name: str,
    memory_mb: int,
    sites: list[str],
    gpu: list[str] | None = None,
) -> str:
    return "\n".join(
        [
            f"executable = {bin_dir / 'wms2_payload.py'}",
            f"arguments = --pilot --sandbox {sandbox.name}",
            *_common(request_name, "Pilot"),
            f"transfer_input_files = {sandbox}",
            "transfer_output_files = pilot_metrics.json",
            "output = pilot.out",
            "error = pilot.err",
            "request_cpus = 1",
            f"request_memory = {memory_mb}",
            f'+DESIRED_Sites = "{",".join(sites)}"',
            *(gpu or []),
            "queue",
            "",
        ]
    ).replace("log = group.log", "log = pilot.log")
