"""How a worker takes its share of the tracker shards, and gives up the rest.

Temporal hands a shard's `track_dags` call to whichever worker polls first, so one
worker could end up tracking every shard. Each worker therefore counts the live workers
of its task queue (the pollers the server saw lately) and takes at most its fair share
(shards / workers, rounded up): beyond it, it declines the call (a retryable error:
the server retries it, possibly on another worker), and a shard it already tracks beyond
its share ends its window early so that the next call lands elsewhere. A declined call
is taken anyway after `decline_attempts` attempts: when a worker died and the server
still lists it, or every other worker has its share, the shard is tracked rather than
left alone. Such a shard is kept while a dead worker could still be listed (a poller
stays listed POLLER_RECENT), then handed back like any other beyond the share: a loaded
worker that won every retry must not keep it for good.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

log = logging.getLogger(__name__)

POLLER_RECENT = timedelta(seconds=90)  # an idle long poll lasts about 70 s
CACHE_SEC = 15.0


class ShardBalance:
    def __init__(
        self,
        client: Client | None,
        decline_attempts: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.decline_attempts = decline_attempts
        self.clock = clock
        self.running: set[int] = set()  # the shards this worker tracks now
        # Taken after every decline, and when: kept while a dead worker may be listed.
        self.forced: dict[int, float] = {}
        self._workers = 1
        self._workers_at = -math.inf

    async def live_workers(self, task_queue: str) -> int:
        """Distinct worker identities polling the queue's activities lately (at least 1);
        1 when the server cannot tell (then nothing is declined)."""
        if time.monotonic() - self._workers_at < CACHE_SEC:
            return self._workers
        try:
            assert self.client is not None
            resp = await self.client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=self.client.namespace,
                    task_queue=TaskQueue(name=task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
                ),
                timeout=timedelta(seconds=5),
            )
            since = datetime.now(UTC) - POLLER_RECENT
            identities = {
                p.identity for p in resp.pollers if p.last_access_time.ToDatetime(UTC) >= since
            }
            self._workers = max(1, len(identities))
        except Exception as e:  # an old server, a fake client: track, do not balance
            log.debug("live workers of %s unknown: %s", task_queue, e)
            self._workers = 1
        self._workers_at = time.monotonic()
        return self._workers

    @staticmethod
    def share(shards: int, workers: int) -> int:
        return math.ceil(shards / max(workers, 1))

    async def take(self, shard: int, shards: int, task_queue: str, attempt: int) -> bool:
        """Whether this worker tracks `shard` now (False: decline this attempt)."""
        if shards > 1 and attempt <= self.decline_attempts:
            held = len(self.running - {shard})
            if held >= self.share(shards, await self.live_workers(task_queue)):
                return False
        self.running.add(shard)
        if attempt > self.decline_attempts and shards > 1:
            self.forced[shard] = self.clock()
        return True

    async def hand_back(self, shard: int, shards: int, task_queue: str) -> bool:
        """Whether `shard` is beyond this worker's share (the highest-numbered ones are)."""
        if shards <= 1:
            return False
        forced_at = self.forced.get(shard)
        if forced_at is not None and self.clock() - forced_at < POLLER_RECENT.total_seconds():
            return False
        share = self.share(shards, await self.live_workers(task_queue))
        return shard in sorted(self.running)[share:]

    def done(self, shard: int) -> None:
        self.running.discard(shard)
        self.forced.pop(shard, None)
