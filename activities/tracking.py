"""The DAG tracker: one activity per shard watches every active DAG of its shard.

Tracking is split in `tracker_shards` shards (wms2.tracking.shards: by schedd and request), each
a tracker workflow whose activity runs on any worker of the task queue; workers share
the shards (activities.tracker_balance), so several workers track in parallel.

Every poll interval it asks the scheduler for all DAGMan jobs at once, looks at each DAG
incrementally (wms2.tracking.watch: appended JOBSTATE_LOG lines, status files only when their
mtime changed), signals each request workflow what changed (work units completed with
their outputs, DAGMan's exit) and records it. The cost of a cycle follows what changed,
not how many DAGs exist. The blocking part of a cycle runs in a thread for the cycle
only; between cycles the activity holds no thread.

Nothing is lost or doubled when the worker dies: a unit is recorded on the DAG row only
after its signal was accepted, and a tracker that resumes (on any worker) starts from
the recorded units; a unit signalled but not yet recorded is signalled again, and the
request workflow drops units it already has. Nor when the database is away: what was
signalled stays on its DAG's cursor until it is recorded, and a cycle (of this attempt
or of a retried one on this worker) records it before it looks again. Recording is
idempotent (Repository.record_dag_observation). A signal that never arrives is made up
for by the request's own check after `dag_check_sec`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.dag_records import record_observation
from activities.deps import ActivityDeps
from activities.tracker_balance import ShardBalance
from wms2.condor import DagHandle
from wms2.condor.memory import MemoryReleaser
from wms2.messages import (
    Activity,
    DagNews,
    MonitorResult,
    TrackerInput,
    TrackerWindow,
    request_workflow_id,
)
from wms2.tracking.shards import shard_of
from wms2.tracking.watch import DagWatch

log = logging.getLogger(__name__)


@dataclass
class Outgoing:
    dag_id: uuid.UUID
    watch: DagWatch
    result: MonitorResult


class TrackerActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps
        # This worker's cursors, by shard then DAG row: each shard's activity touches
        # only its own (two shards may run at once, in two threads).
        self.cursors: dict[int, dict[uuid.UUID, DagWatch]] = {}
        self.balance = ShardBalance(deps.client, deps.settings.tracker_decline_attempts)
        s = deps.settings
        self.memory = MemoryReleaser(s.memory_bump_factor, s.memory_release_sec)

    @property
    def watches(self) -> dict[uuid.UUID, DagWatch]:
        """Every cursor of this worker, whatever its shard."""
        return {k: w for shard in list(self.cursors.values()) for k, w in shard.items()}

    @activity.defn(name=Activity.TRACK_DAGS)
    async def track_dags(self, inp: TrackerInput) -> TrackerWindow:
        settings = self.deps.settings
        identity = getattr(self.deps.client, "identity", "")
        window = TrackerWindow(worker=identity)
        info = activity.info()
        if not await self.balance.take(inp.shard, inp.shards, inp.task_queue, info.attempt):
            # Retryable: the server hands the call to a worker again after its backoff.
            raise ApplicationError(
                f"worker {identity} has its share of {inp.shards} tracker shards; "
                f"shard {inp.shard} is left to another (attempt {info.attempt})",
                type="ShardDeclined",
            )
        try:
            # Another worker may have tracked this shard since this one last did: the
            # database says what was recorded meanwhile (units it would tell again).
            await asyncio.to_thread(self._catch_up, inp.shard)
            deadline = time.monotonic() + inp.window_sec
            every = settings.tracker_rebalance_sec
            rebalance_at = time.monotonic() + every
            while time.monotonic() < deadline:
                outgoing = await asyncio.to_thread(self.cycle, inp.shard, inp.shards)
                sent = await self._send(outgoing)
                await asyncio.to_thread(self.record_signalled, inp.shard)
                window.cycles += 1
                window.dags = len(self.cursors.get(inp.shard, {}))
                window.news_sent += len(sent)
                window.send_failures += len(outgoing) - len(sent)
                activity.heartbeat(window.model_dump())
                if time.monotonic() >= rebalance_at:
                    rebalance_at = time.monotonic() + every
                    if await self.balance.hand_back(inp.shard, inp.shards, inp.task_queue):
                        window.declined = True  # the next call may land on another worker
                        break
                await asyncio.sleep(settings.tracker_poll_sec)
        finally:
            self.balance.done(inp.shard)
        return window

    def _catch_up(self, shard: int) -> None:
        repo = self.deps.repo
        for dag_id, watch in list(self.cursors.get(shard, {}).items()):
            watch.reported.update(repo.dag_work_units(dag_id))

    def cycle(self, shard: int = 0, shards: int = 1) -> list[Outgoing]:
        """One look at every active DAG of the shard; what each request must be told."""
        repo, backend = self.deps.repo, self.deps.backend
        watches = self.cursors.setdefault(shard, {})
        # First what an earlier cycle signalled and could not record: the rows then say
        # which DAGs ended, and no cursor with something unrecorded is dropped.
        self.record_signalled(shard)
        rows = [
            row
            for row in repo.tracked_dags()
            if shard_of(row.schedd, row.request_name, shards) == shard
        ]
        live = {row.dag_id for row in rows}
        for gone in set(watches) - live:
            del watches[gone]  # ended, stopped, replaced by a later attempt or moved
        handles: dict[uuid.UUID, DagHandle] = {}
        for row in rows:
            watch = watches.get(row.dag_id)
            if watch is None:
                handle = DagHandle(
                    backend=backend.name,
                    cluster_id=row.cluster_id,
                    schedd=row.schedd or "",
                    dag_file=row.dag_file,
                    batch_name=row.request_name,
                )
                watch = DagWatch(
                    row.request_name,
                    row.attempt,
                    handle,
                    reported=set(repo.dag_work_units(row.dag_id)),
                )
                watches[row.dag_id] = watch
            handles[row.dag_id] = watch.handle
        # One query per schedd: cluster ids are the schedd's own (two schedds may both
        # run a cluster 4101).
        by_schedd: dict[str, list[DagHandle]] = {}
        for h in handles.values():
            by_schedd.setdefault(h.schedd, []).append(h)
        statuses = {
            (schedd, cluster): status
            for schedd, mine in by_schedd.items()
            for cluster, status in backend.query_many(mine).items()
        }
        self.memory.cycle(backend, handles.values())  # jobs held for memory: more, released
        now = time.monotonic()
        progress_sec = self.deps.settings.tracker_progress_sec
        urgent, progress = [], []
        for dag_id, handle in handles.items():
            watch = watches[dag_id]
            status = statuses.get((handle.schedd, handle.cluster_id))
            if status is None:
                continue
            try:
                result = watch.look(status, backend)
            except OSError as e:  # a file vanished mid-read: looked at again next cycle
                log.warning("tracking %s: %s", watch.request_name, e)
                continue
            if result is not None:
                urgent.append(Outgoing(dag_id, watch, result))
            elif watch.progress_due(now, progress_sec):
                progress.append(Outgoing(dag_id, watch, MonitorResult(progress=watch.progress)))
        # Completed units and ends first, every cycle; counts alone, longest unsent first,
        # up to a budget: DAGs started together rewrite their status files together, and
        # their counts must not delay another DAG's completed unit.
        progress.sort(key=lambda o: o.watch.sent_at)
        return urgent + progress[: self.deps.settings.tracker_progress_per_cycle]

    async def _send(self, outgoing: list[Outgoing]) -> list[Outgoing]:
        """Signal each request; the ones whose signal was accepted (or whose workflow is
        gone: nobody left to tell)."""
        client = self.deps.client
        assert client is not None
        limit = asyncio.Semaphore(50)

        async def send(item: Outgoing) -> Outgoing | None:
            handle = client.get_workflow_handle(request_workflow_id(item.watch.request_name))
            async with limit:
                try:
                    await handle.signal(
                        "dag_news", DagNews(attempt=item.watch.attempt, result=item.result)
                    )
                except RPCError as e:
                    if e.status is RPCStatusCode.NOT_FOUND:
                        return item  # the request ended: record, stop watching
                    log.warning("news for %s not sent: %s", item.watch.request_name, e)
                    item.watch.pending.update(u.name for u in item.result.new_work_units)
                    return None
            return item

        results = await asyncio.gather(*(send(o) for o in outgoing))
        now = time.monotonic()
        sent = [r for r in results if r is not None]
        for item in sent:
            item.watch.sent(item.result, now)
        return sent

    def record_signalled(self, shard: int | None = None) -> None:
        """Record, oldest first, what was signalled and is not recorded yet (of one shard,
        or of all). A failure (the database is away) leaves the rest on its cursor for
        the next cycle."""
        shards = list(self.cursors) if shard is None else [shard]
        for dag_id, w in [x for k in shards for x in list(self.cursors.get(k, {}).items())]:
            for result in list(w.unrecorded):
                record_observation(self.deps.repo, w.request_name, w.attempt, result, dag_id=dag_id)
                w.recorded(result)
