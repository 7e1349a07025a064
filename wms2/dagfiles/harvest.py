"""Harvesting nodes of a DAG: one submit description (harvest.sub) and one manifest per
harvesting job under <dag_dir>/harvest/.

- A DQMHarvest request's DAG is its harvesting jobs alone (workflow.dag: one JOB each).
- A chain with EnableHarvesting gets them in its outer DAG as children of every work
  unit (PARENT mg_... CHILD harvest_...): they read the merged DQMIO files, so they run
  once every merge of that output is done, as WMCore's harvesting subscription waits
  for its fileset to close.

The jobs run in the local universe: the merged files they read live in the submit
host's storage area, and the DQM GUI upload follows from there (wms2.outputs.dqm_upload).
Harvesting never asks for a GPU (WMTask.setTaskGPUSettings skips it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wms2.dagfiles.dagtext import check_node_name, edge_line, job_lines
from wms2.planning.harvest_jobs import HarvestJob, dqm_file_name, harvest_jobs

HARVEST_DIR = "harvest"
HARVEST_SUBMIT = "harvest.sub"


def harvest_submit(bin_dir: Path, request_name: str, priority_file: Path | None) -> str:
    return "\n".join(
        [
            *([f"include : {priority_file}"] if priority_file is not None else []),
            f"executable = {bin_dir / 'wms2_harvest.py'}",
            f"arguments = --manifest {HARVEST_DIR}/$(node).json",
            "universe = local",
            "log = harvest.log",
            f'+CMS_RequestName = "{request_name}"',
            '+CMS_NodeRole = "Harvesting"',
            f"batch_name = {request_name}",
            f"output = {HARVEST_DIR}/$(node).out",
            f"error = {HARVEST_DIR}/$(node).err",
            "queue",
            "",
        ]
    )


def write_harvest_nodes(
    root: Path,
    bin_dir: Path,
    request_name: str,
    harvest: dict[str, Any],
    jobs: list[HarvestJob],
    config_url: str | None,
    priority_file: Path | None,
    mode: str,
) -> list[str]:
    """Write harvest.sub and each job's manifest; the DAG lines of the jobs."""
    (root / HARVEST_SUBMIT).write_text(harvest_submit(bin_dir, request_name, priority_file))
    hdir = root / HARVEST_DIR
    hdir.mkdir(exist_ok=True)
    lines: list[str] = []
    for job in jobs:
        manifest = {
            "request": request_name,
            "mode": mode,
            "dataset": harvest["dataset"],
            "unit": harvest["unit"],
            "runs": job.runs,
            "run_number": job.run_number,
            "files": job.files,
            "lumis": job.lumis,
            "config_url": config_url,
            "sequences": harvest.get("sequences", []),
            "upload_url": harvest["upload_url"],
            "dqm_file": dqm_file_name(harvest["dataset"], job.run_number),
        }
        (hdir / f"{job.name}.json").write_text(json.dumps(manifest, indent=1))
        lines += job_lines(
            check_node_name(job.name),
            root / HARVEST_SUBMIT,
            vars={"node": job.name},
            retry=2,
            category="Harvest",
        )
    return lines


def chain_harvest_jobs(
    groups: list[Any], outputs: list[dict[str, Any]], dataset: str, output_dir: Path, unit: str
) -> list[HarvestJob]:
    """The harvesting jobs of a chain's DQMIO output: the merged file of each work unit,
    read for the runs its processing jobs covered."""
    lfns = next(o["lfns"] for o in outputs if o["dataset"] == dataset)
    lumis: dict[str, list[tuple[int, int]]] = {}
    for group in groups:
        pfn = str(output_dir / lfns[group.index].lstrip("/"))
        lumis[pfn] = [lumi for node in group.nodes for lumi in node.lumis] or [(1, 1)]
    return harvest_jobs(lumis, unit)


def chain_harvest_edges(groups: list[Any], jobs: list[HarvestJob]) -> Iterator[str]:
    """Every harvesting job after every work unit (their merges write what it reads)."""
    if jobs:
        yield edge_line([g.name for g in groups], [j.name for j in jobs])


def config_url(payload_config: dict[str, Any], config_cache_id: str | None) -> str | None:
    if not config_cache_id:
        return None
    base = payload_config.get("config_cache_url", "https://cmsweb.cern.ch/couchdb")
    db = payload_config.get("couch_db_name", "reqmgr_config_cache")
    return f"{base}/{db}/{config_cache_id}/configFile"


def chain_harvest_lines(
    root: Path,
    bin_dir: Path,
    request: Any,
    groups: list[Any],
    outputs: list[dict[str, Any]],
    output_dir: Path,
    priority_file: Path | None,
    mode: str,
) -> list[str]:
    """EnableHarvesting: the harvesting nodes of the outer DAG and their edges ([] when
    the request does not harvest)."""
    harvest = request.harvest
    if not harvest:
        return []
    jobs = chain_harvest_jobs(groups, outputs, harvest["dataset"], output_dir, harvest["unit"])
    url = config_url(request.payload_config, harvest["config_cache_id"])
    lines = write_harvest_nodes(
        root, bin_dir, request.request_name, harvest, jobs, url, priority_file, mode
    )
    return [*lines, *chain_harvest_edges(groups, jobs)]
