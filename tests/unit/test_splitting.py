from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wms2.models import InputFile, SplittingAlgo
from wms2.planning.splitting import Resources, SplitInput, SplittingError, choose_sites, split

RES = Resources(time_per_event_sec=2.0, size_per_event_kb=100.0, memory_mb=2000, cores=2)
SITES = [["T1_US_FNAL"], ["T2_CH_CERN"], ["T1_US_FNAL", "T2_CH_CERN"]]


def make_files(
    specs: list[tuple[int, int, int]], run_split: int = 10**9
) -> tuple[list[InputFile], dict]:
    """specs: (events, n_lumis, site index). Lumis are unique across files; lumi numbers
    at or above `run_split` go to run 2."""
    files, lumis, next_lumi = [], {}, 1
    for i, (events, n_lumis, site) in enumerate(specs):
        lfn = f"/store/data/f{i:05d}.root"
        files.append(
            InputFile(lfn=lfn, size_bytes=events * 1000, events=events, locations=SITES[site])
        )
        lumis[lfn] = [
            (1 if next_lumi + k < run_split else 2, next_lumi + k) for k in range(n_lumis)
        ]
        next_lumi += n_lumis
    return files, lumis


def inp(algo: SplittingAlgo, params: dict[str, Any], files, lumis, **kw: Any) -> SplitInput:
    return SplitInput(algo=algo, params=params, files=files, lumis=lumis, resources=RES, **kw)


file_specs = st.lists(
    st.tuples(st.integers(1, 500), st.integers(1, 6), st.integers(0, 2)), min_size=1, max_size=40
)


@settings(max_examples=60, deadline=None)
@given(file_specs, st.integers(1, 7))
def test_file_based_covers_each_file_once(specs, per_job: int) -> None:
    files, lumis = make_files(specs)
    nodes = split(inp(SplittingAlgo.FILE_BASED, {"files_per_job": per_job}, files, lumis)).nodes
    assert sorted(lfn for n in nodes for lfn in n.files) == sorted(f.lfn for f in files)
    for n in nodes:
        assert len(n.files) <= per_job
        # data locality: all files of a node share one location set
        assert len({tuple(next(f for f in files if f.lfn == x).locations) for x in n.files}) == 1


@settings(max_examples=60, deadline=None)
@given(file_specs, st.integers(1, 300))
def test_event_based_covers_each_event_once(specs, per_job: int) -> None:
    files, lumis = make_files(specs)
    nodes = split(inp(SplittingAlgo.EVENT_BASED, {"events_per_job": per_job}, files, lumis)).nodes
    covered: Counter[tuple[str, int]] = Counter()
    for n in nodes:
        assert len(n.files) == 1 and n.last_event - n.first_event + 1 == n.events <= per_job
        covered.update((n.files[0], e) for e in range(n.first_event, n.last_event + 1))
    expected = {(f.lfn, e) for f in files for e in range(1, f.events + 1)}
    assert set(covered) == expected and set(covered.values()) == {1}


@settings(max_examples=60, deadline=None)
@given(file_specs, st.integers(1, 9), st.booleans())
def test_lumi_based_covers_each_lumi_once(specs, per_job: int, split_on_run: bool) -> None:
    files, lumis = make_files(specs, run_split=40)
    params = {"lumis_per_job": per_job, "split_on_run": split_on_run}
    nodes = split(inp(SplittingAlgo.LUMI_BASED, params, files, lumis)).nodes
    covered = Counter(x for n in nodes for x in n.lumis)
    assert set(covered) == {x for v in lumis.values() for x in v} and set(covered.values()) == {1}
    for n in nodes:
        assert 1 <= len(n.lumis) <= per_job
        if split_on_run:
            assert len({run for run, _ in n.lumis}) == 1


@settings(max_examples=60, deadline=None)
@given(file_specs, st.integers(20, 400))
def test_event_aware_lumi_covers_each_lumi_once_near_target(specs, per_job: int) -> None:
    files, lumis = make_files(specs)
    result = split(inp(SplittingAlgo.EVENT_AWARE_LUMI, {"events_per_job": per_job}, files, lumis))
    covered = Counter(x for n in result.nodes for x in n.lumis)
    assert set(covered) == {x for v in lumis.values() for x in v} and set(covered.values()) == {1}
    for n in result.nodes:
        assert n.events <= per_job + 1 or len(n.lumis) == 1  # +1: rounding of averages


def test_event_aware_lumi_reports_a_huge_lumi() -> None:
    files, lumis = make_files([(1000, 1, 0), (30, 3, 0)])
    result = split(inp(SplittingAlgo.EVENT_AWARE_LUMI, {"events_per_job": 100}, files, lumis))
    assert [len(n.lumis) for n in result.nodes] == [1, 3]
    assert "more than events_per_job 100: it runs as a job of its own" in result.warnings[0]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 700), st.integers(1, 700))
