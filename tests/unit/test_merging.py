from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wms2.planning.merging import plan_merge_groups
from wms2.planning.splitting import ProcessingNode


def nodes(events: list[int], sites: list[list[str]] | None = None) -> list[ProcessingNode]:
    sites = sites or [["T1_US_FNAL"]] * len(events)
    return [
        ProcessingNode(index=i, files=[], events=e, sites=s)
        for i, (e, s) in enumerate(zip(events, sites, strict=True))
    ]


def test_groups_fill_up_to_the_target() -> None:
    # 1000 events * 1 kB = 1,024,000 bytes per node; target 3.5 nodes' worth
    groups = plan_merge_groups(nodes([1000] * 10), 1.0, int(3.5 * 1024 * 1000))
    assert [len(g.nodes) for g in groups] == [3, 3, 3, 1]
    assert [g.name for g in groups] == ["mg_000000", "mg_000001", "mg_000002", "mg_000003"]
    assert groups[0].estimated_output_bytes == 3 * 1024 * 1000 and groups[0].events == 3000


def test_a_node_larger_than_the_target_gets_its_own_group() -> None:
    groups = plan_merge_groups(nodes([10, 100_000, 10]), 1.0, 50_000)
    assert [[n.index for n in g.nodes] for g in groups] == [[0], [1], [2]]


def test_groups_never_mix_site_sets() -> None:
    ns = nodes([1, 1, 1, 1], [["A"], ["A"], ["B"], ["A"]])
    groups = plan_merge_groups(ns, 1.0, 10**9)
    assert [([n.index for n in g.nodes], g.sites) for g in groups] == [
        ([0, 1], ["A"]),
        ([2], ["B"]),
        ([3], ["A"]),
    ]


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=200), st.integers(1, 10**7))
def test_every_node_in_exactly_one_nonempty_group_deterministically(
    events: list[int], target: int
) -> None:
    ns = nodes(events)
    groups = plan_merge_groups(ns, 1.5, target)
    assert [n.index for g in groups for n in g.nodes] == list(range(len(ns)))
    assert all(g.nodes for g in groups)
    assert [[n.index for n in g.nodes] for g in plan_merge_groups(ns, 1.5, target)] == [
        [n.index for n in g.nodes] for g in groups
    ]


def test_bad_parameters() -> None:
    with pytest.raises(ValueError, match="size_per_event_kb 0"):
        plan_merge_groups(nodes([1]), 0, 10)
    with pytest.raises(ValueError, match="target_bytes -1"):
        plan_merge_groups(nodes([1]), 1.0, -1)
