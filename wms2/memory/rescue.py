"""The memory a work unit's rescue starts its processing jobs with: what its nodes learnt
in earlier rounds, so a rescue does not rerun a memory-failed node with the request that
already failed. Pure arithmetic, checked by hand in tests.

- A node whose memory was raised (an eviction with HTCondor's retry, or WMS2's release of
  a memory hold: the memory ledger) ran with that much: the rescue starts there.
- A node whose last try failed for memory (it ended held for memory and was never
  released, or its payload exited with a memory exit code) needs one raise more than the
  request it failed with: `next_memory(failed, factor, maximum)`, the same step as a
  release.

The unit's processing jobs share one submit description, so the unit gets the highest of
its nodes' wants, at most the job's maximum (WMS2_MaxMemoryMB) and never less than what
it asks now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wms2.memory.policy import next_memory

# Exit codes a payload gives when it ran out of memory: WMCore's watchdog killed it for
# its RSS (50660) or virtual size (50661); CMSSW's std::bad_alloc (8004).
MEMORY_EXIT_CODES = frozenset({50660, 50661, 8004})

# The request a memory hold names: the local pool's "it requested 300 MB", HTCondor's
# "Job has gone over memory limit of 300 megabytes". A real pool's schedd raises a job
# by its own retry without telling WMS2, so the reason may know more than the ledger.
_REQUESTED = re.compile(r"(?:requested|memory limit of)\s+(\d+)\s*(?:MB|megabytes)\b", re.I)


@dataclass(frozen=True)
class NodeMemory:
    node: str
    raised_mb: int | None = None  # the highest request a recorded raise gave it
    failed_mb: int | None = None  # the request its last try failed for memory with


@dataclass(frozen=True)
class RescueMemory:
    from_mb: int
    to_mb: int
    why: str  # the node that decided it, and how


def requested_in(reason: str) -> int | None:
    """The request (MB) a memory hold reason names, if it names one."""
    m = _REQUESTED.search(reason)
    return int(m.group(1)) if m else None


def rescue_memory(
    current_mb: int, max_mb: int, factor: float, nodes: list[NodeMemory]
) -> RescueMemory | None:
    """The unit's new request, or None when its nodes teach nothing above `current_mb`."""
    wants: list[tuple[int, str]] = []
    for n in nodes:
        if n.raised_mb is not None:
            wants.append((min(n.raised_mb, max_mb), f"{n.node} was raised to {n.raised_mb} MB"))
        if n.failed_mb is not None:
            step = next_memory(n.failed_mb, factor, max_mb)
            wants.append((step, f"{n.node} failed for memory at {n.failed_mb} MB"))
    if not wants:
        return None
    to_mb = max(w for w, _ in wants)
    if to_mb <= current_mb:
        return None
    why = next(w for mb, w in wants if mb == to_mb)  # the first node that asks the most
    return RescueMemory(current_mb, to_mb, why)
