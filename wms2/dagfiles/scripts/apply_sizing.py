#!/usr/bin/env python3
"""PRE script of a work unit's SUBDAG node in the outer DAG: runs in the unit's directory
just before its group DAG starts. Marks the unit started (WMS2 prepares no new sizing for
it from now on) and moves a sizing WMS2 prepared (resized/: manifest, processing submit
description, group DAG; the DAG last) into place, logging it to sizing.log. Both under
the lock WMS2 takes to prepare it, so a unit runs either its old files or all new ones.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from pathlib import Path

RESIZED, STARTED, LOCK = Path("resized"), Path(".started"), "sizing.lock"
ORDER = ("group_manifest.json", "processing.sub", "group.dag")


def main() -> int:
    with open(LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        STARTED.touch()
        if not (RESIZED / "group.dag").exists():
            return 0
        for name in ORDER:
            os.replace(RESIZED / name, name)
        with contextlib.suppress(OSError):  # something else in it: left for a person
            RESIZED.rmdir()
        with open("sizing.log", "a") as log:
            log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} applied the prepared sizing\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
