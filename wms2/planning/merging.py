"""Merge-group planning: processing nodes -> work units of about the target merged size.

A work unit is one SUBDAG (landing, processing, merge, cleanup) pinned to one site, so a
group also closes when the next node's possible sites differ: nodes that read data at
different sites never share a group.
"""

from __future__ import annotations

from dataclasses import dataclass

from wms2.planning.splitting import ProcessingNode


@dataclass(slots=True)
class MergeGroup:
    index: int
    nodes: list[ProcessingNode]
    estimated_output_bytes: int
    sites: list[str]

    @property
    def name(self) -> str:
        return f"mg_{self.index:06d}"

    @property
    def events(self) -> int:
        return sum(n.events for n in self.nodes)


def plan_merge_groups(
    nodes: list[ProcessingNode], size_per_event_kb: float, target_bytes: int
) -> list[MergeGroup]:
    """Consecutive nodes fill a group until the next would push its expected output past
    `target_bytes`; a single node larger than the target gets a group of its own. Never
    returns an empty group; the same input always gives the same groups."""
    if size_per_event_kb <= 0:
        raise ValueError(f"size_per_event_kb {size_per_event_kb!r} must be > 0")
    if target_bytes <= 0:
        raise ValueError(f"target_bytes {target_bytes!r} must be > 0")
    groups: list[MergeGroup] = []
    current: list[ProcessingNode] = []
    size = 0.0

    def close() -> None:
        nonlocal current, size
        sites = set(current[0].sites)
        for n in current[1:]:
            sites &= set(n.sites)
        groups.append(MergeGroup(len(groups), current, round(size), sorted(sites)))
        current, size = [], 0.0

    for node in nodes:
        node_bytes = node.events * size_per_event_kb * 1024
        if current and (size + node_bytes > target_bytes or node.sites != current[-1].sites):
            close()
        current.append(node)
        size += node_bytes
    if current:
        close()
    return groups
