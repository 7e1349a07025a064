#!/usr/bin/env python3
"""WMS2 payload wrapper: runs one processing node (or the pilot) on a worker node.

Modes (from the sandbox manifest): "synthetic" sleeps and writes output of the size the
request predicts, scaled and capped so that a demo finishes in seconds; "cmssw" runs
scram + cmsRun per step when /cvmfs is present, and otherwise falls back to synthetic with
a warning. Outputs go to unmerged/<node>.out<i>.root with a <same>.json sidecar.
Exit codes (a process exit status is one byte, so sysexits values, not CMSSW's
8001-style codes): 0 ok, 1 transient failure, 78 bad configuration (permanent).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from wms2_tweak import write_job_files  # beside this script in the DAG's bin directory

BAD_CONFIG = 78  # EX_CONFIG
# Fault injection: WMS2_GROW_MEMORY="proc_000001:400,..." makes these nodes use that many
# MB of resident memory, for GROW_HOLD_SEC at least (a slot's monitor must see it).
GROW_HOLD_SEC = 1.0


def load_sandbox(path: Path) -> dict:
    dest = Path("sandbox")
    if not dest.exists():
        with tarfile.open(path) as tar:
            tar.extractall(dest, filter="data")
    return json.loads((dest / "manifest.json").read_text())


def write_output(path: Path, size: int, seed: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    block = (seed.encode() * (4096 // max(len(seed), 1) + 1))[:4096]
    with open(path, "wb") as f:
        remaining = size
        while remaining > 0:
            f.write(block[: min(remaining, len(block))])
            remaining -= len(block)


def synthetic(manifest: dict, node: str, events: int) -> float:
    """Sleep for the scaled time and write every output; returns seconds slept.
    WMS2_SLOW_FACTOR (tests, demos): jobs run that many times longer than estimated."""
    syn = manifest["synthetic"]
    seconds = min(events * manifest["time_per_event_sec"] * syn["time_scale"], syn["max_seconds"])
    seconds *= float(os.environ.get("WMS2_SLOW_FACTOR", "1"))
    time.sleep(seconds)
    for i, out in enumerate(manifest["outputs"]):
        # Each output as large as the step that writes it makes it.
        per_event = out.get("size_per_event_kb", manifest["size_per_event_kb"])
        size = int(events * per_event * 1024 * syn["size_scale"])
        size = max(1, min(size, syn["max_output_bytes"]))
        write_output(Path("unmerged") / f"{node}.out{i}.root", size, f"{node}:{out['dataset']}")
        sidecar = {"dataset": out["dataset"], "events": events, "node": node}
        (Path("unmerged") / f"{node}.out{i}.json").write_text(json.dumps(sidecar))
    return seconds


def cmssw(manifest: dict, node: str, spec: dict) -> int:
    """Write the job's per-step tweak files and script (wms2_tweak), then run it."""
    script = write_job_files(manifest, node, spec)
    return subprocess.call(["bash", str(script)])


def run(manifest: dict, node: str, spec: dict) -> int:
    mode = manifest.get("mode", "synthetic")
    events = int(spec["events"])
    if mode == "cmssw":
        if Path("/cvmfs/cms.cern.ch").is_dir():
            return cmssw(manifest, node, spec)
        # What the job would run is still written, for inspection.
        write_job_files(manifest, node, spec)
        print("WARNING: /cvmfs is not mounted; running the synthetic payload", file=sys.stderr)
    elif mode != "synthetic":
        print(f"ERROR: unknown payload mode {mode!r}", file=sys.stderr)
        return BAD_CONFIG
    started = time.monotonic()
    slept = synthetic(manifest, node, events)
    syn = manifest["synthetic"]
    capped = events * manifest["time_per_event_sec"] * syn["time_scale"] > syn["max_seconds"]
    job_report(events, time.monotonic() - started, syn["time_scale"], capped or slept <= 0)
    return 0


def job_report(events: int, wall_sec: float, time_scale: float, capped: bool) -> None:
    """One line on stdout (the job's .out always comes back to the submit host) that
    WMS2's sizing reads (wms2/sizing): events, wall time, the synthetic time scale (1 for
    a real payload), peak RSS, and whether the time was capped (then it says nothing
    about the time per event)."""
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    report = {
        "events": events,
        "wall_sec": round(wall_sec, 4),
        "time_scale": time_scale,
        "peak_rss_mb": round(rss_mb, 1),
        "capped": capped,
    }
    print("WMS2_JOB_REPORT " + json.dumps(report, separators=(",", ":")), flush=True)


