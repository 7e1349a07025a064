"""Splitters: pure functions from input files (and their lumis) to processing nodes.

A ProcessingNode is the planning-time form of the spec's DAGNodeSpec for processing: a
slotted dataclass, because a large request has 100,000 of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from wms2.models import InputFile, SplittingAlgo
from wms2.recovery_spec import EVENT_RANGES


class SplittingError(ValueError):
    """The splitting parameters cannot produce any valid node for this input."""


class NoUsableSite(SplittingError):
    """Work that could run only at sites the site manager has taken out: a request waits
    for one to be enabled (WMS2_NO_SITE_POLICY=wait) or fails."""


@dataclass(slots=True)
class ProcessingNode:
    index: int
    files: list[str]
    events: int
    lumis: list[tuple[int, int]] = field(default_factory=list)  # (run, lumi)
    first_event: int | None = None  # 1-based, inclusive; within the file for EventBased
    last_event: int | None = None
    sites: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)  # IncludeParents: the files' parents
    pileup_skip: int | None = None  # DeterministicPileup: pileup events to skip (pileup_slices)
    est_time_sec: int = 0
    est_memory_mb: int = 0
    est_disk_kb: int = 0

    @property
    def name(self) -> str:
        return f"proc_{self.index:06d}"


@dataclass(frozen=True)
class Resources:
    """What one event costs, from pilot metrics or the requestor's estimates: the job's
    wall time per event as it runs on `cores` cores."""

    time_per_event_sec: float
    size_per_event_kb: float
    memory_mb: int
    cores: int = 1


@dataclass(frozen=True)
class SplitInput:
    algo: SplittingAlgo
    params: dict[str, Any]
    files: list[InputFile]  # with locations filled in; empty for generation
    lumis: dict[str, list[tuple[int, int]]]  # LFN -> (run, lumi), after whitelist/mask
    resources: Resources
    site_whitelist: list[str] = field(default_factory=list)
    site_blacklist: list[str] = field(default_factory=list)
    generation: bool = False
    mask_active: bool = False
    trust_sitelists: bool = False  # run anywhere in the whitelist, reading remotely
    pileup_sites: set[str] | None = None  # jobs need their pileup at the site
    # Sites the site manager took out (name -> status): never planned to.
    unavailable_sites: dict[str, str] = field(default_factory=dict)


@dataclass
class SplitResult:
    nodes: list[ProcessingNode]
    warnings: list[str] = field(default_factory=list)


def _positive_int(params: dict[str, Any], key: str, default: int | None = None) -> int:
    value = params.get(key, default)
    if value is None:
        raise SplittingError(f"splitting parameter {key} is required")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SplittingError(f"splitting parameter {key} {value!r} must be a positive integer")
    return value


def choose_sites(
    locations: Iterable[str],
    whitelist: list[str],
    blacklist: list[str],
    trust: bool = False,
    pileup_sites: set[str] | None = None,
    has_input: bool = True,
    unavailable: Iterable[str] = (),
) -> list[str]:
    """Where a node may run (WMCore's locality): where a disk replica of its input is,
    inside the whitelist, outside the blacklist; with `trust` (TrustSitelists) or no
    input, anywhere in the whitelist. Pileup narrows it to the sites that hold it.
    Empty for a node with input: nowhere."""
    if trust or not has_input:
        sites = set(whitelist) if whitelist else set(locations)
    else:
        sites = set(locations)
        if whitelist:
            sites &= set(whitelist)
    if pileup_sites is not None:
        sites = (sites & pileup_sites) if (sites or has_input) else set(pileup_sites)
    return sorted(sites - set(blacklist) - set(unavailable))


def _by_location(files: list[InputFile]) -> Iterator[list[InputFile]]:
    """Files grouped by their set of locations, groups in first-seen order (data locality:
    a node never mixes files that live at different sites)."""
    groups: dict[tuple[str, ...], list[InputFile]] = {}
    for f in files:
        groups.setdefault(tuple(sorted(f.locations)), []).append(f)
    yield from groups.values()


def _file_based(inp: SplitInput, out: SplitResult, make: _NodeFactory) -> None:
    per_job = _positive_int(inp.params, "files_per_job", 1)
    lumis_of = inp.lumis
    if per_job == 1:
        # One file a job: the node shares the file's lumi list (as EventBased's do),
        # nothing is summed or copied.
        for group in _by_location(inp.files):
            for f in group:
                make([f], f.events or 0, lumis_of.get(f.lfn) or [])
        return
    for group in _by_location(inp.files):
        for i in range(0, len(group), per_job):
            batch = group[i : i + per_job]
            make(
                batch,
                sum(f.events or 0 for f in batch),
                [lumi for f in batch for lumi in inp.lumis.get(f.lfn, [])],
            )


def _event_based(inp: SplitInput, out: SplitResult, make: _NodeFactory) -> None:
    per_job = _positive_int(inp.params, "events_per_job")
    for f in inp.files:
        if f.events is None:
            raise SplittingError(
                f"{f.lfn}: DBS does not know its event count, which EventBased splitting needs"
            )
        if f.events == 0:
            out.warnings.append(f"{f.lfn} has no events and was skipped")
            continue
        for start in range(1, f.events + 1, per_job):
            end = min(start + per_job - 1, f.events)
            make([f], end - start + 1, inp.lumis.get(f.lfn, []), start, end)


def _lumi_units(inp: SplitInput) -> Iterator[tuple[InputFile, tuple[int, int], float]]:
    """(file, (run, lumi), estimated events) for every kept lumi, in locality order."""
    for group in _by_location(inp.files):
        for f in group:
            lumis = inp.lumis.get(f.lfn, [])
            for lumi in lumis:
                yield f, lumi, (f.events or 0) / len(lumis)


def _lumi_jobs(
    inp: SplitInput, make: _NodeFactory, full: Callable[[int, float, float], bool]
) -> None:
    """Accumulate lumis into jobs until `full(lumis, events, next_events)` says the next
    lumi does not fit; never across a location group, nor across runs if split_on_run."""
    split_on_run = bool(inp.params.get("split_on_run", False))
    files: dict[str, InputFile] = {}
    lumis: list[tuple[int, int]] = []
    events = 0.0
    locations: tuple[str, ...] | None = None

    def flush() -> None:
        nonlocal files, lumis, events
        if lumis:
            make(list(files.values()), round(events), lumis)
        files, lumis, events = {}, [], 0.0

    for f, lumi, ev in _lumi_units(inp):
        loc = tuple(sorted(f.locations))
        if lumis and (
            loc != locations
            or (split_on_run and lumi[0] != lumis[-1][0])
            or full(len(lumis), events, ev)
        ):
            flush()
        locations = loc
        files.setdefault(f.lfn, f)
        lumis.append(lumi)
        events += ev
    flush()


def _lumi_based(inp: SplitInput, out: SplitResult, make: _NodeFactory) -> None:
    per_job = _positive_int(inp.params, "lumis_per_job", 8)
    _lumi_jobs(inp, make, lambda n, _ev, _next: n >= per_job)


def _event_aware_lumi(inp: SplitInput, out: SplitResult, make: _NodeFactory) -> None:
    per_job = _positive_int(inp.params, "events_per_job")
    for f, lumi, ev in _lumi_units(inp):
        if ev > per_job:
            out.warnings.append(
                f"lumi {lumi[0]}:{lumi[1]} of {f.lfn} has ~{ev:.0f} events, more than "
                f"events_per_job {per_job}: it runs as a job of its own"
            )
    # A job takes lumis while it stays within events_per_job; a lumi that alone exceeds
    # it still gets a job (of its own, since nothing else fits beside it).
    _lumi_jobs(inp, make, lambda _n, ev, nxt: ev + nxt > per_job)


def _recovered_ranges(inp: SplitInput, out: SplitResult, make: _NodeFactory) -> None:
    """A recovery of generation (wms2.recovery): each failed range keeps its first event
    and its lumis; one larger than events_per_job is cut at lumi boundaries, so every
    event stays in the lumi it was given."""
    per_job = _positive_int(inp.params, "events_per_job")
    configured = inp.params.get("events_per_lumi")
    for first, events, lumis in inp.params[EVENT_RANGES]:
        per_lumi = math.ceil(events / len(lumis))
        if (
            isinstance(configured, int)
            and configured > 0
            and (math.ceil(events / configured) == len(lumis))
        ):
            per_lumi = configured  # the original's, when the range was cut by it
        step = max(1, per_job // per_lumi)
        start = 0
        for k in range(0, len(lumis), step):
            n = min(step * per_lumi, events - start)
            if n <= 0:
                break
            make(
                [],
                n,
                [(1, lumi) for lumi in lumis[k : k + step]],
                first + start,
                first + start + n - 1,
            )
            start += n


def _generation(inp: SplitInput, out: SplitResult, make: _NodeFactory) -> None:
    if inp.params.get(EVENT_RANGES):
        _recovered_ranges(inp, out, make)
        return
    total = _positive_int(inp.params, "request_num_events")
    per_job = _positive_int(inp.params, "events_per_job")
    per_lumi = _positive_int(inp.params, "events_per_lumi", per_job)
    if per_lumi > per_job:
        raise SplittingError(
            f"splitting parameter events_per_lumi {per_lumi} exceeds events_per_job {per_job}"
        )
    first_lumi = _positive_int(inp.params, "first_lumi", 1)
    first_event = _positive_int(inp.params, "first_event", 1)
    lumi = first_lumi
    for start in range(0, total, per_job):
        n = min(per_job, total - start)
        n_lumis = math.ceil(n / per_lumi)
        lumis = [(1, lumi + k) for k in range(n_lumis)]
        lumi += n_lumis
        make([], n, lumis, first_event + start, first_event + start + n - 1)


_NodeFactory = Callable[..., ProcessingNode]

SPLITTERS: dict[SplittingAlgo, Callable[[SplitInput, SplitResult, _NodeFactory], None]] = {
    SplittingAlgo.FILE_BASED: _file_based,
    SplittingAlgo.EVENT_BASED: _event_based,
    SplittingAlgo.LUMI_BASED: _lumi_based,
    SplittingAlgo.EVENT_AWARE_LUMI: _event_aware_lumi,
}


def split(inp: SplitInput) -> SplitResult:
    """Split the input into processing nodes, numbered from 0 in a deterministic order."""
    if not inp.generation:
        if not inp.files:
            raise SplittingError(
                "the data selection (runs, lumis, blocks) excludes every file of the input dataset"
                if inp.mask_active
                else "the input dataset has no valid files"
            )
        needs_lumis = inp.algo in (SplittingAlgo.LUMI_BASED, SplittingAlgo.EVENT_AWARE_LUMI)
        if needs_lumis and not any(inp.lumis.get(f.lfn) for f in inp.files):
            raise SplittingError(f"{inp.algo.value} splitting needs lumis, and no file has any")
    res = inp.resources
    out = SplitResult(nodes=[])
    nodes = out.nodes
    time_per_event, size_per_event = res.time_per_event_sec, res.size_per_event_kb
    # Where a node may run depends only on its input's common locations: worked out once
    # per location set. Nodes with the same sites share the list (never mutated), so
    # 100,000 nodes hold a handful of site lists.
    sites_of: dict[Hashable, list[str]] = {}

    def placed(key: Hashable, locations: Iterable[str], has_input: bool) -> list[str]:
        sites = sites_of.get(key)
        if sites is None:
            sites = sites_of[key] = choose_sites(
                locations,
                inp.site_whitelist,
                inp.site_blacklist,
                inp.trust_sitelists,
                inp.pileup_sites,
                has_input=has_input,
                unavailable=inp.unavailable_sites,
            )
        return sites

    def make(
        files: list[InputFile],
        events: int,
        lumis: list[tuple[int, int]],
        first: int | None = None,
        last: int | None = None,
    ) -> ProcessingNode:
        if len(files) == 1:  # most nodes: no intersection, no sums
            f0 = files[0]
            sites = placed(tuple(f0.locations), f0.locations, True)
            input_kb = f0.size_bytes // 1024
            lfns = [f0.lfn]
            parents = list(f0.parent_lfns)
        elif files:
            f0 = files[0]
            locations = set(f0.locations)
            for f in files[1:]:
                locations &= set(f.locations)
            sites = placed(frozenset(locations), locations, True)
            input_kb = sum(f.size_bytes for f in files) // 1024
            lfns = [f.lfn for f in files]
            parents = [p for f in files for p in f.parent_lfns]
        else:
            sites = placed(None, (), False)
            input_kb = 0
            lfns, parents = [], []
        if first is not None and files and files[0].events:
            input_kb = input_kb * events // files[0].events  # a slice of one file
        node = ProcessingNode(
            len(nodes),
            lfns,
            events,
            lumis,
            first,
            last,
            sites,
            parents,
            None,
            # TimePerEvent is the job's wall time per event with all its cores (WMCore
            # EventBased: jobTime = eventsPerJob * timePerEvent; spec: time_per_job =
            # time_per_event_sec * events_per_job): never divided by the cores.
            max(1, round(events * time_per_event)),
            res.memory_mb,
            input_kb + round(events * size_per_event) + 1,
        )
        nodes.append(node)
        return node

    splitter = _generation if inp.generation else SPLITTERS[inp.algo]
    splitter(inp, out, make)
    if not out.nodes:
        raise SplittingError("splitting produced no processing node (every file has 0 events)")
    _check_placeable(inp, out.nodes)
    return out


def _check_placeable(inp: SplitInput, nodes: list[ProcessingNode]) -> None:
    """Never plan a job with nowhere to run: name the input that has no usable copy."""
    limited = inp.pileup_sites is not None or bool(inp.site_whitelist)
    stranded = [n for n in nodes if not n.sites and (n.files or limited)]
    if not stranded:
        return
    by_lfn = {f.lfn: f for f in inp.files}
    first = stranded[0]
    if inp.unavailable_sites:
        locations = set.intersection(*(set(by_lfn[f].locations) for f in first.files)) if (
            first.files) else set()  # fmt: skip
        wanted = choose_sites(
            locations,
            inp.site_whitelist,
            inp.site_blacklist,
            inp.trust_sitelists,
            inp.pileup_sites,
            has_input=bool(first.files),
        )
        if wanted:
            raise NoUsableSite(
                f"{len(stranded)} job(s) may run only at "
                + ", ".join(f"{x} ({inp.unavailable_sites[x]})" for x in wanted)
                + " (site manager): they are planned when one is enabled again"
            )
    where = (
        sorted(set().union(*(by_lfn[lfn].locations for lfn in first.files))) if first.files else []
    )
    if first.files and not where:
        why = f"{first.files[0]} has no replica on disk (nor on tape to stage it from)"
    else:
        blocks = sorted(
            {by_lfn[lfn].block or "?" for n in stranded for lfn in n.files if lfn in by_lfn}
        )
        named = f" (block(s) {', '.join(blocks[:3])}{' ...' if len(blocks) > 3 else ''})"
        why = (
            f"{first.files[0] if first.files else 'generation'}"
            f"{named if first.files else ''} is on disk at "
            f"{', '.join(where) or 'no site'}, outside the site lists (whitelist "
            f"{', '.join(inp.site_whitelist) or 'any'}, blacklist "
            f"{', '.join(inp.site_blacklist) or 'none'}"
            + (f", pileup at {', '.join(sorted(inp.pileup_sites))}" if inp.pileup_sites else "")
            + "); set TrustSitelists to read it remotely"
        )
    raise SplittingError(f"{len(stranded)} job(s) have no site to run at: {why}")
