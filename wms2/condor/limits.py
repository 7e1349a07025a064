"""Each configured schedd's limits for WMS2's owner, its configuration read at most once
per `ttl` seconds.

Reading a named schedd's configuration is a RemoteParam round trip to that schedd (the
collector's locate, then the schedd): too slow and too fragile to do at every request's
enqueue and every DAG submission, and the knobs change rarely. One cache per worker
(ActivityDeps), shared by admission's budget and the DAG placement, so both see the same
limits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from wms2.capacity import ScheddLimits, limits_of

DEFAULT_TTL_SEC = 300.0


class ScheddLimitsCache:
    """`read(schedd)`: the schedd's own configuration (None when the backend cannot tell);
    `configured`: WMS2_SCHEDD_LIMITS. Thread-safe: activities run on a thread pool."""

    def __init__(
        self,
        read: Callable[[str], ScheddLimits | None],
        configured: Mapping[str, ScheddLimits],
        ttl: float = DEFAULT_TTL_SEC,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read, self._configured, self._ttl, self._clock = read, configured, ttl, clock
        self._read_at: dict[str, tuple[float, ScheddLimits | None]] = {}
        self._lock = threading.Lock()

    def limits(self, schedd: str) -> ScheddLimits:
        """The settings for it, over its configuration (read again once `ttl` passed),
        over HTCondor's defaults."""
        with self._lock:
            hit = self._read_at.get(schedd)
            now = self._clock()
            if hit is None or now - hit[0] >= self._ttl:
                hit = (now, self._read(schedd))
                self._read_at[schedd] = hit
        return limits_of(schedd, self._configured, hit[1])

    def all(self, schedds: list[str]) -> dict[str, ScheddLimits]:
        return {name: self.limits(name) for name in schedds}


def backend_reader(backend: Any, several: bool) -> Callable[[str], ScheddLimits | None]:
    """How a backend tells a schedd's configuration: SeveralSchedds by name, a single
    backend its own (htcondor2), None when it cannot (the local backend)."""
    if several:
        return backend.read_limits  # type: ignore[no-any-return]
    reader = getattr(backend, "read_limits", None)
    return lambda _name: reader() if reader is not None else None
