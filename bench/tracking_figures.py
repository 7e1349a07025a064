"""What the tracking benchmark reads back: latencies and retries from the request
histories, which worker runs each tracker shard, history lengths, and process figures
(the dev server's pid, the local runners' memory)."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC
from pathlib import Path

from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from wms2.messages import request_workflow_id, tracker_workflow_ids


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def dev_server_pid() -> int | None:
    """The dev server this process started (a child running `server start-dev`)."""
    me = str(os.getpid())
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if stat[1] == me and b"start-dev" in (proc / "cmdline").read_bytes():
                return int(proc.name)
        except (OSError, IndexError):
            continue
    return None


def runner_rss_mb() -> tuple[int, int]:
    """(number of local runner processes, their summed RSS in MB)."""
    count = total = 0
    for proc in Path("/proc").iterdir():
        try:
            if b"wms2.condor.local.runner" not in (proc / "cmdline").read_bytes():
                continue
            status = (proc / "status").read_text()
        except OSError:
            continue
        count += 1
        total += next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS"))
    return count, total // 1024


async def history_figures(
    client: Client, names: list[str], completed_at: dict[tuple[str, str], float]
) -> tuple[list[tuple[float, float]], int, int]:
    """(unit written, latency to the recording workflow task's completion) of each unit,
    activity timeouts and retried attempts, from the request histories."""
    latencies: list[tuple[float, float]] = []
    timeouts = retries = 0
    limit = asyncio.Semaphore(20)

    async def one(name: str) -> None:
        nonlocal timeouts, retries
        async with limit:
            handle = client.get_workflow_handle(request_workflow_id(name))
            pending: list[str] = []
            async for e in handle.fetch_history_events():
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                    attrs = e.workflow_execution_signaled_event_attributes
                    if attrs.signal_name == "dag_news":
                        body = pydantic_data_converter.payload_converter.from_payloads(
                            attrs.input.payloads
                        )[0]
                        pending += [u["name"] for u in body["result"]["new_work_units"]]
                elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and pending:
                    at = e.event_time.ToDatetime(UTC).timestamp()
                    for unit in pending:
                        if (name, unit) in completed_at:
                            written = completed_at[(name, unit)]
                            latencies.append((written, at - written))
                    pending = []
                elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
                    timeouts += 1
                elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                    retries += e.activity_task_started_event_attributes.attempt > 1

    await asyncio.gather(*(one(n) for n in names))
    return latencies, timeouts, retries


async def shard_owners(client: Client, queue: str, shards: int) -> dict[int, str]:
    """The worker identity (pid@host) running each shard's tracking call now."""
    owners = {}
    for k, wf_id in enumerate(tracker_workflow_ids(queue, shards)):
        desc = await client.get_workflow_handle(wf_id).describe()
        started = [
            p.last_worker_identity
            for p in desc.raw_description.pending_activities
            if p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        ]
        owners[k] = started[0] if started else ""
    return owners


async def history_lengths(client: Client, names: list[str]) -> int:
    limit = asyncio.Semaphore(50)

    async def one(name: str) -> int:
        async with limit:
            d = await client.get_workflow_handle(request_workflow_id(name)).describe()
            return d.history_length

    return sum(await asyncio.gather(*(one(n) for n in names)))


def by_window(latencies: list[tuple[float, float]], window: float = 30.0) -> list[str]:
    """p50/p99 of the units written in each `window` seconds: when the tail happened
    (start-up, a burst of status files, or all along)."""
    if not latencies:
        return []
    first = min(w for w, _ in latencies)
    buckets: dict[int, list[float]] = {}
    for written, lat in latencies:
        buckets.setdefault(int((written - first) // window), []).append(lat)
    return [
        f"{k * window:>5.0f}-{(k + 1) * window:<4.0f}s {len(v):>6} units, "
        f"p50 {percentile(v, 0.5):6.2f} s, p99 {percentile(v, 0.99):6.2f} s"
        for k, v in sorted(buckets.items())
    ]
