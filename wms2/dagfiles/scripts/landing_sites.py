#!/usr/bin/env python3
"""PRE script of the landing node: the election reads the current site list when it runs.

Arguments: SITE_STATUS_FILE GROUP_MANIFEST SITE_SUBMIT DEFER_CODE
Writes `+DESIRED_Sites` for the landing job to SITE_SUBMIT: the group's candidate sites
(the manifest's "sites") without the ones WMS2 marked draining, disabled or banned (the
status file, {"sites": {name: status}}; a missing file or an unknown site counts as
enabled), and without the sites that failed this unit for site reasons in an earlier
round (site_rules.EXCLUDED) while another candidate is usable. With no candidates the
group may run anywhere WMS2 lists as enabled. Exits with
DEFER_CODE when no candidate is usable: the DAG's `SCRIPT DEFER` runs it again later.
"""

from __future__ import annotations

import sys
from pathlib import Path

from site_rules import avoiding, candidates, excluded, statuses, usable, write_atomic


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(
            "usage: landing_sites.py STATUS_FILE MANIFEST SITE_SUBMIT DEFER_CODE", file=sys.stderr
        )
        return 1
    status_file, manifest, site_sub, defer = Path(argv[0]), Path(argv[1]), Path(argv[2]), argv[3]
    known = statuses(status_file)
    wanted = candidates(manifest, known)
    if not wanted and not known:
        site_sub.write_text("")  # nothing known: anywhere, as planned
        return 0
    sites = avoiding(usable(wanted, known), excluded())
    if not sites:
        print(
            f"no usable site among {','.join(wanted) or 'none'}: "
            + ", ".join(f"{s} {known.get(s, 'enabled')}" for s in wanted),
            file=sys.stderr,
        )
        return int(defer)
    write_atomic(site_sub, f'+DESIRED_Sites = "{",".join(sites)}"\n')
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
