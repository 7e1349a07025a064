"""Planning a DQMHarvest request: the DQMIO dataset's files and lumis (the request's run
and lumi selection applied, as for any input), harvesting jobs per run or over all runs
(wms2.planning.harvest_jobs), and a DAG of those jobs alone (wms2.dagfiles.harvest).

There is no processing, merge or output dataset: WMCore's DQMHarvest registers nothing
and its result is the DQM GUI upload.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from wms2.config import Settings
from wms2.dagfiles import DagLayout
from wms2.dagfiles.dagtext import meta_lines, write_dag_file
from wms2.dagfiles.harvest import config_url, write_harvest_nodes
from wms2.dagfiles.writer import SCRIPTS_DIR, STATUS_UPDATE_SEC, write_priority_file
from wms2.models import Request
from wms2.planning.harvest_jobs import harvest_jobs
from wms2.planning.inputs import file_query
from wms2.planning.splitting import SplittingError
from wms2.services.protocols import FileCatalog


@dataclass
class HarvestPlan:
    dag_file: Path
    jobs: int
    input_files: int
    events: int
    files_written: int


def plan_dqm_harvest(
    request: Request, layout: DagLayout, files_svc: FileCatalog, settings: Settings
) -> HarvestPlan:
    harvest = request.harvest
    assert harvest is not None  # the import gives every DQMHarvest one
    query = file_query(request)
    files = files_svc.list_files(query)
    kept = files_svc.file_lumis(query) if files else {}
    lumis = {f.lfn: kept.get(f.lfn, []) for f in files}
    jobs = harvest_jobs(lumis, harvest["unit"])
    if not jobs:
        raise SplittingError(
            f"the data selection leaves no lumi of {query.dataset} to harvest"
            if query.lumi_filter().active
            else f"input dataset {query.dataset} has no lumis to harvest"
        )
    root = layout.root
    root.mkdir(parents=True, exist_ok=True)
    layout.bin_dir.mkdir(exist_ok=True)
    for script in SCRIPTS_DIR.glob("*.py"):
        shutil.copyfile(script, layout.bin_dir / script.name)
        (layout.bin_dir / script.name).chmod(0o755)
    priority_file = write_priority_file(layout, request.priority)
    config = root / "dagman.config"
    config.write_text("DAGMAN_MAX_JOBS_IDLE = 1000\n")
    url = config_url(request.payload_config, harvest["config_cache_id"])
    lines = [
        f"# WMS2 DAG of {len(jobs)} harvesting job(s) of {harvest['dataset']}",
        *meta_lines(
            config=config,
            status_file=layout.status_file,
            status_update_sec=STATUS_UPDATE_SEC,
            jobstate_log=layout.jobstate_log,
        ),
        *write_harvest_nodes(
            root,
            layout.bin_dir,
            request.request_name,
            harvest,
            jobs,
            url,
            priority_file,
            settings.payload_mode,
        ),
    ]
    write_dag_file(layout.dag_file, lines)
    return HarvestPlan(
        dag_file=layout.dag_file,
        jobs=len(jobs),
        input_files=len({f for j in jobs for f in j.files}),
        events=sum(f.events or 0 for f in files if lumis[f.lfn]),
        files_written=len(jobs) + 4,
    )
