#!/usr/bin/env python3
"""PRE script of processing, merge and cleanup nodes: pins the node to the group's
elected site by (re)writing the submit fragment its submit file includes.

Arguments: ELECTED_SITE_FILE SITE_SUBMIT_FILE [SITE_STATUS_FILE GROUP_MANIFEST DEFER_CODE]
If WMS2 disabled or banned the elected site since the election, the group re-elects: the
first of its candidate sites (the manifest's "sites", else every enabled site) that is
enabled, recorded in ELECTED_SITE_FILE and reported on stderr. So does a unit whose
elected site failed its jobs for site reasons in an earlier round (site_rules.EXCLUDED),
while another candidate is usable. A draining site keeps the work it was elected for.
Exits 1 if no site was elected yet, DEFER_CODE if none is usable.
"""

from __future__ import annotations

import sys
from pathlib import Path

from site_rules import (
    NO_PINNED_WORK,
    avoiding,
    candidates,
    excluded,
    statuses,
    usable,
    write_atomic,
)


def reelect(site: str, status_file: Path, manifest: Path) -> str | None:
    """The elected site, or another one if it may no longer get pinned work."""
    known = statuses(status_file)
    allowed = known.get(site, "enabled") not in NO_PINNED_WORK
    avoid = excluded()
    if allowed and site not in avoid:
        return site
    sites = avoiding(usable(candidates(manifest, known), known), avoid)
    if allowed and (not sites or sites[0] in avoid):
        return site  # every other candidate is excluded too: the elected one stands
    return sites[0] if sites else None


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 5):
        print(
            "usage: pin_site.py ELECTED_SITE_FILE SITE_SUBMIT [STATUS_FILE MANIFEST DEFER]",
            file=sys.stderr,
        )
        return 1
    elected, site_sub = Path(argv[0]), Path(argv[1])
    site = elected.read_text().strip() if elected.exists() else ""
    if not site:
        print(f"ERROR: no elected site in {elected}", file=sys.stderr)
        return 1
    if len(argv) == 5:
        chosen = reelect(site, Path(argv[2]), Path(argv[3]))
        if chosen is None:
            print(f"{site} may not run work and no other candidate is enabled", file=sys.stderr)
            return int(argv[4])
        if chosen != site:
            print(f"re-elected {chosen}: {site} is no longer usable", file=sys.stderr)
            write_atomic(elected, chosen + "\n")
            site = chosen
    wanted = f'+DESIRED_Sites = "{site}"\n'
    if not site_sub.exists() or site_sub.read_text() != wanted:
        write_atomic(site_sub, wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
