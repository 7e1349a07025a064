"""Planning with Python's cyclic garbage collector paused.

A plan of 100,000 nodes allocates a few million containers (records, lists, tuples,
nodes) and keeps nearly all of them until it ends, so the collector's full passes walk
an ever larger heap and find nothing: about a third of planning's CPU time (bench/plan.py,
100,000 FileBased nodes: 2.7 s -> 1.8 s). Planning makes no reference cycles worth
collecting before it ends; the collector runs again once the last plan in the process is
done. Nested or concurrent plans (worker threads) count their pauses, so the collector
comes back only when none is planning, and only if it was enabled before.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pauses = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()
