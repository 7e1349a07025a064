"""DAGMan's JOBSTATE_LOG: one appended line per node event, made for monitoring tools.

    1292620511 INTERNAL *** DAGMAN_STARTED 4972.0 ***
    1292620523 NodeA PRE_SCRIPT_STARTED - local - 1
    1292620523 NodeA PRE_SCRIPT_SUCCESS - local - 1
    1292620525 NodeA SUBMIT 4973.0 local - 1
    1292620525 NodeA EXECUTE 4973.0 local - 1
    1292620526 NodeA JOB_TERMINATED 4973.0 local - 1
    1292620526 NodeA JOB_SUCCESS 0 local - 1
    1292620526 NodeA POST_SCRIPT_STARTED 4973.0 local - 1
    1292620531 NodeA POST_SCRIPT_TERMINATED 4973.0 local - 1
    1292620531 NodeA POST_SCRIPT_SUCCESS 4973.0 local - 1
    1292620535 INTERNAL *** DAGMAN_FINISHED 0 ***

Fields: time, node, event, Condor id (JOB_SUCCESS/JOB_FAILURE: the job's return value),
job tag, "-", sequence number. What condor_dagman writes (src/condor_dagman/
jobstate_log.cpp, dag.cpp): every event of a node job's user log under its name without
"ULOG_" (~48 kinds: SUBMIT, EXECUTE, JOB_HELD, JOB_RELEASED, JOB_EVICTED, JOB_ABORTED,
JOB_TERMINATED, SHADOW_EXCEPTION, PRESKIP, IMAGE_SIZE, ...), its own JOB_SUCCESS,
JOB_FAILURE, SUBMIT_FAILURE, PRE_/POST_SCRIPT_STARTED/SUCCESS/FAILURE, and INTERNAL lines
DAGMAN_STARTED <dagman job id>, DAGMAN_FINISHED <exit code> (3: it will be restarted),
RECOVERY_STARTED/FINISHED/FAILURE. Each try of a node (a retry, or a rerun from a rescue
DAG) gets a new sequence number; a rescue run continues from the file's highest; a
restarted DAGMan (recovery) numbers from 1 again and writes only what it had not written.

`JobstateLog` keeps every node's current state from that, in file order (times are not
ordered: DAGMan stamps its own events with the job's last event time). A POST script's
verdict is the node's last word on a try. Lines are read from a byte offset, so a poll
costs what was appended since the last one; a line still being written (no newline yet)
is left for the next read.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

INTERNAL = "INTERNAL"
EXIT_RESTART = 3  # DAGMAN_FINISHED 3: condor_dagman will be started again (recovery)


class State(StrEnum):
    PRE = "pre"  # PRE script running (or done, job not yet submitted)
    SUBMITTED = "submitted"  # job idle in the queue
    RUNNING = "running"
    HELD = "held"
    EVICTED = "evicted"  # lost its machine; idle again, will run again
    POST = "post"  # job ended, the POST script's verdict is awaited
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # this try failed; a retry or a rescue run may follow


# Events that move a node to a state. Every other event kind (IMAGE_SIZE,
# JOB_AD_INFORMATION, FILE_TRANSFER, JOB_TERMINATED, *_SCRIPT_TERMINATED, ...) is recorded
# as the node's last event without changing its state.
_MOVES = {
    "PRE_SCRIPT_STARTED": State.PRE,
    "SUBMIT": State.SUBMITTED,
    "EXECUTE": State.RUNNING,
    "JOB_UNSUSPENDED": State.RUNNING,
    "JOB_RECONNECTED": State.RUNNING,
    "JOB_HELD": State.HELD,
    "JOB_RELEASED": State.SUBMITTED,
    "JOB_EVICTED": State.EVICTED,
    # DAGMan counts these as the job being idle again, as after an eviction.
    "SHADOW_EXCEPTION": State.EVICTED,
    "JOB_RECONNECT_FAILED": State.EVICTED,
    "POST_SCRIPT_STARTED": State.POST,
    "PRESKIP": State.SUCCEEDED,  # PRE_SKIP: the PRE script's exit code means "done"
    "PRE_SCRIPT_FAILURE": State.FAILED,
    "SUBMIT_FAILURE": State.FAILED,  # another SUBMIT may follow (DAGMAN_MAX_SUBMIT_ATTEMPTS)
    "SUBMIT_FAILED": State.FAILED,  # pegasus-monitord's name for it
    "JOB_ABORTED": State.FAILED,  # condor_rm'd; DAGMan then writes JOB_FAILURE -1002
}
# The job's verdict: final unless the node has a POST script, which then decides.
_JOB_VERDICTS = {"JOB_SUCCESS": State.SUCCEEDED, "JOB_FAILURE": State.FAILED}
_POST_VERDICTS = {"POST_SCRIPT_SUCCESS": State.SUCCEEDED, "POST_SCRIPT_FAILURE": State.FAILED}
_IN_PROGRESS = frozenset({State.PRE, State.SUBMITTED, State.RUNNING, State.HELD})
_IN_PROGRESS |= {State.EVICTED, State.POST}
# Where a line begins: a cut line (DAGMan killed mid-write) runs into the next one.
_LINE_START = re.compile(rb"\d{9,11} (?:INTERNAL \*\*\*|\S+ [A-Z][A-Z_]+ )")


@dataclass
class NodeState:
    name: str
    state: State
    sequence: int  # of the current try
    tries: int = 1  # tries seen: retries, and reruns in rescue runs
    job_id: str | None = None  # the last job's Condor id, "cluster.proc"
    return_value: int | None = None  # of the job (JOB_SUCCESS/JOB_FAILURE)
    event: str = ""  # the last event
    time: int = 0  # of the last event
    holds: int = 0  # over all tries
    evictions: int = 0
    post_verdict: bool = False  # this try's POST script has spoken
    run: int = 0  # index of the DAGMan run that wrote its last line

    @property
    def retries(self) -> int:
        return self.tries - 1


@dataclass
class DagmanRun:
    dagman_id: str | None  # the DAGMan job's Condor id
    started: int
    recovery: bool = False  # a restarted DAGMan catching up from its node logs
    replay_time: int = -1  # recovery: lines of this time may repeat earlier ones
    replayed: frozenset[tuple[str, str, str]] = frozenset()  # (node, event, id) of those
    exit_code: int | None = None


@dataclass
class JobstateLog:
    """The nodes of one DAG as its JOBSTATE_LOG tells them, read incrementally.

    `post_nodes`: the nodes with a POST script, when known (from the DAG file). Their
    job's end is not a verdict; without it, a JOB_SUCCESS reads as success until a
    POST_SCRIPT_STARTED line says otherwise."""

    path: Path
    post_nodes: frozenset[str] = frozenset()
    offset: int = 0  # where the next read starts
    nodes: dict[str, NodeState] = field(default_factory=dict)
    runs: list[DagmanRun] = field(default_factory=list)
    lines: int = 0
    last_node_time: int = 0
    _last_time_lines: set[tuple[str, str, str]] = field(default_factory=set)
    skipped: int = 0  # lines that did not parse
    unknown: Counter[str] = field(default_factory=Counter)  # event kinds not named here

    @property
    def dagman_finished(self) -> int | None:
        """DAGMan's exit code once it has ended for good (not to be restarted)."""
        if not self.runs or self.runs[-1].exit_code in (None, EXIT_RESTART):
            return None
        return self.runs[-1].exit_code

    def in_state(self, state: State) -> list[str]:
        return [n.name for n in self.nodes.values() if n.state is state]

    def read(self) -> list[str]:
        """Read what was appended; the nodes whose state changed, in log order. A missing
        file is no news; a file shorter than the offset was replaced (a resubmission's new
        log) and is read whole, from a clean slate."""
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return []
        if size < self.offset:
            self._reset()
        if size == self.offset:
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(size - self.offset)
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        return self.feed(data[: end + 1])

    def _reset(self) -> None:
        self.offset, self.lines, self.skipped, self.last_node_time = 0, 0, 0, 0
        self.nodes, self.runs, self.unknown, self._last_time_lines = {}, [], Counter(), set()

    def feed(self, data: bytes) -> list[str]:
        """Apply whole lines; the nodes whose state changed."""
        changed: dict[str, None] = {}
        for raw in data.splitlines():
            words = _words(raw)
            if words is None:
                self.skipped += bool(raw.strip())
                continue
            self.lines += 1
            if words[1] == INTERNAL:
                self._internal(int(words[0]), words[3:])
                continue
            node = self._apply(words)
            if node is not None:
                changed[node] = None
        return list(changed)

    def _internal(self, when: int, words: list[str]) -> None:
        what = words[0] if words else ""
        arg = words[1] if len(words) > 1 and words[1] != "***" else None
        if what == "DAGMAN_STARTED":
            self.runs.append(DagmanRun(arg, when))
        elif what == "RECOVERY_STARTED" and self.runs:
            self.runs[-1].recovery = True
            # It skips what it wrote before by time: nothing older than the last node
            # line, and of that second's lines those it finds whole in the file, which
            # misses one it numbers differently this time (JobstateLog::Write).
            self.runs[-1].replay_time = self.last_node_time
            self.runs[-1].replayed = frozenset(self._last_time_lines)
        elif what == "DAGMAN_FINISHED":
            if not self.runs:  # a log that begins mid-run
                self.runs.append(DagmanRun(None, when))
            try:
                self.runs[-1].exit_code = int(arg or "")
            except ValueError:
                self.runs[-1].exit_code = -1

    def _apply(self, words: list[str]) -> str | None:
        """One node line; the node's name if its state changed."""
        when, name, event, condor_id = int(words[0]), words[1], words[2], words[3]
        sequence, run = int(words[6]), len(self.runs)
        key = (name, event, condor_id)
        current = self.runs[-1] if self.runs else None
        if current and when == current.replay_time and key in current.replayed:
            return None  # a recovering DAGMan's repeat, renumbered, of a line it wrote
        if when > self.last_node_time:
            self.last_node_time, self._last_time_lines = when, set()
        if when == self.last_node_time:
            self._last_time_lines.add(key)
        node = self.nodes.get(name)
        if node is None:
            node = self.nodes[name] = NodeState(name, State.SUBMITTED, sequence, 0, run=run)
            before = None
        else:
            before = node.state
        if self._new_try(node, sequence, run):
            node.tries += 1
            node.post_verdict = False
            node.return_value = None
        node.sequence, node.run, node.event, node.time = sequence, run, event, when
        state = self._state_after(node, event, condor_id)
        if state is not None:
            node.state = state
        return name if node.state is not before else None

    def _new_try(self, node: NodeState, sequence: int, run: int) -> bool:
        if node.tries == 0:
            return True
        if node.run == run:
            return sequence != node.sequence
        # A new DAGMan run. A restarted one (recovery) numbers from 1 again and carries on
        # the tries it finds in progress; a rescue run starts every node it runs anew.
        recovering = bool(self.runs) and self.runs[-1].recovery
        return not (recovering and node.state in _IN_PROGRESS)

    def _state_after(self, node: NodeState, event: str, condor_id: str) -> State | None:
        if event in _POST_VERDICTS:
            node.post_verdict = True
            return _POST_VERDICTS[event]
        if node.post_verdict:
            return None  # a recovering DAGMan's repeat of an earlier line of this try
        if event in _JOB_VERDICTS:
            node.return_value = _int(condor_id)
            return State.POST if node.name in self.post_nodes else _JOB_VERDICTS[event]
        if event == "SUBMIT" or event == "EXECUTE":
            node.job_id = condor_id if condor_id != "-" else node.job_id
        if event == "JOB_HELD":
            node.holds += 1
        elif event == "JOB_EVICTED":
            node.evictions += 1
        if event not in _MOVES:
            if not _known(event):
                self.unknown[event] += 1
            return None
        return _MOVES[event]


