#!/usr/bin/env python3
"""Cleanup node: removes the group's unmerged files once the merge has succeeded.

Arguments: --manifest group_manifest.json. Only files named in the manifest are removed,
so a mistaken path can never delete anything else. Missing files are fine (a retried
cleanup finds some already gone).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--manifest", type=Path, required=True)
    args = p.parse_args(argv)
    manifest = json.loads(args.manifest.read_text())
    removed = 0
    for node in manifest["nodes"]:
        for i in range(len(manifest["outputs"])):
            for suffix in (".root", ".json"):
                path = Path("unmerged") / f"{node}.out{i}{suffix}"
                if path.exists():
                    path.unlink()
                    removed += 1
    unmerged = Path("unmerged")
    if unmerged.is_dir() and not any(unmerged.iterdir()):
        unmerged.rmdir()
    print(f"removed {removed} unmerged files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
