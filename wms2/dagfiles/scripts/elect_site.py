#!/usr/bin/env python3
"""POST script of the landing node: records the site the landing job reported.

Arguments: LANDING_OUTPUT ELECTED_SITE_FILE SITE_SUBMIT_FILE RETURN
Writes the site name to ELECTED_SITE_FILE and a submit fragment pinning +DESIRED_Sites to
it to SITE_SUBMIT_FILE (the group's submit files include it). Exits with the job's
failure code if the landing job failed, 1 if no site was reported.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(
            "usage: elect_site.py LANDING_OUTPUT ELECTED_SITE_FILE SITE_SUBMIT RETURN",
            file=sys.stderr,
        )
        return 2
    output, elected, site_sub, ret = Path(argv[0]), Path(argv[1]), Path(argv[2]), int(argv[3])
    if ret != 0:
        print(f"landing job failed with {ret}", file=sys.stderr)
        return 1
    sites = [
        line.split("=", 1)[1].strip()
        for line in (output.read_text().splitlines() if output.exists() else [])
        if line.startswith("site=")
    ]
    if not sites or not sites[-1]:
        print(f"ERROR: {output} reports no site", file=sys.stderr)
        return 1
    write_atomic(elected, sites[-1] + "\n")
    write_atomic(site_sub, f'+DESIRED_Sites = "{sites[-1]}"\n')
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