def pilot(manifest: dict, base_events: int, iterations: int) -> int:
    """Pilot mode (spec 5.2): N, 2N, 4N events, measured; writes pilot_metrics.json."""
    results = []
    for it in range(iterations):
        events = base_events * 2**it
        start = time.monotonic()
        cpu0 = time.process_time()
        synthetic(manifest, f"pilot_{it}", events)
        wall = max(time.monotonic() - start, 1e-6)
        out_bytes = sum(p.stat().st_size for p in Path("unmerged").glob(f"pilot_{it}.out*.root"))
        results.append(
            {
                "events": events,
                "wall_time_sec": round(wall, 6),
                "memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                "cpu_efficiency": round(min(1.0, (time.process_time() - cpu0) / wall), 4),
                "output_bytes": out_bytes,
            }
        )
    syn = manifest["synthetic"]
    last = results[-1]
    # Measured values, unscaled back to what a real job would see.
    tpe = manifest["time_per_event_sec"]
    if syn["time_scale"] > 0 and last["wall_time_sec"] < syn["max_seconds"]:
        tpe = last["wall_time_sec"] / last["events"] / syn["time_scale"]
    spe_kb = manifest["size_per_event_kb"]
    if syn["size_scale"] > 0 and last["output_bytes"] < syn["max_output_bytes"] * len(
        manifest["outputs"]
    ):
        spe_kb = (
            last["output_bytes"]
            / len(manifest["outputs"])
            / last["events"]
            / 1024
            / syn["size_scale"]
        )
    memory = max(r["memory_mb"] for r in results)
    target = manifest.get("target_job_hours", 8) * 3600
    events_per_job = max(1, int(target / max(tpe, 1e-9)))
    report = {
        "iterations": results,
        "per_step": [
            {
                "step": s["name"],
                "time_per_event": tpe / max(len(manifest["steps"]), 1),
                "memory_mb": memory,
                "output_size_per_event_kb": spe_kb,
                "threads": manifest.get("cores", 1),
            }
            for s in manifest["steps"]
        ],
        "recommended": {
            "events_per_job": events_per_job,
            "memory_mb": max(manifest["memory_mb"], int(memory * 1.2)),
            "time_per_job_sec": int(events_per_job * tpe),
            "output_size_per_event_kb": spe_kb,
        },
    }
    Path("pilot_metrics.json").write_text(json.dumps(report, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sandbox", type=Path, required=True)
    p.add_argument("--node", default="pilot")
    p.add_argument("--manifest", type=Path, help="group manifest with this node's inputs")
    p.add_argument("--pilot", action="store_true")
    p.add_argument("--pilot-events", type=int, default=10)
    p.add_argument("--pilot-iterations", type=int, default=3)
    args = p.parse_args(argv)
    try:
        manifest = load_sandbox(args.sandbox)
    except (OSError, ValueError, tarfile.TarError) as e:
        print(f"ERROR: cannot read sandbox {args.sandbox}: {e}", file=sys.stderr)
        return BAD_CONFIG
    if args.pilot:
        return pilot(manifest, args.pilot_events, args.pilot_iterations)
    try:
        node = json.loads(args.manifest.read_text())["nodes"][args.node]
    except (OSError, ValueError, KeyError, AttributeError) as e:
        print(f"ERROR: no inputs for node {args.node} in {args.manifest}: {e}", file=sys.stderr)
        return BAD_CONFIG
    fail = os.environ.get("WMS2_FAIL_NODES", "")
    if args.node in fail.split(","):  # fault injection for tests and demos
        print(f"ERROR: failing {args.node} on request (WMS2_FAIL_NODES)", file=sys.stderr)
        return 1
    if args.node in os.environ.get("WMS2_FAIL_ONCE", "").split(",") and fail_first_try(args.node):
        print(f"ERROR: failing {args.node} once on request (WMS2_FAIL_ONCE)", file=sys.stderr)
        return 1
    site = landed_site()
    if site and site in os.environ.get("WMS2_FAIL_SITES", "").split(","):
        # a broken site for tests and demos: 69, "service unavailable", a site error
        print(f"ERROR: {site} fails every job (WMS2_FAIL_SITES)", file=sys.stderr)
        return 69
    ballast = grow_memory(args.node)  # held until the node's work is done
    code = run(manifest, args.node, node)
    del ballast
    return code


def fail_first_try(node: str) -> bool:
    """True on the node's first try only: a marker in the job's initial directory (the
    work unit's, which every try of the node shares) says it failed once already."""
    marker = Path(os.environ.get("_CONDOR_JOB_IWD", ".")) / f".wms2_failed_once.{node}"
    if marker.exists():
        return False
    marker.touch()
    return True


def grow_memory(node: str) -> bytes:
    """Resident memory WMS2_GROW_MEMORY asks this node to use (filled, so every page is
    resident: untouched pages would not count)."""
    for item in os.environ.get("WMS2_GROW_MEMORY", "").split(","):
        name, _, mb = item.partition(":")
        if name.strip() == node and mb.strip().isdigit():
            ballast = b"\x01" * (int(mb) * 2**20)
            print(f"growing to {mb} MB (WMS2_GROW_MEMORY)", file=sys.stderr, flush=True)
            time.sleep(GROW_HOLD_SEC)
            return ballast
    return b""


def landed_site() -> str:
    """GLIDEIN_CMSSite of the machine ad HTCondor gives the job ('' if none)."""
    path = os.environ.get("_CONDOR_MACHINE_AD", "")
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return ""
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "GLIDEIN_CMSSite":
            return value.strip().strip('"')
    return ""


if __name__ == "__main__":
    sys.exit(main())
