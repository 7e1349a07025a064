"""DAGMan's JOBSTATE_LOG: one appended line per node event, made for monitoring tools.

    1292620511 INTERNAL *** DAGMAN_STARTED 4972.0 ***
    1292620523 NodeA PRE_SCRIPT_STARTED - local - 1
    1292620526 NodeA JOB_SUCCESS 0 local - 1
    1292620531 NodeA POST_SCRIPT_SUCCESS 4973.0 local - 1
    1292620535 INTERNAL *** DAGMAN_FINISHED 0 ***

Fields: time, node, event, Condor id (or a return value), job tag, "-", sequence number.
A node has succeeded with POST_SCRIPT_SUCCESS, or with JOB_SUCCESS when it has no POST
script (a POST script overrides the job's result); the reader reports both, and the
caller confirms a unit's end from its own files. Lines are read from a byte offset, so
a poll costs what was appended since the last one; a line still being written (no
newline yet) is left for the next read.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

SUCCESS_EVENTS = frozenset({"JOB_SUCCESS", "POST_SCRIPT_SUCCESS"})
FAILURE_EVENTS = frozenset({"JOB_FAILURE", "POST_SCRIPT_FAILURE", "PRE_SCRIPT_FAILURE"})


@dataclass
class JobstateNews:
    offset: int  # where the next read starts
    succeeded: list[str] = field(default_factory=list)  # nodes, in log order
    failed: list[str] = field(default_factory=list)
    dagman_finished: int | None = None  # DAGMan's exit code once it wrote DAGMAN_FINISHED
    lines: int = 0


def read_jobstate_log(path: Path, offset: int = 0) -> JobstateNews:
    """What was appended to `path` since `offset`. A missing file is no news; a file
    shorter than `offset` was replaced (a resubmission's new log) and is read whole."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        return JobstateNews(offset=0)
    if size < offset:
        offset = 0
    if size == offset:
        return JobstateNews(offset=offset)
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(size - offset)
    end = data.rfind(b"\n")
    news = JobstateNews(offset=offset + end + 1)
    if end < 0:
        news.offset = offset
        return news
    for raw in data[: end + 1].split(b"\n"):
        words = raw.split()
        if len(words) < 3:
            continue
        news.lines += 1
        node, event = words[1].decode(errors="replace"), words[2].decode(errors="replace")
        if node == "INTERNAL":
            if len(words) >= 5 and words[3] == b"DAGMAN_FINISHED":
                try:
                    news.dagman_finished = int(words[4])
                except ValueError:
                    news.dagman_finished = -1
            continue
        if event in SUCCESS_EVENTS:
            news.succeeded.append(node)
        elif event in FAILURE_EVENTS:
            news.failed.append(node)
    return news


class JobstateWriter:
    """Appends events the way condor_dagman does (the local runner's JOBSTATE_LOG)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sequence: dict[str, int] = {}

    def _write(self, text: str) -> None:
        # One write per line, append mode: a reader never sees half of two lines.
        with open(self.path, "a") as f:
            f.write(f"{int(time.time())} {text}\n")

    def dagman_started(self, cluster: int) -> None:
        self._write(f"INTERNAL *** DAGMAN_STARTED {cluster}.0 ***")

    def dagman_finished(self, exit_code: int) -> None:
        self._write(f"INTERNAL *** DAGMAN_FINISHED {exit_code} ***")

    def node(self, node: str, event: str, condor_id: str = "-") -> None:
        seq = self.sequence.setdefault(node, len(self.sequence) + 1)
        self._write(f"{node} {event} {condor_id} - - {seq}")
