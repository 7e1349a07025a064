"""What a finished DAG really produced, from the authoritative files: the outer node
status file, JOBSTATE_LOG, the rescue DAGs and each work unit's merge report. A request
completes only when every planned work unit's output was recorded; this tells which were
not, and why, and writes the rescue DAGs that let a resubmission skip finished work."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wms2.dagfiles.layout import DagLayout
from wms2.dagman.dagfile import DagSyntaxError, apply_rescue, parse_dag, rescue_files
from wms2.dagman.records import DONE, NOT_READY, NodeRecord, write_rescue
from wms2.dagman.status import MergeReportError, read_merge_output
from wms2.failures.memory_rescue import raise_rescue_memory
from wms2.failures.rounds import write_exclusions
from wms2.tracking.group_rescue import ensure_group_rescue, group_done_nodes, recorded_done

WORK_UNIT_PREFIX = "mg_"


@dataclass
class Reconciliation:
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # unit -> merge report
    unreported: dict[str, str] = field(default_factory=dict)  # unit -> why it has no output


def planned_work_units(layout: DagLayout) -> list[str]:
    """The work units the outer DAG plans (its SUBDAG nodes), in order."""
    spec = parse_dag(layout.dag_file)
    return sorted(n for n in spec.nodes if n.startswith(WORK_UNIT_PREFIX))


def done_by_dagman(layout: DagLayout) -> set[str]:
    """Work units DAGMan counts DONE: in its JOBSTATE_LOG, the last readable status file
    or the newest rescue DAG."""
    spec = parse_dag(layout.dag_file)
    rescues = rescue_files(layout.dag_file)
    if rescues:
        try:
            apply_rescue(spec, rescues[-1])
        except (DagSyntaxError, OSError):
            spec = parse_dag(layout.dag_file)  # an unreadable rescue DAG adds nothing
    return {n for n in recorded_done(spec) if n.startswith(WORK_UNIT_PREFIX)}


def reconcile_work_units(
    layout: DagLayout,
    known: set[str],
    dag_succeeded: bool,
    attempts: int = 3,
    wait_sec: float = 1.0,
) -> Reconciliation:
    """Every planned unit not in `known` that has a readable merge report is reported.
    A unit that should have one (the DAG succeeded, or DAGMan counts it DONE) but whose
    report stays unreadable over `attempts` reads (it may be being rewritten) is listed in
    `unreported` with the reason. Units that simply did not finish are neither."""
    result = Reconciliation()
    pending = [u for u in planned_work_units(layout) if u not in known]
    should_exist = set(pending) if dag_succeeded else done_by_dagman(layout)
    for attempt in range(attempts):
        retry = []
        for unit in pending:
            try:
                result.reports[unit] = read_merge_output(layout.merge_output(unit))
            except MergeReportError as e:
                if unit in should_exist:
                    result.unreported[unit] = str(e)
                    retry.append(unit)
        if not retry or attempt == attempts - 1:
            break
        for unit in retry:
            del result.unreported[unit]
        pending = retry
        time.sleep(wait_sec)
    return result


def ensure_rescue(layout: DagLayout, recorded: set[str], memory_factor: float) -> Path | None:
    """Before a DAG is submitted again: make sure no resubmission reruns finished work,
    even when DAGMan left no rescue DAG (it was lost, or it exited successfully while
    being stopped). The newest outer rescue DAG marks DONE every unit whose group DAG
    finished as DAGMan saw it; every other unit's group DAG gets a rescue DAG of its own
    from the group's records (group_rescue), so only its unfinished nodes run, e.g. the
    cleanup of a unit whose output was `recorded` while the cleanup ran, the sites
    that failed the unit for site reasons are excluded from its next round, and its
    processing jobs start with the memory its nodes were raised to or failed without
    (`memory_factor`: one raise's factor). The outer rescue DAG used, or None when no unit
    is done yet."""
    done = done_by_dagman(layout)
    spec = parse_dag(layout.dag_file)
    unfinished = sorted(set(planned_work_units(layout)) - done)
    for unit in unfinished:
        node = spec.nodes[unit]
        try:
            read_merge_output(layout.merge_output(unit))
            usable = True
        except MergeReportError:
            usable = False
        group_dag = node.directory / node.submit_file
        nodes = group_done_nodes(group_dag, node.directory, unit in recorded, usable)
        ensure_group_rescue(group_dag, node.directory, nodes)
        # What the unit's failed tries taught: its next round avoids the sites that
        # failed its jobs for site reasons (read by the group's site PRE scripts).
        write_exclusions(node.directory)
    raise_rescue_memory(layout, unfinished, memory_factor)
    if not done:
        return None
    rescues = rescue_files(layout.dag_file)
    if rescues:
        apply_rescue(spec, rescues[-1])
        if done <= {n for n, node in spec.nodes.items() if node.done}:
            return rescues[-1]
    units = planned_work_units(layout)
    records = [NodeRecord(n, DONE if n in done else NOT_READY) for n in units]
    return write_rescue(layout.dag_file, records)
