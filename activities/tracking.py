"""The DAG tracker: one activity per submit host watches every active DAG it owns.

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
from temporalio.service import RPCError, RPCStatusCode

from activities.dag_records import record_observation
from activities.deps import ActivityDeps
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
        self.watches: dict[uuid.UUID, DagWatch] = {}  # this worker's cursors, by DAG row
        s = deps.settings
        self.memory = MemoryReleaser(s.memory_bump_factor, s.memory_release_sec)

    @activity.defn(name=Activity.TRACK_DAGS)
    async def track_dags(self, inp: TrackerInput) -> TrackerWindow:
        settings = self.deps.settings
        window = TrackerWindow()
        deadline = time.monotonic() + inp.window_sec
        while time.monotonic() < deadline:
            outgoing = await asyncio.to_thread(self.cycle)
            sent = await self._send(outgoing)
            await asyncio.to_thread(self.record_signalled)
            window.cycles += 1
            window.dags = len(self.watches)
            window.news_sent += len(sent)
            window.send_failures += len(outgoing) - len(sent)
            activity.heartbeat(window.model_dump())
            await asyncio.sleep(settings.tracker_poll_sec)
        return window

    def cycle(self) -> list[Outgoing]:
        """One look at every active DAG; what each request must be told."""
        repo, backend = self.deps.repo, self.deps.backend
        # First what an earlier cycle signalled and could not record: the rows then say
        # which DAGs ended, and no cursor with something unrecorded is dropped.
        self.record_signalled()
        rows = repo.tracked_dags()
        live = {row.dag_id for row in rows}
        for gone in set(self.watches) - live:
            del self.watches[gone]  # ended, stopped or replaced by a later attempt
        handles: dict[uuid.UUID, DagHandle] = {}
        for row in rows:
            watch = self.watches.get(row.dag_id)
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
                self.watches[row.dag_id] = watch
            handles[row.dag_id] = watch.handle
        statuses = backend.query_many(list(handles.values()))
        self.memory.cycle(backend, handles.values())  # jobs held for memory: more, released
        now = time.monotonic()
        progress_sec = self.deps.settings.tracker_progress_sec
        urgent, progress = [], []
        for dag_id, handle in handles.items():
            watch = self.watches[dag_id]
            status = statuses.get(handle.cluster_id)
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

    def record_signalled(self) -> None:
        """Record, oldest first, what was signalled and is not recorded yet. A failure
        (the database is away) leaves the rest on its cursor for the next cycle."""
        for dag_id, w in list(self.watches.items()):
            for result in list(w.unrecorded):
                record_observation(self.deps.repo, w.request_name, w.attempt, result, dag_id=dag_id)
                w.recorded(result)
