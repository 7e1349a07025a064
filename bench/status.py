"""Benchmark: parse a 100,000-node NODE_STATUS_FILE. Goal: under 1 s.

Prints the time of wms2.dagman.status (what the monitor uses) and, for comparison, of
classad2.parseAds on the same file.
Run: .venv/bin/python bench/status.py [--nodes N] [--skip-classad2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wms2.dagman.records import NodeRecord, write_status_file
from wms2.dagman.status import read_status_file


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--nodes", type=int, default=100_000)
    p.add_argument("--skip-classad2", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "workflow.dag.status"
        nodes = [
            NodeRecord(f"proc_{i:06d}", i % 8, "" if i % 5 else "not_idle", i % 3)
            for i in range(args.nodes)
        ]
        write_status_file(path, Path(tmp) / "workflow.dag", 0, nodes, 0)
        print(f"status file: {args.nodes} nodes, {path.stat().st_size / 1e6:.1f} MB")
        start = time.perf_counter()
        snap = read_status_file(path)
        took = time.perf_counter() - start
        assert snap is not None and len(snap.nodes) == args.nodes
        print(f"wms2.dagman.status   {took:.2f} s (goal < 1 s)")
        if not args.skip_classad2:
            os.environ.setdefault("CONDOR_CONFIG", "/dev/null")
            import classad2

            start = time.perf_counter()
            ads = list(classad2.parseAds(path.read_text()))
            print(f"classad2.parseAds {time.perf_counter() - start:.2f} s ({len(ads)} ads)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
