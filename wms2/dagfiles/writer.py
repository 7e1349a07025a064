"""Writes a request's DAG directory (spec Appendix C).

    <dag_dir>/workflow.dag        outer DAG: one SUBDAG EXTERNAL per work unit, MergeGroup throttle
    <dag_dir>/dagman.config       DAGMan configuration (CONFIG, absolute path)
    <dag_dir>/{landing,processing,merge,cleanup}.sub   one submit description per role
    <dag_dir>/sandbox.tar.gz      payload configuration shipped to every node
    <dag_dir>/bin/                worker-node scripts and DAG scripts
    <dag_dir>/mg_NNNNNN/group.dag landing -> processing -> merge -> cleanup
    <dag_dir>/mg_NNNNNN/group_manifest.json   each node's inputs, the group's outputs

Paths inside DAG and submit files are absolute: DAGMan resolves relative ones against the
submitter's working directory.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wms2.dagfiles import submit
from wms2.dagfiles.dagtext import (
    Script,
    check_node_name,
    edge_line,
    job_lines,
    meta_lines,
    subdag_lines,
    write_dag_file,
)
from wms2.dagfiles.gpu import gpu_lines
from wms2.dagfiles.harvest import chain_harvest_lines
from wms2.dagfiles.layout import (
    ELECTED_SITE,
    GROUP_DAG,
    GROUP_MANIFEST,
    LANDING_OUTPUT,
    PILOT_SUBMIT,
    PRIORITY_SUBMIT,
    SITE_SUBMIT,
    DagLayout,
)
from wms2.dagfiles.sandbox import sandbox_manifest, write_sandbox
from wms2.memory.policy import memory_cap
from wms2.models import Request
from wms2.planning.merging import MergeGroup
from wms2.planning.splitting import Resources

SCRIPTS_DIR = Path(__file__).parent / "scripts"
STATUS_UPDATE_SEC = 30


@dataclass(frozen=True)
class PayloadOptions:
    mode: str = "synthetic"
    time_scale: float = 0.01
    size_scale: float = 1e-4
    max_seconds: float = 2.0
    max_output_bytes: int = 1_000_000
    # POST script cool-off before DAGMan retries a node (spec 6.4), in seconds.
    cooloff_transient: float = 60.0  # times 2**retry
    cooloff_site: float = 300.0
    cooloff_max: float = 1800.0
    max_post_scripts: int = 20  # DAGMAN_MAX_POST_SCRIPTS
    # The site manager's view on the submit host (wms2.sites): PRE scripts read the site
    # statuses, POST scripts append outcomes to the ledger; "" leaves them out.
    site_status_file: str = ""
    outcome_ledger: str = ""
    site_defer_sec: float = 300.0  # a PRE with no usable site runs again after this
    # Memory a processing job may grow to after memory evictions or holds (README "Memory").
    memory_per_core_mb: int = 2000
    memory_factor: float = 1.5
    condor_memory_retry: bool = True  # write HTCondor's retry_request_memory_* lines

    def synthetic(self) -> dict[str, float | int]:
        return {
            "time_scale": self.time_scale,
            "size_scale": self.size_scale,
            "max_seconds": self.max_seconds,
            "max_output_bytes": self.max_output_bytes,
        }


@dataclass
class WrittenDag:
    dag_file: Path
    files_written: int
    node_counts: dict[str, int]
    total_edges: int
    outputs: list[dict[str, Any]] = field(default_factory=list)


def _install_scripts(bin_dir: Path) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    for script in SCRIPTS_DIR.glob("*.py"):
        dest = bin_dir / script.name
        shutil.copyfile(script, dest)
        dest.chmod(0o755)


def _prepare_root(
    layout: DagLayout,
    request: Request,
    resources: Resources,
    payload: PayloadOptions,
    outputs: list[dict[str, Any]],
    pileup: list[dict[str, Any]] | None = None,
) -> None:
    """What the DAG and the pilot share: the scripts and the request's sandbox."""
    layout.root.mkdir(parents=True, exist_ok=True)
    _install_scripts(layout.bin_dir)
    manifest = sandbox_manifest(
        request,
        payload.mode,
        payload.synthetic(),
        resources.time_per_event_sec,
        resources.size_per_event_kb,
        resources.memory_mb,
        [
            {
                "dataset": o["dataset"],
                "size_per_event_kb": request.output_size_per_event_kb(o["dataset"]),
            }
            for o in outputs
        ],
        pileup,
    )
    write_sandbox(layout.sandbox, manifest, request)