# Event kinds that change nothing here but are DAGMan's (or pegasus-monitord's) own.
_QUIET = frozenset(
    {
        "JOB_TERMINATED", "PRE_SCRIPT_SUCCESS", "PRE_SCRIPT_TERMINATED", "POST_SCRIPT_TERMINATED",
        "EXECUTABLE_ERROR", "CHECKPOINTED", "IMAGE_SIZE", "GENERIC", "JOB_SUSPENDED",
        "NODE_EXECUTE", "NODE_TERMINATED", "GLOBUS_SUBMIT", "GLOBUS_SUBMIT_FAILED",
        "GLOBUS_RESOURCE_UP", "GLOBUS_RESOURCE_DOWN", "REMOTE_ERROR", "JOB_DISCONNECTED",
        "GRID_RESOURCE_UP", "GRID_RESOURCE_DOWN", "GRID_SUBMIT", "JOB_AD_INFORMATION",
        "JOB_STATUS_UNKNOWN", "JOB_STATUS_KNOWN", "JOB_STAGE_IN", "JOB_STAGE_OUT",
        "ATTRIBUTE_UPDATE", "CLUSTER_SUBMIT", "CLUSTER_REMOVE", "FACTORY_PAUSED",
        "FACTORY_RESUMED", "NONE", "FILE_TRANSFER", "RESERVE_SPACE", "RELEASE_SPACE",
        "FILE_COMPLETE", "FILE_USED", "FILE_REMOVED", "DATAFLOW_JOB_SKIPPED", "COMMON_FILES",
        "JOB_HELD_REASON",  # pegasus-monitord
    }
)  # fmt: skip


