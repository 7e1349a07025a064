"""Benchmark: run a DAG of 2,000 trivial nodes on the local backend and print nodes per
second. Goal: at least 100 nodes/s on this machine.
Run: .venv/bin/python bench/local_throughput.py [--nodes N] [--slots S]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wms2.condor.handles import JobState
from wms2.condor.local.backend import LocalBackend


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--nodes", type=int, default=2000)
    p.add_argument("--slots", type=int, default=os.cpu_count() or 2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "true.sub").write_text(
            "executable = /bin/true\nshould_transfer_files = NO\nqueue\n"
        )
        lines = [f"JOB n{i:05d} true.sub" for i in range(args.nodes)]
        (root / "bench.dag").write_text(
            "\n".join(lines) + "\nNODE_STATUS_FILE bench.dag.status 60\n"
        )
        backend = LocalBackend(root / "state", "T2_XX_Bench", args.slots, status_interval=5)
        start = time.monotonic()
        handle = backend.submit_dag(root / "bench.dag")
        while (status := backend.query(handle)).state is JobState.ALIVE:
            time.sleep(0.05)
        wall = time.monotonic() - start
        m = json.loads((root / "bench.dag.metrics").read_text())
        assert status.exit_code == 0 and m["nodes_succeeded"] == args.nodes
        print(f"nodes            {args.nodes} trivial (/bin/true), {args.slots} slots")
        print(f"wall time        {wall:.2f} s (submit to exit, runner start-up included)")
        print(f"throughput       {args.nodes / wall:.0f} nodes/s (goal >= 100)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