def _lumi_ranges(lumis: list[tuple[int, int]]) -> list[list[int]]:
    """[(run, lumi)] -> [[run, first, last]] (compact, for manifests)."""
    ranges: list[list[int]] = []
    for run, lumi in sorted(lumis):
        if ranges and ranges[-1][0] == run and ranges[-1][2] + 1 == lumi:
            ranges[-1][2] = lumi
        else:
            ranges.append([run, lumi, lumi])
    return ranges


def _group_manifest(
    request: Request, group: MergeGroup, outputs: list[dict[str, Any]], output_dir: Path
) -> dict[str, Any]:
    return {
        "request": request.request_name,
        "group": group.name,
        "group_index": group.index,
        "sites": group.sites,  # the landing's candidates, read again when it runs
        "output_dir": str(output_dir),
        "outputs": [{"dataset": o["dataset"], "lfn": o["lfns"][group.index]} for o in outputs],
        "nodes": {
            n.name: {
                "files": n.files,
                "events": n.events,
                "lumis": _lumi_ranges(n.lumis),
                "first_event": n.first_event,
                "last_event": n.last_event,
                "sites": n.sites,
                **({"parents": n.parents} if n.parents else {}),
                **({"pileup_skip": n.pileup_skip} if n.pileup_skip is not None else {}),
            }
            for n in group.nodes
        },
    }


# A PRE script's "no usable site now": sysexits EX_TEMPFAIL, for `SCRIPT DEFER`.
SITE_DEFER_STATUS = 75

_NODE = "\x00"  # stands for a processing node's name in the per-node template
_GROUP = "\x01"  # stands for a work unit's name in the per-group template


