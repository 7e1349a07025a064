"""Helpers to write small DAGs whose nodes record what happened to them."""

from __future__ import annotations

import json
import time
from pathlib import Path

from wms2.condor.handles import DagHandle, JobHandle, JobState, JobStatus
from wms2.condor.local.backend import LocalBackend

# A node job: appends "<node> <start> <end> <argv...>" to runs.log, sleeps, then exits
# with the code from codes/<node> (one code per line, consumed one per run), else 0.
NODE_JOB = """#!/usr/bin/env python3
import os, sys, time
node = sys.argv[1]
sleep = float(sys.argv[2]) if len(sys.argv) > 2 else 0
start = time.time()
time.sleep(sleep)
code = 0
codes = os.path.join(os.environ.get("DAGKIT_DIR", "."), "codes", node)
if os.path.exists(codes):
    lines = open(codes).read().split()
    if lines:
        code = int(lines[0])
        open(codes, "w").write(" ".join(lines[1:]))
with open(os.path.join(os.environ.get("DAGKIT_DIR", "."), "runs.log"), "a") as f:
    f.write(f"{node} {start:.6f} {time.time():.6f} {' '.join(sys.argv[3:])}\\n")
sys.exit(code)
"""

# A script that records its arguments and exits with the first one that is a number
# after '--exit', else 0.
RECORD_SCRIPT = """#!/usr/bin/env python3
import os, sys
args = sys.argv[1:]
with open(os.path.join(os.environ.get("DAGKIT_DIR", "."), "scripts.log"), "a") as f:
    f.write(os.path.basename(sys.argv[0]) + " " + " ".join(args) + "\\n")
code = int(args[args.index("--exit") + 1]) if "--exit" in args else 0
sys.exit(code)
"""


def make_kit(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in (("node_job.py", NODE_JOB), ("record.py", RECORD_SCRIPT)):
        path = root / name
        path.write_text(text)
        path.chmod(0o755)
    (root / "codes").mkdir(exist_ok=True)
    (root / "node.sub").write_text(
        f"universe = vanilla\nexecutable = {root / 'node_job.py'}\n"
        "arguments = $(node) $(sleep) $(extra)\n"
        f'environment = "DAGKIT_DIR={root}"\n'
        "should_transfer_files = NO\noutput = $(node).out\nerror = $(node).err\nlog = nodes.log\n"
        "request_cpus = 1\nrequest_memory = 100\nqueue\n"
    )
    return root


def job(name: str, sleep: float = 0.0, sub: str = "node.sub", extra: str = "") -> str:
    return f'JOB {name} {sub}\nVARS {name} node="{name}" sleep="{sleep}" extra="{extra}"\n'


def set_codes(root: Path, node: str, *codes: int) -> None:
    (root / "codes" / node).write_text(" ".join(map(str, codes)))


def runs(root: Path) -> list[tuple[str, float, float, str]]:
    path = root / "runs.log"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        node, start, end, *rest = line.split(" ")
        out.append((node, float(start), float(end), " ".join(rest)))
    return out


def max_concurrency(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = cur = 0
    for _, delta in events:
        cur += delta
        best = max(best, cur)
    return best


def wait(backend: LocalBackend, handle: DagHandle | JobHandle, timeout: float = 60) -> JobStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = backend.query(handle)
        if status.state is not JobState.ALIVE:
            return status
        time.sleep(0.05)
    raise TimeoutError(f"DAG {handle.cluster_id} still running after {timeout} s")


def wait_for(predicate, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError("condition not reached")


def metrics(dag: Path) -> dict:
    return json.loads(dag.with_name(dag.name + ".metrics").read_text())
