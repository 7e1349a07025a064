#!/usr/bin/env python3
"""Landing job: reports the CMS site it landed at, read from the machine ad HTCondor
gives every job ($_CONDOR_MACHINE_AD; glideins advertise GLIDEIN_CMSSite)."""

from __future__ import annotations

import os
import re
import sys

ATTR = re.compile(r'^\s*GLIDEIN_CMSSite\s*=\s*"([^"]+)"', re.MULTILINE)


def main() -> int:
    site = None
    ad_path = os.environ.get("_CONDOR_MACHINE_AD")
    if ad_path and os.path.exists(ad_path):
        with open(ad_path) as f:
            m = ATTR.search(f.read())
        site = m.group(1) if m else None
    site = site or os.environ.get("GLIDEIN_CMSSite")  # noqa: SIM112 (the glidein spelling)
    if not site:
        print("ERROR: no GLIDEIN_CMSSite in the machine ad or environment", file=sys.stderr)
        return 1
    print(f"site={site}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
