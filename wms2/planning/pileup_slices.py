"""DeterministicPileup: each job's own, reproducible slice of the pileup.

WMCore's splitters give job n of a workflow (1-based, in creation order) the baggage
`skipPileupEvents = (n - 1) * eventsPerJob` (EventBased) or `(n - 1) * lumisPerJob *
eventsPerLumiInDataset` (LumiBased, EventAwareLumiBased, "all lumis equal"), and the
job's pileup script reads the pileup files in one order for the whole task
(`sequential`), skipping that many events modulo the events available. WMS2 numbers its
jobs the same way (ProcessingNode.index, from 0, deterministic for a given input), so job
k skips k x stride events, where the stride is the most events a job of the request
reads:

- EventBased and generation: events_per_job (every job reads at most that many), WMCore's
  number exactly;
- LumiBased and EventAwareLumiBased: the largest job's estimated events; WMCore's
  lumis_per_job x events per lumi when lumis are equal, and still no overlap when they
  are not.

So job k reads pileup events [k x stride, k x stride + its events): no two jobs share an
event until the pileup wraps around (the tweak takes the skip modulo the pileup's events,
as WMCore does), and planning the same request again gives every job the same slice.
"""

from __future__ import annotations

from typing import Any

from wms2.models import SplittingAlgo
from wms2.planning.splitting import ProcessingNode


def pileup_stride(
    nodes: list[ProcessingNode], algo: SplittingAlgo, params: dict[str, Any], generation: bool
) -> int:
    """Pileup events between the slices of two consecutive jobs."""
    largest = max((n.events for n in nodes), default=0)
    if generation or algo is SplittingAlgo.EVENT_BASED:
        return max(int(params.get("events_per_job") or 0), largest)
    return largest


def assign_pileup_slices(
    nodes: list[ProcessingNode], algo: SplittingAlgo, params: dict[str, Any], generation: bool
) -> None:
    """Set each node's pileup_skip from its place in the request."""
    stride = pileup_stride(nodes, algo, params, generation)
    for node in nodes:
        node.pileup_skip = node.index * stride
