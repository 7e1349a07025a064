"""Planning entry point: request (+ pilot metrics) -> a DAG directory ready for DAGMan.

Fetches files and lumis (DBS or catalog), replicas (Rucio or catalog), splits, plans merge
groups and writes the directory. Returns a small summary; Temporal payloads must stay far
below 2 MB, so nothing here returns node lists.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

from pydantic import BaseModel, Field

from wms2.capacity import planned_throttles
from wms2.config import Settings
from wms2.dagfiles import DagLayout, PayloadOptions, dag_directory, write_dag_directory
from wms2.dagfiles.layout import PILOT_DIR
from wms2.dagfiles.writer import write_pilot_directory
from wms2.models import PilotMetrics, Request
from wms2.plan_harvest import plan_dqm_harvest
from wms2.planning.gc_pause import gc_paused
from wms2.planning.inputs import gather_input, pileup_of
from wms2.planning.lfn import merged_lfn, merged_lfn_base
from wms2.planning.merging import plan_merge_groups
from wms2.planning.pileup_slices import assign_pileup_slices
from wms2.planning.splitting import Resources, SplittingError, split
from wms2.services.protocols import FileCatalog, ReplicaCatalog
from wms2.sites.availability import site_status_path
from wms2.sites.health import ledger_path

MAX_WARNINGS = 20


class PlanSummary(BaseModel):
    request_name: str
    dag_dir: str
    dag_file: str
    total_nodes: int
    total_edges: int
    node_counts: dict[str, int]
    work_units: int
    events: int
    input_files: int
    output_datasets: list[str]
    files_written: int
    seconds: float
    warnings: list[str] = Field(default_factory=list)


def resources_for(request: Request, metrics: PilotMetrics | None) -> Resources:
    """Pilot measurements when there are any, else the requestor's estimates (urgent)."""
    if metrics is not None:
        return Resources(
            time_per_event_sec=metrics.time_per_event_sec,
            size_per_event_kb=metrics.output_size_per_event_kb or request.size_per_event_kb,
            memory_mb=metrics.recommended_memory_mb,
            cores=request.multicore,
        )
    return Resources(
        time_per_event_sec=request.time_per_event_sec,
        size_per_event_kb=request.size_per_event_kb,
        memory_mb=request.memory_mb,
        cores=request.multicore,
    )


def payload_options(settings: Settings) -> PayloadOptions:
    return PayloadOptions(
        mode=settings.payload_mode,
        time_scale=settings.synthetic_time_scale,
        size_scale=settings.synthetic_size_scale,
        max_seconds=settings.synthetic_max_seconds,
        max_output_bytes=settings.synthetic_max_output_bytes,
        cooloff_transient=settings.post_cooloff_transient_sec,
        cooloff_site=settings.post_cooloff_site_sec,
        cooloff_max=settings.post_cooloff_max_sec,
        max_post_scripts=settings.dagman_max_post_scripts,
        site_status_file=str(site_status_path(settings.submit_dir)),
        outcome_ledger=str(ledger_path(settings.submit_dir)),
        site_defer_sec=settings.site_recheck_sec,
        memory_per_core_mb=settings.memory_per_core_mb,
        memory_factor=settings.memory_bump_factor,
        condor_memory_retry=settings.condor_memory_retry,
    )


def plan_request(
    request: Request,
    files_svc: FileCatalog,
    replicas_svc: ReplicaCatalog,
    settings: Settings,
    metrics: PilotMetrics | None = None,
    dry_run: bool = False,
    unavailable_sites: dict[str, str] | None = None,
) -> PlanSummary:
    """Plan the request into its DAG directory; a dry run plans into a directory of its
    own under the state directory, so a live request's DAG directory is never touched.
    `unavailable_sites` (name -> status): what the site manager took out; never planned to."""
    with gc_paused():  # wms2.planning.gc_pause: a third of planning's CPU otherwise
        return _plan(
            request, files_svc, replicas_svc, settings, metrics, dry_run, unavailable_sites
        )


