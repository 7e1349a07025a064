"""The admission queue: highest priority first, then earliest submission, then name.

A heap with lazy deletion keyed by request name: enqueue, release, a priority change and
an admission each cost O(log n), so a queue of thousands of requests never re-sorts or
rescans itself per signal. Superseded heap items (a re-enqueue, a priority change, a
release) are skipped when they surface, and the heap is rebuilt when they outnumber the
live entries.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from wms2.messages import AdmissionEntry

OrderKey = tuple[int, str, str]


def admission_order(entry: AdmissionEntry) -> OrderKey:
    return (-entry.priority, entry.enqueued_at.isoformat(), entry.request_name)


class AdmissionQueue:
    def __init__(self, entries: Iterable[AdmissionEntry] = ()) -> None:
        self._entries: dict[str, AdmissionEntry] = {}
        self._heap: list[tuple[OrderKey, str]] = []
        for entry in entries:
            self.put(entry)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, request_name: str) -> bool:
        return request_name in self._entries

    def put(self, entry: AdmissionEntry) -> None:
        """Add a request, or replace its entry (a retried or repeated enqueue)."""
        self._entries[entry.request_name] = entry
        heapq.heappush(self._heap, (admission_order(entry), entry.request_name))
        self._compact()

    def remove(self, request_name: str) -> None:
        self._entries.pop(request_name, None)

    def set_priority(self, request_name: str, priority: int) -> bool:
        entry = self._entries.get(request_name)
        if entry is None:
            return False
        self.put(entry.model_copy(update={"priority": priority}))
        return True

    def pop(self) -> AdmissionEntry | None:
        """The request to admit next, removed from the queue (None when empty)."""
        while self._heap:
            key, name = heapq.heappop(self._heap)
            entry = self._entries.get(name)
            if entry is not None and admission_order(entry) == key:
                del self._entries[name]
                return entry
        return None

    def peek(self) -> AdmissionEntry | None:
        """The request to admit next, left in the queue (None when empty)."""
        while self._heap:
            key, name = self._heap[0]
            entry = self._entries.get(name)
            if entry is not None and admission_order(entry) == key:
                return entry
            heapq.heappop(self._heap)  # superseded: never surfaces again
        return None

    def entries(self) -> list[AdmissionEntry]:
        """The queue in admission order (for queries and continue-as-new)."""
        return sorted(self._entries.values(), key=admission_order)

    def _compact(self) -> None:
        if len(self._heap) > 2 * len(self._entries) + 64:
            self._heap = [(admission_order(e), n) for n, e in self._entries.items()]
            heapq.heapify(self._heap)
