"""Benchmark: 100 requests against a fake schedd limited to 200 scheduler jobs.

The real AdmissionWorkflow on the dev server, with the capacity the enqueue activity
reports (200 scheduler jobs) and each request's cost (its DAGMan + its MergeGroup
throttle, clamped by wms2.capacity). Each request is a small workflow that joins
admission, waits for `admitted`, runs its "DAG" (an activity: its DAGMan and up to
MergeGroup SUBDAG DAGMans held as scheduler jobs of a fake schedd, work units of random
length), then releases its slot. The fake schedd counts running scheduler jobs and
fails the run if they ever exceed the limit. Prints the peak, the requests completed,
how many waited for capacity and the wall time.
Run: .venv/bin/python bench/capacity.py [--requests 100] [--limit 200] [--merge-groups 10]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio import activity, workflow  # noqa: E402
from temporalio.worker import UnsandboxedWorkflowRunner, Worker  # noqa: E402

from bench.load import dev_server  # noqa: E402
from wms2.capacity import ScheddLimits, dag_scheduler_jobs, merge_group_throttle  # noqa: E402
from wms2.messages import (  # noqa: E402
    ADMISSION_WORKFLOW_ID,
    AdmissionEntry,
    AdmissionInput,
    AdmissionState,
)
from workflows.admission import AdmissionWorkflow  # noqa: E402


class FakeSchedd:
    """Running scheduler jobs of WMS2's owner, and the most there ever were."""

    def __init__(self, limit: int) -> None:
        self.limit, self.running, self.peak = limit, 0, 0
        self.lock = threading.Lock()

    def start(self, n: int = 1) -> None:
        with self.lock:
            self.running += n
            self.peak = max(self.peak, self.running)
            if self.running > self.limit:
                raise RuntimeError(f"{self.running} scheduler jobs > {self.limit}")

    def stop(self, n: int = 1) -> None:
        with self.lock:
            self.running -= n


SCHEDD = FakeSchedd(200)
WAITED: set[str] = set()


@activity.defn(name="bench_run_dag")
async def run_dag(inp: list) -> int:
    """A DAG: its DAGMan, and `units` work units at most `throttle` at a time, each a
    SUBDAG DAGMan (a scheduler job) while it runs."""
    units, throttle, seed = inp
    rng = random.Random(seed)
    SCHEDD.start()
    try:
        sem = asyncio.Semaphore(throttle)

        async def unit() -> None:
            async with sem:
                SCHEDD.start()
                try:
                    await asyncio.sleep(rng.uniform(0.2, 1.5))
                finally:
                    SCHEDD.stop()

        await asyncio.gather(*(unit() for _ in range(units)))
    finally:
        SCHEDD.stop()
    return units


@workflow.defn(name="RequestWorkflow")
class BenchRequest:
    def __init__(self) -> None:
        self.admitted = False

    @workflow.run
    async def run(self, inp: list) -> int:
        units, throttle, seed = inp
        await workflow.wait_condition(lambda: self.admitted)
        done = await workflow.execute_activity(
            "bench_run_dag", [units, throttle, seed], start_to_close_timeout=timedelta(minutes=10)
        )
        await workflow.get_external_workflow_handle(ADMISSION_WORKFLOW_ID).signal(
            "release", workflow.info().workflow_id.removeprefix("request-")
        )
        return int(done)

    @workflow.signal
    def admitted(self) -> None:
        self.admitted = True

    @workflow.signal
    def admission_wait(self, why: str) -> None:
        WAITED.add(workflow.info().workflow_id)


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=100)
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--merge-groups", type=int, default=10, help="MergeGroup throttle")
    p.add_argument("--units", type=int, default=20, help="work units per request")
    args = p.parse_args()
    SCHEDD.limit = args.limit
    throttle = merge_group_throttle(
        args.merge_groups, ScheddLimits(scheduler_jobs_per_owner=args.limit)
    )
    cost = dag_scheduler_jobs(throttle)
    queue = f"bench-capacity-{uuid.uuid4().hex[:6]}"
    async with await dev_server() as env:
        client = env.client
        async with Worker(
            client,
            task_queue=queue,
            workflows=[AdmissionWorkflow, BenchRequest],
            activities=[run_dag],
            max_concurrent_activities=args.requests,
            # The bench's request workflow lives in this script: no sandbox re-import.
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            t0 = time.monotonic()
            handles = []
            for i in range(args.requests):
                name = f"cap_{i:04d}"
                handles.append(
                    await client.start_workflow(
                        BenchRequest.run,
                        [args.units, throttle, i],
                        id=f"request-{name}",
                        task_queue=queue,
                    )
                )
                await client.start_workflow(
                    AdmissionWorkflow.run,
                    AdmissionInput(limit=300),
                    id=ADMISSION_WORKFLOW_ID,
                    task_queue=queue,
                    start_signal="enqueue",
                    start_signal_args=[
                        AdmissionEntry(
                            request_name=name,
                            priority=0,
                            enqueued_at=datetime.now(UTC),
                            cost=cost,
                            capacity=args.limit,
                        )
                    ],
                )
            peak_admitted = 0
            admission = client.get_workflow_handle(ADMISSION_WORKFLOW_ID)
            pending = [asyncio.ensure_future(h.result()) for h in handles]
            while not all(f.done() for f in pending):
                snap = await admission.query(AdmissionWorkflow.snapshot, result_type=AdmissionState)
                peak_admitted = max(peak_admitted, sum(snap.costs.values()))
                await asyncio.sleep(0.2)
            results = [f.result() for f in pending]
            wall = time.monotonic() - t0
            await admission.terminate("benchmark over")
    print(
        f"capacity benchmark: {args.requests} requests, fake schedd of {args.limit} scheduler jobs"
    )
    print(f"  MergeGroup throttle {throttle}: {cost} scheduler jobs per request at most")
    print(f"  requests completed      {sum(r == args.units for r in results)}/{args.requests}")
    print(f"  admitted scheduler jobs peak {peak_admitted} (admission's budget)")
    print(f"  running scheduler jobs  peak {SCHEDD.peak} of {args.limit} (fake schedd)")
    print(f"  requests told they wait {len(WAITED)}")
    print(f"  wall time               {wall:.0f} s")
    return 0 if SCHEDD.peak <= args.limit else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
