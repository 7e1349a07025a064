"""Benchmark: plan a synthetic dataset of 100,000 files (3 lumis each) into >= 100,000
processing nodes through the real offline catalog and DAG writer.

Prints wall time, process CPU time, peak RSS and files written. The catalog is generated
in a child process, so the peak RSS is the planner's (with the interpreter and imports).
Goals: CPU < 2.9 s and peak RSS < 184 MB for 100,000 FileBased nodes with the DAG
directory on tmpfs (--dir /dev/shm); CPU time, not wall time, on a shared machine.
Run: .venv/bin/python bench/plan.py [--files N] [--algo FileBased|LumiBased|...] [--dir D]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wms2.config import Settings
from wms2.models import Request, SplittingAlgo
from wms2.plan_dag import plan_request
from wms2.services.catalog import OfflineCatalog
from wms2.services.catalog_builder import build_dataset

DATASET = "/BenchPrimary/BenchEra-BenchProc-v1/GEN-SIM"
PARAMS = {
    "FileBased": {"files_per_job": 1},
    "LumiBased": {"lumis_per_job": 3},
    "EventAwareLumiBased": {"events_per_job": 300},
    "EventBased": {"events_per_job": 300},
}


def write_catalog(path: Path, files: int) -> None:
    doc = build_dataset(DATASET, files, blocks=100, lumis_per_file=3, runs=(1,))
    path.write_text(json.dumps(doc))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--files", type=int, default=100_000)
    p.add_argument("--algo", default="FileBased", choices=sorted(PARAMS))
    p.add_argument("--dir", default=None, help="where the DAG directory goes (tmpfs: /dev/shm)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        (root / "catalog" / "datasets").mkdir(parents=True)
        (root / "catalog" / "requests").mkdir()
        t0 = time.monotonic()
        child = multiprocessing.Process(
            target=write_catalog, args=(root / "catalog" / "datasets" / "bench.json", args.files)
        )
        child.start()
        child.join()
        print(f"catalog of {args.files} files generated in {time.monotonic() - t0:.1f} s")
        settings = Settings(
            state_dir=root / ".wms2",
            submit_dir=root / "submit",
            output_dir=root / "store",
            catalog_dir=root / "catalog",
        )
        request = Request(
            request_name="bench_request",
            requestor="bench",
            input_dataset=DATASET,
            output_datasets=["/BenchPrimary/BenchEra2-BenchProc-v1/AODSIM"],
            cmssw_version="CMSSW_14_0_0",
            scram_arch="el9_amd64_gcc12",
            splitting_algo=SplittingAlgo(args.algo),
            splitting_params=PARAMS[args.algo],
            size_per_event_kb=300.0,
        )
        catalog = OfflineCatalog(root / "catalog", root / "state")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start, cpu0 = time.monotonic(), time.process_time()
        summary = plan_request(request, catalog, catalog, settings)
        wall, cpu = time.monotonic() - start, time.process_time() - cpu0
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        files = sum(1 for p in Path(summary.dag_dir).rglob("*") if p.is_file())
        print(f"algorithm        {args.algo}")
        print(f"processing nodes {summary.node_counts['Processing']}")
        print(f"total nodes      {summary.total_nodes} in {summary.work_units} work units")
        print(f"planning wall    {wall:.2f} s")
        print(f"planning CPU     {cpu:.2f} s (goal < 2.9 s)")
        print(
            f"peak RSS         {peak_mb:.0f} MB "
            f"(before planning {rss_before / 1024:.0f} MB; goal < 184 MB)"
        )
        print(f"DAG directory    {'tmpfs ' if args.dir == '/dev/shm' else ''}{root}")
        print(f"files written    {files}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