def _plan(
    request: Request,
    files_svc: FileCatalog,
    replicas_svc: ReplicaCatalog,
    settings: Settings,
    metrics: PilotMetrics | None,
    dry_run: bool,
    unavailable_sites: dict[str, str] | None,
) -> PlanSummary:
    started = time.monotonic()
    if not request.output_datasets and request.request_type != "DQMHarvest":
        raise SplittingError(f"request {request.request_name!r} names no output dataset")
    root = dry_run_dir(settings) if dry_run else settings.submit_dir
    layout = DagLayout(dag_directory(root, request.request_name))
    if not dry_run:
        layout.check_replannable()
    # A fresh plan starts from an empty directory: status, rescue and merge files of an
    # earlier run of this request must never be read as this run's progress.
    if layout.dag_file.exists():
        for child in layout.root.iterdir():
            if child.name != PILOT_DIR:
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    if request.request_type == "DQMHarvest":  # harvesting jobs only (wms2.plan_harvest)
        h = plan_dqm_harvest(request, layout, files_svc, settings)
        summary = PlanSummary(
            request_name=request.request_name,
            dag_dir=str(layout.root),
            dag_file=str(h.dag_file),
            total_nodes=h.jobs,
            total_edges=0,
            node_counts={"Harvest": h.jobs},
            # No merge group, no output: its jobs are nodes, its result the DQM upload
            # the request makes after the DAG (work units are merge groups alone).
            work_units=0,
            events=h.events,
            input_files=h.input_files,
            output_datasets=[],
            files_written=h.files_written,
            seconds=round(time.monotonic() - started, 3),
        )
        layout.plan_file.write_text(summary.model_dump_json(indent=1))
        return summary
    resources = resources_for(request, metrics)
    pileup = pileup_of(request, files_svc, replicas_svc)
    try:
        inp = gather_input(
            request, files_svc, replicas_svc, resources, metrics, pileup, settings.stage_tape_input
        )
    finally:
        files_svc.forget_cached()
    if unavailable_sites:
        inp = dataclasses.replace(inp, unavailable_sites=dict(unavailable_sites))
    result = split(inp)
    if pileup and inp.params.get("deterministic_pileup"):
        assign_pileup_slices(result.nodes, inp.algo, inp.params, inp.generation)
    input_files = len(inp.files)
    del inp  # the input files and their lumis: the nodes hold what the writer needs
    groups = plan_merge_groups(
        result.nodes, resources.size_per_event_kb, settings.target_merged_size_bytes
    )
    base = merged_lfn_base(
        request.merged_lfn_base, request.output_datasets[0], request.input_dataset
    )
    outputs = [
        {
            "dataset": ds,
            "lfns": [merged_lfn(ds, g.index, request.request_name, base) for g in groups],
        }
        for ds in request.output_datasets
    ]
    written = write_dag_directory(
        layout,
        request,
        groups,
        outputs,
        resources,
        payload_options(settings),
        Path(settings.output_dir).resolve(),
        # MergeGroup within what a schedd lets one owner run (wms2.capacity).
        planned_throttles(
            settings.category_throttles,
            settings.schedd_limits,
            settings.submit_schedds or [settings.schedd_name or "*"],
        ),
        [p.manifest() for p in pileup],
    )
    summary = PlanSummary(
        request_name=request.request_name,
        dag_dir=str(layout.root),
        dag_file=str(written.dag_file),
        total_nodes=sum(written.node_counts.values()),
        total_edges=written.total_edges,
        node_counts=written.node_counts,
        work_units=len(groups),
        events=sum(n.events for n in result.nodes),
        input_files=input_files,
        output_datasets=list(request.output_datasets),
        files_written=written.files_written,
        seconds=round(time.monotonic() - started, 3),
        warnings=result.warnings[:MAX_WARNINGS]
        + (
            [f"... and {len(result.warnings) - MAX_WARNINGS} more"]
            if len(result.warnings) > MAX_WARNINGS
            else []
        ),
    )
    layout.plan_file.write_text(summary.model_dump_json(indent=1))
    return summary


def dry_run_dir(settings: Settings) -> Path:
    return Path(settings.state_dir) / "dry-run"


def prepare_pilot(request: Request, settings: Settings) -> Path:
    """Write the pilot's sandbox and submit file; returns the submit file."""
    layout = DagLayout(dag_directory(settings.submit_dir, request.request_name))
    sites = request.site_whitelist or [settings.local_site]
    outputs = [{"dataset": ds} for ds in request.output_datasets]
    return write_pilot_directory(
        layout, request, resources_for(request, None), payload_options(settings), outputs, sites
    )


def load_plan(dag_dir: Path) -> PlanSummary:
    return PlanSummary.model_validate(json.loads(DagLayout(Path(dag_dir)).plan_file.read_text()))
