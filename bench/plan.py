"""Benchmark: plan a synthetic dataset of 100,000 files (3 lumis each) into >= 100,000
processing nodes through the real offline catalog and DAG writer.

Prints wall time, peak memory and files written. Goal: under 20 s and under 1 GB.
Run: .venv/bin/python bench/plan.py [--files N] [--algo FileBased|LumiBased|...]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wms2.config import Settings
from wms2.models import Request, SplittingAlgo
from wms2.planning import plan_request
from wms2.services.catalog import OfflineCatalog
from wms2.services.catalog_builder import build_dataset

DATASET = "/BenchPrimary/BenchEra-BenchProc-v1/GEN-SIM"
PARAMS = {
    "FileBased": {"files_per_job": 1},
    "LumiBased": {"lumis_per_job": 3},
    "EventAwareLumiBased": {"events_per_job": 300},
    "EventBased": {"events_per_job": 300},
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--files", type=int, default=100_000)
    p.add_argument("--algo", default="FileBased", choices=sorted(PARAMS))
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "catalog" / "datasets").mkdir(parents=True)
        (root / "catalog" / "requests").mkdir()
        t0 = time.monotonic()
        doc = build_dataset(DATASET, args.files, blocks=100, lumis_per_file=3, runs=(1,))
        (root / "catalog" / "datasets" / "bench.json").write_text(json.dumps(doc))
        del doc
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
        start = time.monotonic()
        summary = plan_request(request, catalog, catalog, settings)
        wall = time.monotonic() - start
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        files = sum(1 for p in Path(summary.dag_dir).rglob("*") if p.is_file())
        print(f"algorithm        {args.algo}")
        print(f"processing nodes {summary.node_counts['Processing']}")
        print(f"total nodes      {summary.total_nodes} in {summary.work_units} work units")
        print(f"planning wall    {wall:.2f} s (goal < 20 s)")
        print(
            f"peak memory      {peak_mb:.0f} MB "
            f"(before planning {rss_before / 1024:.0f} MB; goal < 1024 MB)"
        )
        print(f"files written    {files}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
