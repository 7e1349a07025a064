"""A work unit's processing memory changed alone, through the sizing path: its files as
they will run (a prepared sizing, else the live ones) are prepared again in `resized/`
with a processing submit description of the unit's own carrying the new
`request_memory`, and the unit's processing nodes pointed at it; the unit's outer PRE
script (apply_sizing.py) moves them into place just before its SUBDAG starts. Its jobs
are not re-split: node names, and so the group's rescue DAG, stay valid."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from wms2.memory.policy import MAX_MEMORY_ATTR
from wms2.sizing.resplit import PROCESSING_SUB, UnitFiles, current_files, write_resized

_REQUEST = re.compile(r"^request_memory\s*=\s*(\d+)\s*$", re.MULTILINE)
_MAX = re.compile(rf"^\+{MAX_MEMORY_ATTR}\s*=\s*(\d+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class SubmitMemory:
    request_mb: int
    max_mb: int  # the request when the job may not grow (no WMS2_MaxMemoryMB)


def submit_memory(submit_text: str) -> SubmitMemory | None:
    """What a processing submit description asks and may grow to; None if its
    request_memory is not a plain number (nothing WMS2 wrote)."""
    request = _REQUEST.search(submit_text)
    if request is None:
        return None
    most = _MAX.search(submit_text)
    request_mb = int(request.group(1))
    return SubmitMemory(request_mb, int(most.group(1)) if most else request_mb)


def live_submit(group_dir: Path, root_submit: Path) -> Path:
    """The processing submit description the unit's jobs ran with last."""
    own = group_dir / PROCESSING_SUB
    return own if own.exists() else root_submit


def own_submit_dag(dag_text: str, root_submit: Path, own: Path) -> str:
    """The group DAG with its processing nodes' JOB lines naming the unit's own submit
    description instead of the DAG's shared one."""
    shared = str(root_submit)
    out = []
    for line in dag_text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == "JOB" and words[2] == shared:
            words[2] = str(own)
            line = " ".join(words)
        out.append(line)
    return "\n".join(out) + "\n"


def prepare_memory(group_dir: Path, root_submit: Path, memory_mb: int) -> None:
    """Prepare the unit's files with `memory_mb` as its processing jobs' request (the
    caller holds the unit's sizing lock)."""
    files = current_files(group_dir, root_submit)
    own = group_dir / PROCESSING_SUB
    submit = _REQUEST.sub(f"request_memory = {memory_mb}", files.submit_text, count=1)
    write_resized(
        group_dir,
        UnitFiles(files.manifest, own_submit_dag(files.dag_text, root_submit, own), submit),
    )
