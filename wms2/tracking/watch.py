"""Watching one DAG: what changed since the last look, from the files DAGMan writes.

`observe_dag` is one full look (the safety check a request workflow runs when it heard
nothing for a while). `DagWatch` is the tracker's incremental look: it reads only what
was appended to the JOBSTATE_LOG since its last offset, parses the outer node status
file only when its mtime changed and a group's status file only when that file changed,
so a DAG where nothing happens costs two `stat` calls per cycle. Both report a work unit
only once its merge report is readable, and at DAGMan's exit reconcile against the
authoritative files, so the two paths agree on every unit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from wms2.condor import Backend, DagHandle, JobState, JobStatus
from wms2.dagfiles.layout import DagLayout
from wms2.dagman.dagfile import post_script_nodes
from wms2.dagman.jobstate import JobstateLog, State
from wms2.dagman.status import (
    DONE,
    ERROR,
    POSTRUN,
    PRERUN,
    SUBMITTED,
    DagSnapshot,
    MergeReportError,
    StatusFileIncomplete,
    merged_file,
    newly_completed_work_units,
    read_merge_output,
    read_status_file,
)
from wms2.messages import CompletedWorkUnit, DagProgress, MonitorResult, WorkUnitOutput
from wms2.tracking.reconcile import WORK_UNIT_PREFIX, reconcile_work_units


@dataclass(frozen=True, slots=True)
class GroupCounts:
    total: int = 0
    done: int = 0
    failed: int = 0
    running: int = 0


def read_snapshot(path: Path) -> DagSnapshot | None:
    try:
        return read_status_file(path)
    except StatusFileIncomplete:
        return None  # being rewritten: read again at the next look


def group_counts(path: Path) -> GroupCounts | None:
    inner = read_snapshot(path)
    if inner is None:
        return None
    done = failed = running = 0
    for node in inner.nodes.values():
        done += node.status == DONE
        failed += node.status == ERROR
        running += node.status in (PRERUN, SUBMITTED, POSTRUN)
    return GroupCounts(len(inner.nodes), done, failed, running)


def progress_of(
    layout: DagLayout, outer: DagSnapshot, groups: dict[str, GroupCounts]
) -> DagProgress:
    """Counts over the outer DAG and its groups; `groups` holds each group's last
    readable counts (updated in place by the caller, or read here when absent). Work
    units are the merge groups (mg_ SUBDAGs) alone; any other outer node (a harvesting
    job) is one node of its own, counted by its outer status, never a work unit."""
    units = {n: info for n, info in outer.nodes.items() if n.startswith(WORK_UNIT_PREFIX)}
    progress = DagProgress(
        work_units_total=len(units),
        work_units_done=sum(n.status == DONE for n in units.values()),
    )
    for name, info in outer.nodes.items():
        if name not in units:
            progress.nodes_total += 1
            progress.nodes_done += info.status == DONE
            progress.nodes_failed += info.status == ERROR
            progress.nodes_running += info.status in (PRERUN, SUBMITTED, POSTRUN)
            continue
        counts = groups.get(name)
        if counts is None:
            counts = group_counts(layout.group_dir(name) / "group.dag.status")
            if counts is None:
                continue
            groups[name] = counts
        progress.nodes_total += counts.total
        progress.nodes_done += counts.done
        progress.nodes_failed += counts.failed
        progress.nodes_running += counts.running
    return progress


def completed_unit(name: str, report: dict) -> CompletedWorkUnit:
    return CompletedWorkUnit(
        name=name, outputs=[WorkUnitOutput(**merged_file(o)) for o in report["outputs"]]
    )


def readable_units(layout: DagLayout, names: list[str]) -> tuple[list[CompletedWorkUnit], dict]:
    """The units among `names` whose merge report reads, and why the others do not."""
    done, unreadable = [], {}
    for name in names:
        try:
            done.append(completed_unit(name, read_merge_output(layout.merge_output(name))))
        except MergeReportError as e:
            unreadable[name] = str(e)
    return done, unreadable


def final_result(
    layout: DagLayout,
    handle: DagHandle,
    status: JobStatus,
    known: set[str],
    progress: DagProgress,
    backend: Backend,
) -> MonitorResult:
    """DAGMan has exited (or vanished): every unit with a readable merge report that is
    not in `known`, from the authoritative files, never from the last status file."""
    lost = status.state is JobState.MISSING
    detail = status.detail
    if lost:
        reaped = backend.reap_orphans(handle)
        detail = f"{detail}; {reaped} orphaned node job(s) killed"
    rec = reconcile_work_units(layout, known, dag_succeeded=not lost and status.exit_code == 0)
    return MonitorResult(
        new_work_units=[completed_unit(n, r) for n, r in sorted(rec.reports.items())],
        progress=progress,
        finished=True,
        exit_code=status.exit_code,
        detail=detail,
        unreported_work_units=rec.unreported,
        lost=lost,
    )


def observe_dag(
    layout: DagLayout, handle: DagHandle, known: set[str], backend: Backend
) -> MonitorResult:
    """One full look at a DAG: progress, units completed and not in `known`, its end."""
    status = backend.query(handle)
    snapshot = read_snapshot(layout.status_file)
    if status.state is not JobState.ALIVE:
        # Work units that completed between the last status file and DAGMan's exit.
        snapshot = read_snapshot(layout.status_file) or snapshot
    progress = progress_of(layout, snapshot, {}) if snapshot is not None else DagProgress()
    if status.state is not JobState.ALIVE:
        return final_result(layout, handle, status, known, progress, backend)
    names = newly_completed_work_units(snapshot, known) if snapshot is not None else []
    done, _ = readable_units(layout, names)  # an unreadable one is read again next time
    return MonitorResult(new_work_units=done, progress=progress, detail=status.detail)


def _mtime(path: Path) -> float | None:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


@dataclass
class DagWatch:
    """The tracker's cursor on one DAG attempt: what it has reported and read."""

    request_name: str
    attempt: int
    handle: DagHandle
    reported: set[str] = field(default_factory=set)
    jobstate: JobstateLog | None = None  # the outer DAG's nodes, read incrementally
    status_mtime: float | None = None
    group_mtimes: dict[str, float | None] = field(default_factory=dict)
    groups: dict[str, GroupCounts] = field(default_factory=dict)
    outer_status: dict[str, int] = field(default_factory=dict)
    progress: DagProgress = field(default_factory=DagProgress)
    sent_progress: DagProgress | None = None
    sent_at: float = 0.0
    pending: set[str] = field(default_factory=set)  # ended, merge report not readable yet
    finished: bool = False
    # Signalled and not yet recorded (the database was away): recorded before anything
    # else at the next cycle, so what was signalled is recorded, not looked for again.
    unrecorded: list[MonitorResult] = field(default_factory=list)

    @property
    def layout(self) -> DagLayout:
        return DagLayout(Path(self.handle.dag_file).parent)

    def look(self, status: JobStatus, backend: Backend) -> MonitorResult | None:
        """What changed since the last look (None: nothing to tell). Progress alone is
        news only when the caller decides (see `progress_due`)."""
        layout = self.layout
        if self.jobstate is None:
            # Nodes with a POST script: their job's end is not their verdict (WMS2's outer
            # DAG has none; a DAG file gone is read as having none).
            try:
                post = post_script_nodes(layout.dag_file)
            except OSError:
                post = frozenset()
            self.jobstate = JobstateLog(layout.jobstate_log, post)
        log = self.jobstate
        # A unit is a candidate by its verdict as it stands (a POST script's last), never
        # by a line that a later one overrides.
        candidates = {
            n
            for n in log.read()
            if n.startswith(WORK_UNIT_PREFIX) and log.nodes[n].state is State.SUCCEEDED
        }
        mtime = _mtime(layout.status_file)
        if mtime != self.status_mtime:
            snapshot = read_snapshot(layout.status_file)
            if snapshot is not None:
                self.status_mtime = mtime
                self._refresh_groups(layout, snapshot)
                self.progress = progress_of(layout, snapshot, self.groups)
                candidates.update(snapshot.done_nodes(WORK_UNIT_PREFIX))
        if status.state is not JobState.ALIVE:
            self.finished = True
            return final_result(layout, self.handle, status, self.reported, self.progress, backend)
        names = sorted((candidates | self.pending) - self.reported)
        if not names:
            return None
        done, unreadable = readable_units(layout, names)
        self.pending = set(unreadable)
        if not done:
            return None
        return MonitorResult(new_work_units=done, progress=self.progress, detail=status.detail)

    def _refresh_groups(self, layout: DagLayout, outer: DagSnapshot) -> None:
        """Re-read a group's status file only when it changed (or never was read)."""
        for name, node in outer.nodes.items():
            if not name.startswith(WORK_UNIT_PREFIX):
                continue  # a plain job node (harvesting): no group status file
            previous = self.outer_status.get(name)
            self.outer_status[name] = node.status
            idle = node.status not in (PRERUN, SUBMITTED, POSTRUN)
            if idle and node.status == previous and name in self.groups:
                continue  # neither running nor changed: its counts cannot have moved
            path = layout.group_dir(name) / "group.dag.status"
            mtime = _mtime(path)
            if mtime is None or (mtime == self.group_mtimes.get(name) and name in self.groups):
                continue
            counts = group_counts(path)
            if counts is not None:
                self.groups[name], self.group_mtimes[name] = counts, mtime

    def progress_due(self, now: float, interval: float) -> bool:
        return self.progress != self.sent_progress and now - self.sent_at >= interval

    def sent(self, result: MonitorResult, now: float) -> None:
        self.reported.update(u.name for u in result.new_work_units)
        self.sent_progress, self.sent_at = result.progress.model_copy(), now
        self.unrecorded.append(result)

    def recorded(self, result: MonitorResult) -> None:
        # By identity: a retried activity's attempt may record the same list meanwhile.
        self.unrecorded = [r for r in self.unrecorded if r is not result]
