#!/usr/bin/env python3
"""PRE script of the landing node: the election reads the current site list when it runs.

Arguments: SITE_STATUS_FILE GROUP_MANIFEST SITE_SUBMIT DEFER_CODE
Writes `+DESIRED_Sites` for the landing job to SITE_SUBMIT: the group's candidate sites
(the manifest's "sites") without the ones WMS2 marked draining, disabled or banned (the
status file, {"sites": {name: status}}; a missing file or an unknown site counts as
enabled). With no candidates the group may run anywhere WMS2 lists as enabled. Exits with
DEFER_CODE when no candidate is usable: the DAG's `SCRIPT DEFER` runs it again later.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

NO_LANDING = {"draining", "disabled", "banned"}


def statuses(path: Path) -> dict[str, str]:
    try:
        return dict(json.loads(path.read_text()).get("sites", {}))
    except (OSError, ValueError):
        return {}  # no site manager yet: every site is usable


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(
            "usage: landing_sites.py STATUS_FILE MANIFEST SITE_SUBMIT DEFER_CODE", file=sys.stderr
        )
        return 1
    status_file, manifest, site_sub, defer = Path(argv[0]), Path(argv[1]), Path(argv[2]), argv[3]
    known = statuses(status_file)
    candidates = list(json.loads(manifest.read_text()).get("sites") or [])
    if not candidates:
        candidates = sorted(name for name, st in known.items() if st == "enabled")
        if not known:
            site_sub.write_text("")  # nothing known: anywhere, as planned
            return 0
    usable = [s for s in candidates if known.get(s, "enabled") not in NO_LANDING]
    if not usable:
        print(
            f"no usable site among {','.join(candidates) or 'none'}: "
            + ", ".join(f"{s} {known.get(s, 'enabled')}" for s in candidates),
            file=sys.stderr,
        )
        return int(defer)
    tmp = site_sub.with_name(f"{site_sub.name}.{os.getpid()}.tmp")
    tmp.write_text(f'+DESIRED_Sites = "{",".join(usable)}"\n')
    os.replace(tmp, site_sub)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
