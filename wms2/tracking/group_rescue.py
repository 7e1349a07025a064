"""A work unit's group DAG after its DAGMan was lost: which of its nodes finished, read
from the group's own records, and the rescue DAG that makes the resubmission skip them.
condor_dagman writes this rescue for every SUBDAG it removes; a DAGMan that was killed
wrote none, so WMS2 rebuilds it.

A node is DONE only on positive evidence: an earlier rescue DAG lists it, the node status
file says STATUS_DONE, or the JOBSTATE_LOG (appended at every event, so the freshest
record) ends its last attempt with the job's and then the POST script's success. A node
whose job or POST was still running, whose POST failed, or that no record mentions is in
doubt and runs again. A node that started (PRE script or job) had all its parents DONE,
as DAGMan starts nothing earlier, so its ancestors are DONE too.
"""

from __future__ import annotations

from pathlib import Path

from wms2.dagman.dagfile import DagSpec, apply_rescue, parse_dag, rescue_files
from wms2.dagman.jobstate import JobstateLog, State
from wms2.dagman.records import NodeRecord, write_rescue
from wms2.dagman.status import (
    DONE,
    FUTILE,
    NOT_READY,
    READY,
    StatusFileIncomplete,
    read_status_file,
)

MERGE_NODE = "merge"  # the group node that writes the unit's merge report (dagfiles.writer)


def _ancestors(spec: DagSpec, nodes: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = [p for n in nodes for p in spec.nodes[n].parents]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(spec.nodes[name].parents)
    return seen


def recorded_done(spec: DagSpec) -> set[str]:
    """The nodes of `spec` (its newest rescue applied) that the group's records prove
    finished."""
    done = {n for n, node in spec.nodes.items() if node.done}
    started = set(done)
    if spec.jobstate_log is not None:
        post_nodes = frozenset(n for n, node in spec.nodes.items() if node.post is not None)
        log = JobstateLog(spec.jobstate_log, post_nodes)
        log.read()
        for name, state in log.nodes.items():
            if name in spec.nodes:
                started.add(name)
                # The job's own success too: a POST script that passed a failed job is in
                # doubt here (DAGMan would take it; rerunning it costs only time).
                if state.state is State.SUCCEEDED and state.job_succeeded is not False:
                    done.add(name)
    try:
        snapshot = read_status_file(spec.status_file) if spec.status_file else None
    except StatusFileIncomplete:
        snapshot = None  # cut off by the kill: the log and rescue DAGs still count
    if snapshot is not None:
        for node, info in snapshot.nodes.items():
            # FUTILE: never started (an ancestor failed) -- its parents are not proven
            # done; counting it started made a failed unit's merge "done" and the whole
            # group run again.
            if node in spec.nodes and info.status not in (NOT_READY, READY, FUTILE):
                started.add(node)
                if info.status == DONE:
                    done.add(node)
    return done | _ancestors(spec, started)


def group_done_nodes(
    group_dag: Path, directory: Path, output_recorded: bool, report_usable: bool
) -> set[str]:
    """The nodes of a unit's group DAG a resubmission must not run again.
    `output_recorded`: WMS2 recorded the unit's merge report, so its merge node (and what
    led to it) stays done whatever else is in doubt: running it again would replace an
    output already registered. A merge node done whose report is unusable and unrecorded
    left nothing to register, and cleanup may have removed its inputs: the whole group
    runs again."""
    spec = parse_dag(group_dag, directory)
    rescues = rescue_files(spec.path)
    if rescues:
        apply_rescue(spec, rescues[-1])
    done = recorded_done(spec)
    if MERGE_NODE in spec.nodes:
        if output_recorded:
            done |= {MERGE_NODE} | _ancestors(spec, {MERGE_NODE})
        elif MERGE_NODE in done and not report_usable:
            return set()
    return done


def ensure_group_rescue(group_dag: Path, directory: Path, done: set[str]) -> Path | None:
    """Make the group's newest rescue DAG mark exactly `done` DONE, writing the next
    `<dag>.rescueNNN` only when it does not already (a retried submission writes none).
    None when the group has no rescue DAG and needs none."""
    spec = parse_dag(group_dag, directory)
    rescues = rescue_files(spec.path)
    if not rescues and not done:
        return None  # nothing finished and no rescue: the group runs from its start
    if rescues:
        newest = parse_dag(group_dag, directory)
        apply_rescue(newest, rescues[-1])
        if {n for n, node in newest.nodes.items() if node.done} == done:
            return rescues[-1]
    records = [NodeRecord(n, DONE if n in done else NOT_READY) for n in spec.nodes]
    return write_rescue(spec.path, records)