def _known(event: str) -> bool:
    return event in _QUIET or event in _MOVES or event in _JOB_VERDICTS


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _words(raw: bytes) -> list[str] | None:
    """A line's fields, or None when it does not parse. A line cut by a killed DAGMan
    and continued by the next one's writes yields the later line."""
    words = raw.split()
    if not _parses(words):
        later = [m.start() for m in _LINE_START.finditer(raw) if m.start() > 0]
        if not later:
            return None
        words = raw[later[-1] :].split()
        if not _parses(words):
            return None
    return [w.decode(errors="replace") for w in words]


def _parses(words: list[bytes]) -> bool:
    if len(words) < 4 or not words[0].isdigit():
        return False
    if words[1] == b"INTERNAL":
        return words[2] == b"***"
    return len(words) == 7 and words[6].isdigit()  # time node event id tag - seq


class JobstateWriter:
    """Appends events as condor_dagman does (the local runner's and the simulator's
    JOBSTATE_LOG): each try of a node gets the next sequence number, and DAGMan's own
    events carry the time of the node's last job event (so that a restarted DAGMan can
    tell which lines it wrote already)."""

    # Events of a job's user log: their time is the event's own.
    JOB_EVENTS = frozenset(
        {"SUBMIT", "EXECUTE", "JOB_TERMINATED", "JOB_HELD", "JOB_RELEASED", "JOB_EVICTED"}
        | {"JOB_ABORTED", "POST_SCRIPT_TERMINATED"}
    )

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sequence: dict[str, int] = {}  # each node's current try
        self.next_sequence = 1
        self.last_event: dict[str, int] = {}  # each node's last job event time

    def continue_numbering(self) -> None:
        """A rescue run: go on from the highest sequence number in the file (DAGMan's
        JobstateLog::InitializeRescue)."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return
        numbers = [int(w[6]) for w in map(bytes.split, lines) if _parses(w) and len(w) == 7]
        highest = max(numbers, default=0)
        self.next_sequence = max(self.next_sequence, highest + 1)

    def _write(self, when: float, text: str) -> None:
        # One write per line, append mode: a reader never sees half of two lines.
        with open(self.path, "a") as f:
            f.write(f"{int(when)} {text}\n")

    def dagman_started(self, dagman_id: int | str) -> None:
        job = f"{dagman_id}.0" if isinstance(dagman_id, int) else dagman_id
        self._write(time.time(), f"INTERNAL *** DAGMAN_STARTED {job} ***")

    def dagman_finished(self, exit_code: int) -> None:
        self._write(time.time(), f"INTERNAL *** DAGMAN_FINISHED {exit_code} ***")

    def retry(self, node: str) -> None:
        """The node's next line starts a new try (DAGMan's ResetJobstateSequenceNum)."""
        self.sequence.pop(node, None)

    def node(self, node: str, event: str, condor_id: str = "-", tag: str = "-") -> None:
        seq = self.sequence.get(node)
        if seq is None:
            seq = self.sequence[node] = self.next_sequence
            self.next_sequence += 1
        now = time.time()
        if event in self.JOB_EVENTS:
            self.last_event[node] = int(now)
            when = now
        else:
            when = self.last_event.get(node) or now
        self._write(when, f"{node} {event} {condor_id} {tag} - {seq}")
