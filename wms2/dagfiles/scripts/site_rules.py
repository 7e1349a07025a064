"""What the site PRE scripts share (imported from beside them in the DAG's bin/): the site
statuses WMS2 publishes and which of a work unit's candidate sites may get new work.
The same rules as wms2/sites/availability.py, without importing wms2."""

from __future__ import annotations

import json
import os
from pathlib import Path

NO_LANDING = {"draining", "disabled", "banned"}
NO_PINNED_WORK = {"disabled", "banned"}
# Sites that failed this work unit's jobs for site reasons in an earlier round, written by
# WMS2 before a rescue (wms2/failures/rounds.py) in the group directory, where PRE scripts
# run: the unit avoids them while any other candidate is usable.
EXCLUDED = "excluded_sites.json"


def statuses(path: Path) -> dict[str, str]:
    """{site: status}; empty without a site manager (every site is usable)."""
    try:
        return dict(json.loads(path.read_text()).get("sites", {}))
    except (OSError, ValueError):
        return {}


def candidates(manifest: Path, known: dict[str, str]) -> list[str]:
    """The work unit's planned sites; planned to run anywhere: every enabled site."""
    planned = list(json.loads(manifest.read_text()).get("sites") or [])
    return planned or sorted(name for name, st in known.items() if st == "enabled")


def usable(sites: list[str], known: dict[str, str]) -> list[str]:
    """The sites that may get a new landing (an unknown site counts as enabled)."""
    return [s for s in sites if known.get(s, "enabled") not in NO_LANDING]


def excluded(path: Path = Path(EXCLUDED)) -> set[str]:
    try:
        return set(json.loads(path.read_text()).get("sites", []))
    except (OSError, ValueError, AttributeError):
        return set()


def avoiding(sites: list[str], avoid: set[str]) -> list[str]:
    """`sites` without the excluded ones, unless that leaves none: a unit whose every
    candidate failed it runs again where it may rather than waiting forever."""
    kept = [s for s in sites if s not in avoid]
    return kept or sites


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
