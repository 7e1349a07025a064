"""Benchmark: what one cached active request costs a worker, in memory.

Starts the real dev server and one worker process (bench/tracking.py's `--worker`: all
of WMS2's workflows and activities, simulated DAGs), then starts request workflows in
ACTIVE (as after submission; their simulated DAGs complete nothing) in steps, and after
each step waits until the worker is idle and reads its resident memory (VmRSS). The
per-request figure is the slope between the steps, so the worker's own start-up memory
does not count. Every request stays in the worker's workflow cache (5,000 by default).

With --tracemalloc the worker traces its allocations and, after the last step, writes
the 25 source files holding the most memory to a report (printed here): where the bytes
of the cached requests live. Tracing slows the worker; its RSS figures then include
tracemalloc's own bookkeeping, so run the figures without it.
Run: .venv/bin/python bench/memory.py [--requests 500 1000] [--tracemalloc]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import dev_server, proc_usage, worker_env  # noqa: E402
from bench.tracking import QUEUE, active_state, make_dags  # noqa: E402
from wms2.db import Repository, make_engine, upgrade_database  # noqa: E402
from wms2.messages import LifecycleConfig, RequestInput, request_workflow_id  # noqa: E402
from workflows.request import RequestWorkflow  # noqa: E402

TRACE_ENV = "WMS2_BENCH_TRACEMALLOC"  # the worker traces, and reports on SIGUSR1 to this file


def rss_mb(pid: int) -> float:
    """Resident memory now (not the peak), in MB."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(next(x for x in status if x.startswith("VmRSS")).split()[1]) / 1024


async def wait_idle(pid: int, quiet_cpu: float = 0.3, window: float = 3.0) -> None:
    """Until the worker used less than `quiet_cpu` CPU seconds in `window` seconds: every
    started workflow has run its first task (a new request's first task is the busy
    part) and the tracker's cycles alone remain."""
    last = proc_usage(pid)[0]
    while True:
        await asyncio.sleep(window)
        now = proc_usage(pid)[0]
        if now - last < quiet_cpu:
            return
        last = now


async def run(args: argparse.Namespace) -> int:
    steps = sorted(args.requests)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db_url = f"sqlite:///{root / 'wms2.db'}"
        engine = make_engine(db_url)
        upgrade_database(engine)
        dags = make_dags(root, Repository(engine), steps[-1], args.units)
        async with await dev_server() as env:
            env_vars = worker_env(
                env,
                root,
                database_url=db_url,
                task_queue=QUEUE,
                tracker_shards="1",
            )
            report = root / "tracemalloc.txt"
            if args.tracemalloc:
                env_vars[TRACE_ENV] = str(report)
            log = open(root / "worker.log", "wb")  # noqa: SIM115
            worker = subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "tracking.py"), "--worker"],
                env=env_vars,
                stdout=log,
                stderr=log,
            )
            try:
                await asyncio.sleep(5)
                await wait_idle(worker.pid)
                figures = [(0, rss_mb(worker.pid))]
                print(f"worker idle, tracker running: {figures[0][1]:.0f} MB")
                config = LifecycleConfig(dag_check_sec=3600)
                sem = asyncio.Semaphore(50)

                async def start(i: int) -> None:
                    sim = dags[i]
                    async with sem:
                        await env.client.start_workflow(
                            RequestWorkflow.run,
                            RequestInput(
                                request_name=sim.request_name,
                                config=config,
                                state=active_state(sim, str(10000 + i), "simulated", args.units),
                            ),
                            id=request_workflow_id(sim.request_name),
                            task_queue=QUEUE,
                        )

                started = 0
                for n in steps:
                    t0 = time.monotonic()
                    await asyncio.gather(*(start(i) for i in range(started, n)))
                    started = n
                    await wait_idle(worker.pid)
                    figures.append((n, rss_mb(worker.pid)))
                    print(
                        f"{n} active requests cached: worker RSS {figures[-1][1]:.0f} MB "
                        f"({time.monotonic() - t0:.0f} s to start and settle)"
                    )
                # The requests run (a workflow task that failed leaves nothing cached).
                for i in range(0, steps[-1], max(1, steps[-1] // 10)):
                    handle = env.client.get_workflow_handle(
                        request_workflow_id(dags[i].request_name)
                    )
                    state = await handle.query(RequestWorkflow.status)
                    assert state.status.value == "active", state.status
                print("10 requests queried: ACTIVE, as started")
                if args.tracemalloc:
                    worker.send_signal(signal.SIGUSR1)
                    for _ in range(60):
                        if report.exists():
                            break
                        await asyncio.sleep(1)
                    print(report.read_text() if report.exists() else "no tracemalloc report")
            finally:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=30)
        (n0, m0), (n1, m1) = figures[-2], figures[-1]
        print(
            f"per active request: {(m1 - m0) * 1024 / (n1 - n0):.0f} kB "
            f"(RSS slope from {n0} to {n1} requests); "
            f"{(figures[-1][1] - figures[0][1]) * 1024 / steps[-1]:.0f} kB over all "
            f"{steps[-1]} (load average {os.getloadavg()[0]:.1f})"
        )
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, nargs="+", default=[500, 1000])
    p.add_argument("--units", type=int, default=4, help="work units per DAG")
    p.add_argument("--tracemalloc", action="store_true", help="where the worker's bytes are")
    return asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
