"""Benchmark: the admission workflow with thousands of waiting requests.

Starts the real dev server and a worker for AdmissionWorkflow alone, pauses admission,
enqueues N requests by signal-with-start (as request workflows do), changes priorities,
then resumes and lets every entry be admitted (no request workflow exists, so each
admission signal fails and frees its slot at once: the queue drains as fast as the
workflow can pick). Prints the time to enqueue, the history length and runs (continue-as-
new) of the admission workflow, the time of a priority change and of a snapshot query,
and the time to drain.
Run: .venv/bin/python bench/admission.py [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.client import Client, WorkflowExecutionStatus  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from wms2.binaries import find_binary  # noqa: E402
from wms2.messages import (  # noqa: E402
    ADMISSION_WORKFLOW_ID,
    AdmissionEntry,
    AdmissionInput,
    PauseAdmission,
    PriorityChange,
)
from workflows.admission import AdmissionWorkflow  # noqa: E402

QUEUE = "wms2-bench-admission"


async def runs_and_events(client: Client) -> tuple[int, int]:
    """(runs of the admission workflow, events in its current run)."""
    runs = 0
    async for _ in client.list_workflows(f"WorkflowId = '{ADMISSION_WORKFLOW_ID}'"):
        runs += 1
    desc = await client.get_workflow_handle(ADMISSION_WORKFLOW_ID).describe()
    return runs, desc.history_length


async def main() -> int:
    # Thousands of "could not admit" warnings are the benchmark working as designed.
    logging.basicConfig(level=logging.ERROR)
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=3000)
    args = p.parse_args()
    n = args.requests
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"), data_converter=pydantic_data_converter
    ) as env:
        client = env.client
        async with Worker(client, task_queue=QUEUE, workflows=[AdmissionWorkflow]):
            handle = await client.start_workflow(
                AdmissionWorkflow.run,
                AdmissionInput(limit=300),
                id=ADMISSION_WORKFLOW_ID,
                task_queue=QUEUE,
            )
            await handle.execute_update(AdmissionWorkflow.pause, PauseAdmission(reason="bench"))
            rng = random.Random(1)
            t0 = datetime(2026, 11, 30, tzinfo=UTC)
            sem = asyncio.Semaphore(50)

            async def enqueue(i: int) -> None:
                entry = AdmissionEntry(
                    request_name=f"bench_adm_{i:05d}",
                    priority=rng.randrange(1000) * 100,
                    enqueued_at=t0 + timedelta(seconds=i),
                )
                async with sem:
                    await client.start_workflow(
                        AdmissionWorkflow.run,
                        AdmissionInput(limit=300),
                        id=ADMISSION_WORKFLOW_ID,
                        task_queue=QUEUE,
                        start_signal="enqueue",
                        start_signal_args=[entry],
                    )

            start = time.monotonic()
            await asyncio.gather(*(enqueue(i) for i in range(n)))
            while len((await handle.query(AdmissionWorkflow.snapshot)).queue) < n:
                await asyncio.sleep(0.5)
            enqueued = time.monotonic() - start
            runs, events = await runs_and_events(client)
            t = time.monotonic()
            await handle.signal(
                AdmissionWorkflow.set_priority,
                PriorityChange(request_name=f"bench_adm_{n // 2:05d}", priority=10**7),
            )
            snap = await handle.query(AdmissionWorkflow.snapshot)
            while snap.queue[0].request_name != f"bench_adm_{n // 2:05d}":
                snap = await handle.query(AdmissionWorkflow.snapshot)
            changed = time.monotonic() - t
            t = time.monotonic()
            await handle.query(AdmissionWorkflow.snapshot)
            query = time.monotonic() - t
            t = time.monotonic()
            await handle.execute_update(AdmissionWorkflow.resume)
            while True:
                snap = await handle.query(AdmissionWorkflow.snapshot)
                if not snap.queue and snap.admitted_total >= n:
                    break
                await asyncio.sleep(0.5)
            drained = time.monotonic() - t
            runs_after, events_after = await runs_and_events(client)
            status = (await handle.describe()).status
            await handle.terminate("bench over")
    print(f"requests enqueued    {n} in {enqueued:.1f} s (signal-with-start, 50 at a time)")
    print(f"admission history    {events} events in run {runs} after enqueueing")
    print(f"priority change      reached the head of the queue in {changed * 1000:.0f} ms")
    print(f"snapshot query       {query * 1000:.0f} ms with {n} entries")
    print(f"all admitted after   {drained:.1f} s (every admission signal fails: no workflows)")
    print(
        f"admission history    {events_after} events in run {runs_after} at the end "
        f"({'running' if status is WorkflowExecutionStatus.RUNNING else status})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
