#!/usr/bin/env python3
"""PRE script of processing, merge and cleanup nodes: pins the node to the group's
elected site by (re)writing the submit fragment its submit file includes.

Arguments: ELECTED_SITE_FILE SITE_SUBMIT_FILE. Exits 1 if no site was elected yet.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: pin_site.py ELECTED_SITE_FILE SITE_SUBMIT_FILE", file=sys.stderr)
        return 1
    elected, site_sub = Path(argv[0]), Path(argv[1])
    site = elected.read_text().strip() if elected.exists() else ""
    if not site:
        print(f"ERROR: no elected site in {elected}", file=sys.stderr)
        return 1
    wanted = f'+DESIRED_Sites = "{site}"\n'
    if not site_sub.exists() or site_sub.read_text() != wanted:
        tmp = site_sub.with_name(f"{site_sub.name}.{os.getpid()}.tmp")
        tmp.write_text(wanted)
        os.replace(tmp, site_sub)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