class GroupDagText:
    """The text of every group DAG, from templates built once per DAG: 100,000 nodes
    are a string replace each, not a few dozen small calls and path joins each."""

    def __init__(
        self,
        layout: DagLayout,
        throttles: dict[str, int],
        payload: PayloadOptions,
        request_name: str = "-",
    ) -> None:
        bin_dir, root = layout.bin_dir, layout.root
        status = payload.site_status_file
        defer = (SITE_DEFER_STATUS, max(1, round(payload.site_defer_sec))) if status else None
        pin = Script(
            bin_dir / "pin_site.py",
            (ELECTED_SITE, SITE_SUBMIT, *((status, GROUP_MANIFEST, str(SITE_DEFER_STATUS))
                                          if status else ())),
            defer,
        )  # fmt: skip
        self.landing_pre = (
            Script(
                bin_dir / "landing_sites.py",
                (status, GROUP_MANIFEST, SITE_SUBMIT, str(SITE_DEFER_STATUS)),
                defer,
            )
            if status
            else None
        )
        cooloff = (payload.cooloff_transient, payload.cooloff_site, payload.cooloff_max)
        # $CLUSTERID: the POST script finds where the job ran in the group's event log.
        ledger = (
            (payload.outcome_ledger, request_name, "$CLUSTERID") if payload.outcome_ledger else ()
        )
        post = Script(
            bin_dir / "post_script.py",
            ("$JOB", "$RETURN", "$RETRY", *(f"{c:g}" for c in cooloff), *ledger),
        )
        limits = {k: v for k, v in throttles.items() if k in ("Processing", "Merge", "Cleanup")}
        self.head = "\n".join(
            [
                f"# {_GROUP}: landing elects the site, every other node is pinned to it",
                *meta_lines(
                    config=root / "dagman.config",  # each SUBDAG's DAGMan has its own limits
                    status_file=layout.group_dir(_GROUP) / f"{GROUP_DAG}.status",
                    status_update_sec=STATUS_UPDATE_SEC,
                    maxjobs=limits,
                    # Every node event as it happens: what a lost DAGMan's group had
                    # finished (wms2.tracking.group_rescue); the status file may be 30 s old.
                    jobstate_log=layout.group_dir(_GROUP) / f"{GROUP_DAG}.jobstate.log",
                ),
            ]
        )
        self.landing_sub = root / "landing.sub"
        self.elect = Script(
            bin_dir / "elect_site.py", (LANDING_OUTPUT, ELECTED_SITE, SITE_SUBMIT, "$RETURN")
        )
        self.processing = "\n".join(
            job_lines(
                _NODE,
                root / "processing.sub",
                vars={"node": _NODE},
                retry=3,
                unless_exit=2,
                pre=pin,
                post=post,
                category="Processing",
            )
        )
        self.tail = "\n".join(
            [
                *job_lines(
                    "merge",
                    root / "merge.sub",
                    retry=2,
                    unless_exit=2,
                    pre=pin,
                    post=post,
                    category="Merge",
                ),
                *job_lines("cleanup", root / "cleanup.sub", retry=1, pre=pin, category="Cleanup"),
            ]
        )

    def chunks(self, group: MergeGroup) -> Iterator[str]:
        yield self.head.replace(_GROUP, group.name)
        yield from job_lines(
            "landing",
            self.landing_sub,
            # Without the site manager's PRE script, the planned sites stand as they are.
            vars=None if self.landing_pre else {"sites": ",".join(group.sites)},
            retry=2,
            pre=self.landing_pre,
            post=self.elect,
        )
        procs = [check_node_name(n.name) for n in group.nodes]
        template = self.processing
        yield "\n".join([template.replace(_NODE, name) for name in procs])
        yield self.tail
        yield edge_line(["landing"], procs)
        yield edge_line(procs, ["merge"])
        yield edge_line(["merge"], ["cleanup"])


def _outer_dag_lines(
    layout: DagLayout, groups: list[MergeGroup], config: Path, merge_groups: int
) -> Iterator[str]:
    yield f"# WMS2 DAG of {len(groups)} work units; each is a self-contained SUBDAG"
    yield from meta_lines(
        config=config,
        status_file=layout.status_file,
        status_update_sec=STATUS_UPDATE_SEC,
        maxjobs={"MergeGroup": merge_groups},
        # Work units' ends as DAGMan sees them, one appended line each: the tracker reads
        # only what is new (the status file is rewritten whole, every 30 s at best).
        jobstate_log=layout.jobstate_log,
    )
    # Each unit's PRE script applies a sizing WMS2 prepared from finished units' jobs
    # (wms2.sizing) and marks the unit started, just before its SUBDAG starts.
    apply_sizing = Script(layout.bin_dir / "apply_sizing.py")
    for group in groups:
        yield from subdag_lines(group.name, GROUP_DAG, layout.group_dir(group.name), "MergeGroup")
        yield apply_sizing.line("PRE", group.name)


def write_priority_file(layout: DagLayout, priority: int) -> Path:
    """The DAG's JobPrio, included by every submit description (atomically: condor_submit
    may read it at any moment)."""
    path = layout.root / PRIORITY_SUBMIT
    tmp = path.with_name(f"{path.name}.tmp")
    tmp.write_text(f"priority = {int(priority)}\n")
    tmp.replace(path)
    return path