def test_generation_covers_each_event_once_with_unique_lumis(
    total: int, per_job: int, per_lumi: int
) -> None:
    per_lumi = min(per_lumi, per_job)
    params = {"request_num_events": total, "events_per_job": per_job, "events_per_lumi": per_lumi}
    nodes = split(inp(SplittingAlgo.EVENT_BASED, params, [], {}, generation=True)).nodes
    events = [e for n in nodes for e in range(n.first_event, n.last_event + 1)]
    assert events == list(range(1, total + 1))
    all_lumis = [x for n in nodes for x in n.lumis]
    assert len(all_lumis) == len(set(all_lumis))
    for n in nodes:
        assert len(n.lumis) * per_lumi >= n.events > (len(n.lumis) - 1) * per_lumi


def test_single_file_and_estimates() -> None:
    files, lumis = make_files([(100, 2, 0)])
    [node] = split(inp(SplittingAlgo.FILE_BASED, {"files_per_job": 5}, files, lumis)).nodes
    assert node.name == "proc_000000" and node.events == 100 and node.lumis == [(1, 1), (1, 2)]
    # TimePerEvent is the 2-core job's wall time per event: 100 events * 2 s = 200 s,
    # not divided by the 2 cores (WMCore EventBased: jobTime = eventsPerJob * timePerEvent).
    assert node.est_time_sec == 200
    assert node.est_memory_mb == 2000 and node.sites == ["T1_US_FNAL"]
    assert node.est_disk_kb == 100_000 // 1024 + 100 * 100 + 1


def test_empty_dataset_and_mask_that_excludes_everything() -> None:
    with pytest.raises(SplittingError, match="input dataset has no valid files"):
        split(inp(SplittingAlgo.FILE_BASED, {}, [], {}))
    with pytest.raises(
        SplittingError, match=r"data selection \(runs, lumis, blocks\) excludes every file"
    ):
        split(inp(SplittingAlgo.LUMI_BASED, {}, [], {}, mask_active=True))


@pytest.mark.parametrize(
    ("algo", "params", "message"),
    [
        (
            SplittingAlgo.FILE_BASED,
            {"files_per_job": 0},
            "files_per_job 0 must be a positive integer",
        ),
        (SplittingAlgo.EVENT_BASED, {}, "events_per_job is required"),
        (SplittingAlgo.LUMI_BASED, {"lumis_per_job": "ten"}, "lumis_per_job 'ten'"),
        (SplittingAlgo.EVENT_AWARE_LUMI, {"events_per_job": -5}, "events_per_job -5"),
    ],
)
def test_impossible_parameters(algo: SplittingAlgo, params: dict, message: str) -> None:
    files, lumis = make_files([(10, 1, 0)])
    with pytest.raises(SplittingError, match=message):
        split(inp(algo, params, files, lumis))


def test_generation_parameters_checked() -> None:
    with pytest.raises(SplittingError, match="request_num_events is required"):
        split(inp(SplittingAlgo.EVENT_BASED, {"events_per_job": 5}, [], {}, generation=True))
    with pytest.raises(SplittingError, match="events_per_lumi 50 exceeds events_per_job 10"):
        split(
            inp(
                SplittingAlgo.EVENT_BASED,
                {"request_num_events": 100, "events_per_job": 10, "events_per_lumi": 50},
                [],
                {},
                generation=True,
            )
        )


def test_lumi_splitting_needs_lumis() -> None:
    files, _ = make_files([(10, 1, 0)])
    with pytest.raises(SplittingError, match="LumiBased splitting needs lumis"):
        split(inp(SplittingAlgo.LUMI_BASED, {}, files, {}))


def test_site_choice() -> None:
    assert choose_sites(["A", "B"], [], ["B"]) == ["A"]
    assert choose_sites(["A", "B"], ["B", "C"], []) == ["B"]
    # WMCore's locality: without TrustSitelists, no replica inside the lists is nowhere;
    # with it, anywhere in the whitelist (reading remotely).
    assert choose_sites(["A"], ["C"], []) == []
    assert choose_sites(["A"], ["C", "D"], ["D"], trust=True) == ["C"]
    assert choose_sites(["A", "B"], [], [], trust=True) == ["A", "B"]
    assert choose_sites([], [], []) == []  # tape only
    # Pileup narrows to the sites holding all of it; generation runs where the pileup is.
    assert choose_sites(["A", "B"], [], [], pileup_sites={"B", "C"}) == ["B"]
    assert choose_sites([], ["A", "B"], [], pileup_sites={"B"}, has_input=False) == ["B"]
    assert choose_sites([], [], [], pileup_sites={"B"}, has_input=False) == ["B"]


def test_an_unknown_event_count_stops_only_event_based_splitting() -> None:
    files, lumis = make_files([(10, 1, 2)])
    unknown = [dataclasses.replace(f, events=None) for f in files]
    with pytest.raises(SplittingError, match="DBS does not know its event count"):
        split(inp(SplittingAlgo.EVENT_BASED, {"events_per_job": 5}, unknown, lumis))
    nodes = split(inp(SplittingAlgo.FILE_BASED, {"files_per_job": 1}, unknown, lumis)).nodes
    assert len(nodes) == 1 and nodes[0].events == 0
