"""What one work unit's directory records about its nodes' failures: the POST scripts'
per-try outcomes (node_outcomes.jsonl: class, exit code, the site the job ran at, rescue
round), the holds in the group's job event log, the JOBSTATE_LOG's current node states
and the tail of a job's stderr. Read-only, tolerant of partial lines (a POST script may be
writing while we read)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from wms2.dagfiles.layout import GROUP_DAG, GROUP_MANIFEST
from wms2.dagman.jobstate import JobstateLog, NodeState

OUTCOMES = "node_outcomes.jsonl"  # written by dagfiles/scripts/post_script.py
EVENT_LOG = "group.log"  # the `log` of every group submit description
STDERR = {"merge": "merge.err", "landing": "landing.err", "cleanup": "cleanup.err"}
MEMORY_WORDS = ("memory", "MemoryUsage", "RequestMemory", "OOM")
_EVENT_HEAD = re.compile(r"^(\d{3}) \((\d+)\.\d+\.\d+\) ")


@dataclass(frozen=True)
class Try:
    """One classified try of a node (a POST script's record)."""

    unit: str
    node: str
    retry: int
    round: int  # rescue round: 0 the first run, 1 the first rescue, ...
    exit: int
    kind: str  # success, transient, site, permanent
    site: str  # where the job ran ("-" unknown)
    cluster: str
    at: float

    @property
    def failed(self) -> bool:
        return self.kind != "success"


def read_tries(group_dir: Path) -> list[Try]:
    """Every try the POST scripts recorded, in the order they were written."""
    try:
        text = (group_dir / OUTCOMES).read_text(errors="replace")
    except OSError:
        return []
    tries = []
    for line in text.splitlines():
        try:
            r = json.loads(line)
            tries.append(
                Try(
                    group_dir.name,
                    str(r["node"]),
                    int(r.get("retry", 0)),
                    int(r.get("round", 0)),
                    int(r["exit"]),
                    str(r["class"]),
                    str(r.get("site") or "-"),
                    str(r.get("cluster", "")),
                    float(r.get("t", 0.0)),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue  # a line cut off by a killed POST script
    return tries


def _events(group_dir: Path) -> list[tuple[str, str, str]]:
    """(event code, cluster, its reason line) of every event in the group's event log."""
    try:
        text = (group_dir / EVENT_LOG).read_text(errors="replace")
    except OSError:
        return []
    events = []
    for event in text.split("\n...\n"):
        lines = event.strip("\n").splitlines()
        m = _EVENT_HEAD.match(lines[0]) if lines else None
        if m is None:
            continue
        # HTCondor: "Job was held.\n\t<reason>\n\tCode c Subcode s"; the local pool's
        # holds and aborts carry the reason on the first line.
        body = [x.strip() for x in lines[1:] if x.strip() and not x.strip().startswith("Code")]
        head = lines[0][m.end() :].split(" ", 2)[-1]
        events.append((m.group(1), str(int(m.group(2))), body[0] if body else head))
    return events


def hold_reasons(group_dir: Path) -> dict[str, str]:
    """cluster -> the last hold (012) or abort (009) reason in the group's event log."""
    return {c: reason for code, c, reason in _events(group_dir) if code in ("012", "009")}


def unreleased_holds(group_dir: Path) -> dict[str, str]:
    """cluster -> the reason of a hold its job never left: no release (013) or new run
    (001) followed it, so the job ended held (removed with its DAG, or still held)."""
    held: dict[str, str] = {}
    for code, cluster, reason in _events(group_dir):
        if code == "012":
            held[cluster] = reason
        elif code in ("013", "001"):
            held.pop(cluster, None)
    return held


def is_memory_reason(reason: str) -> bool:
    """Does a hold reason say the job ran out of memory (HTCondor's and the local pool's
    wording, a pool policy's expression of MemoryUsage or RequestMemory, an OOM kill)?"""
    return any(w.lower() in reason.lower() for w in MEMORY_WORDS)


def node_states(group_dir: Path) -> dict[str, NodeState]:
    """node -> its current state, tries, holds and last job id (the JOBSTATE_LOG)."""
    path = group_dir / f"{GROUP_DAG}.jobstate.log"
    if not path.exists():
        return {}
    log = JobstateLog(path)
    log.read()
    return dict(log.nodes)


def stderr_tail(group_dir: Path, node: str, lines: int = 5, width: int = 200) -> list[str]:
    """The last non-empty lines of the node's job stderr (each cut at `width`)."""
    path = group_dir / STDERR.get(node, f"{node}.err")
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode(errors="replace")
    except OSError:
        return []
    return [x.rstrip()[:width] for x in text.splitlines() if x.strip()][-lines:]


@dataclass(frozen=True)
class UnitContent:
    files: int
    lumis: int
    events: int


def unit_content(group_dir: Path, nodes: list[str] | None = None) -> UnitContent:
    """What the unit's processing nodes (or only `nodes`) read: input files, lumis,
    events, from its group manifest."""
    try:
        manifest = json.loads((group_dir / GROUP_MANIFEST).read_text())
        entries = manifest["nodes"]
    except (OSError, ValueError, KeyError):
        return UnitContent(0, 0, 0)
    files = lumis = events = 0
    for name, spec in entries.items():
        if nodes is not None and name not in nodes:
            continue
        files += len(spec.get("files") or [])
        lumis += sum(int(last) - int(first) + 1 for _run, first, last in spec.get("lumis") or [])
        events += int(spec.get("events") or 0)
    return UnitContent(files, lumis, events)