def write_dag_directory(
    layout: DagLayout,
    request: Request,
    groups: list[MergeGroup],
    outputs: list[dict[str, Any]],
    resources: Resources,
    payload: PayloadOptions,
    output_dir: Path,
    throttles: dict[str, int],
    pileup: list[dict[str, Any]] | None = None,
) -> WrittenDag:
    """Write the whole directory. `outputs` lists each output dataset with its merged LFN
    per work unit (`{"dataset": ..., "lfns": [...]}`); `pileup` each step's pileup."""
    root = layout.root
    _prepare_root(layout, request, resources, payload, outputs, pileup)
    max_disk = max(n.est_disk_kb for g in groups for n in g.nodes)
    max_time = max(n.est_time_sec for g in groups for n in g.nodes)
    name = request.request_name
    priority_file = write_priority_file(layout, request.priority)
    with_sites = bool(payload.site_status_file)
    max_memory = memory_cap(
        resources.memory_mb, request.memory_mb, resources.cores, payload.memory_per_core_mb
    )
    memory_retry = submit.memory_retry_lines(
        resources.memory_mb, max_memory, payload.memory_factor, payload.condor_memory_retry
    )
    gpu = gpu_lines(request.requires_gpu, request.gpu_params)
    submit_files = {
        "landing.sub": submit.landing_submit(layout.bin_dir, name, priority_file, with_sites, gpu),
        "processing.sub": submit.processing_submit(
            layout.bin_dir,
            layout.sandbox,
            name,
            resources.cores,
            resources.memory_mb,
            max_disk,
            max_time // 60 + 1,
            priority_file,
            memory_retry,
            gpu,
        ),
        "merge.sub": submit.merge_submit(layout.bin_dir, name, 2000, priority_file),
        "cleanup.sub": submit.cleanup_submit(layout.bin_dir, name, priority_file),
    }
    for fname, text in submit_files.items():
        (root / fname).write_text(text)
    config = root / "dagman.config"
    config.write_text(
        "DAGMAN_MAX_SUBMITS_PER_INTERVAL = 100\n"
        "DAGMAN_USER_LOG_SCAN_INTERVAL = 5\n"
        "DAGMAN_MAX_JOBS_IDLE = 1000\n"
        f"DAGMAN_MAX_POST_SCRIPTS = {payload.max_post_scripts}\n"
    )
    group_text = GroupDagText(layout, throttles, payload, name)
    for group in groups:
        gdir = layout.group_dir(group.name)
        gdir.mkdir(exist_ok=True)
        (gdir / GROUP_MANIFEST).write_text(
            json.dumps(_group_manifest(request, group, outputs, output_dir), separators=(",", ":"))
        )
        write_dag_file(gdir / GROUP_DAG, group_text.chunks(group))

    # EnableHarvesting: harvesting nodes after every work unit (wms2.dagfiles.harvest).
    harvest = chain_harvest_lines(
        root, layout.bin_dir, request, groups, outputs, output_dir, priority_file, payload.mode
    )
    write_dag_file(
        layout.dag_file,
        [*_outer_dag_lines(layout, groups, config, throttles.get("MergeGroup", 10)), *harvest],
    )

    n_proc = sum(len(g.nodes) for g in groups)
    n_harvest = sum(1 for line in harvest if line.startswith("JOB "))
    return WrittenDag(
        dag_file=layout.dag_file,
        files_written=len(list(layout.bin_dir.iterdir())) + len(submit_files) + 3 + 2 * len(groups),
        node_counts={
            "Landing": len(groups),
            "Processing": n_proc,
            "Merge": len(groups),
            "Cleanup": len(groups),
            # EnableHarvesting: the request uploads their DQM files after the DAG.
            **({"Harvest": n_harvest} if n_harvest else {}),
        },
        total_edges=2 * n_proc + len(groups),
        outputs=outputs,
    )


def write_pilot_directory(
    layout: DagLayout,
    request: Request,
    resources: Resources,
    payload: PayloadOptions,
    outputs: list[dict[str, Any]],
    sites: list[str],
) -> Path:
    """The pilot job's directory: the same sandbox and payload, run in pilot mode."""
    _prepare_root(layout, request, resources, payload, outputs)
    layout.pilot_dir.mkdir(exist_ok=True)
    sub = layout.pilot_dir / PILOT_SUBMIT
    sub.write_text(
        submit.pilot_submit(
            layout.bin_dir,
            layout.sandbox,
            request.request_name,
            resources.memory_mb,
            sites,
            gpu_lines(request.requires_gpu, request.gpu_params),
        )
    )
    return sub
