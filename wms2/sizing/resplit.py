"""A pending work unit's files for its new sizing, written beside them in `resized/`
(the unit's outer PRE script, apply_sizing.py, moves them into place before the unit's
SUBDAG starts): the manifest with the unit's events re-split into jobs of whole lumis,
its group DAG with one processing node per new job (the first node's lines as the
template), and a processing submit description of its own with the new memory."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wms2.dagfiles.dagtext import edge_line
from wms2.dagfiles.layout import GROUP_DAG, GROUP_MANIFEST
from wms2.sizing.decide import Sizing

RESIZED = "resized"  # the new files, until the unit's PRE script applies them
STARTED = ".started"  # written by the PRE script: the unit's files are final
PROCESSING_SUB = "processing.sub"
_MEMORY = re.compile(r"^request_memory\s*=.*$", re.MULTILINE)
_WALL = re.compile(r"^\+MaxWallTimeMins\s*=.*$", re.MULTILINE)


class NotResizable(ValueError):
    """The unit's jobs are not event-based lumi ranges (input files decide its jobs)."""


class ReadsFiles(NotResizable):
    """The unit's jobs read input files: only their memory can be right-sized."""


@dataclass(frozen=True)
class UnitFiles:
    manifest: dict[str, Any]
    dag_text: str
    submit_text: str


def current_files(group_dir: Path, root_submit: Path) -> UnitFiles:
    """The unit's files as they would run now: a prepared resize, else the live ones."""
    base = group_dir / RESIZED if (group_dir / RESIZED / GROUP_DAG).exists() else group_dir
    own = base / PROCESSING_SUB
    return UnitFiles(
        json.loads((base / GROUP_MANIFEST).read_text()),
        (base / GROUP_DAG).read_text(),
        (own if own.exists() else root_submit).read_text(),
    )


def _lumis(node: dict[str, Any]) -> list[tuple[int, int]]:
    return [(r, lumi) for r, first, last in node["lumis"] for lumi in range(first, last + 1)]


def current_sizing(files: UnitFiles) -> tuple[Sizing, int]:
    """(the unit's sizing, its lumis). NotResizable if its jobs read input files or its
    lumis do not all hold the same number of events."""
    nodes = list(files.manifest["nodes"].values())
    m = re.search(r"^request_memory\s*=\s*(\d+)", files.submit_text, re.MULTILINE)
    if m is None:
        raise NotResizable("request_memory is not a number in the processing submit file")
    if any(n.get("files") or n.get("first_event") is None for n in nodes):
        raise ReadsFiles("its jobs read input files")
    per_lumi = {n["events"] / len(_lumis(n)) for n in nodes if _lumis(n)}
    if len(per_lumi) != 1 or not float(next(iter(per_lumi))).is_integer():
        raise NotResizable(f"its lumis hold unequal event counts {sorted(per_lumi)}")
    first = nodes[0]
    sizing = Sizing(len(_lumis(first)), int(per_lumi.pop()), int(m.group(1)))
    return sizing, sum(len(_lumis(n)) for n in nodes)


def resplit(manifest: dict[str, Any], after: Sizing) -> dict[str, Any]:
    """The manifest with its lumis in jobs of `after.lumis_per_job` (events numbered on)."""
    nodes = manifest["nodes"]
    first = next(iter(nodes.values()))
    lumis = [lumi for n in nodes.values() for lumi in _lumis(n)]
    start = min(n["first_event"] for n in nodes.values())
    index = int(manifest.get("group_index", 0))
    new: dict[str, Any] = {}
    for k in range(0, len(lumis), after.lumis_per_job):
        chunk = lumis[k : k + after.lumis_per_job]
        events = len(chunk) * after.events_per_lumi
        ranges: list[list[int]] = []
        for run, lumi in chunk:
            if ranges and ranges[-1][0] == run and ranges[-1][2] + 1 == lumi:
                ranges[-1][2] = lumi
            else:
                ranges.append([run, lumi, lumi])
        name = f"proc_{index:06d}_{k // after.lumis_per_job:04d}"
        new[name] = {
            "files": [],
            "events": events,
            "lumis": ranges,
            "first_event": start,
            "last_event": start + events - 1,
            "sites": first.get("sites", []),
        }
        start += events
    return {**manifest, "nodes": new}


def redag(dag_text: str, old: list[str], new: list[str], submit: Path) -> str:
    """The group DAG with processing nodes `new` instead of `old`: the first old node's
    lines are the template, edges are written again."""
    token = re.compile(r"\b(" + "|".join(map(re.escape, old)) + r")\b")
    template: list[str] = []
    out: list[str] = []
    placed = False
    for line in dag_text.splitlines():
        if line.startswith("PARENT ") and token.search(line):
            parents, _, children = line[len("PARENT ") :].partition(" CHILD ")
            if token.search(children):
                out.append(edge_line(parents.split(), new))
            else:
                out.append(edge_line(new, children.split()))
            continue
        m = token.search(line)
        if m is None:
            out.append(line)
            continue
        if m.group(1) == old[0]:
            template.append(line)
        if not placed:
            out.append("\0")  # where the processing nodes go
            placed = True
    if line_job := [t for t in template if t.startswith("JOB ")]:
        job = line_job[0].split()
        template[template.index(line_job[0])] = " ".join([*job[:2], str(submit), *job[3:]])
    block = "\n".join(
        re.sub(rf"\b{re.escape(old[0])}\b", name, t) for name in new for t in template
    )
    return "\n".join(block if x == "\0" else x for x in out) + "\n"


def resubmit_text(submit_text: str, after: Sizing, wall_minutes: int | None) -> str:
    text = _MEMORY.sub(f"request_memory = {after.memory_mb}", submit_text)
    if wall_minutes is not None:
        text = _WALL.sub(f"+MaxWallTimeMins = {wall_minutes}", text)
    return text


def write_resized(group_dir: Path, files: UnitFiles) -> None:
    dest = group_dir / RESIZED
    dest.mkdir(exist_ok=True)
    for name, text in (
        (GROUP_MANIFEST, json.dumps(files.manifest, separators=(",", ":"))),
        (PROCESSING_SUB, files.submit_text),
        (GROUP_DAG, files.dag_text),
    ):
        tmp = dest / f"{name}.tmp"
        tmp.write_text(text)
        tmp.replace(dest / name)
