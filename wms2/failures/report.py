"""Builds a request's failure report from its DAG directory (what pegasus-analyzer does for
Pegasus): every work unit's POST records, holds, node states, stderr and manifest."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from wms2.dagfiles.layout import DagLayout
from wms2.dagman.jobstate import NodeState, State
from wms2.failures.evidence import (
    Try,
    hold_reasons,
    is_memory_reason,
    node_states,
    read_tries,
    stderr_tail,
    unit_content,
)
from wms2.failures.model import (
    MAX_GROUPS,
    MAX_UNITS_LISTED,
    TAIL_LINES,
    FailureGroup,
    FailureReport,
)
from wms2.failures.rounds import exclusions_of, hopeless_nodes
from wms2.memory import ledger
from wms2.memory.ledger import RESCUE

WORK_UNIT_GLOB = "mg_*"


@dataclass
class _Acc:
    """One cause's evidence while the units are read."""

    tries: list[Try] = field(default_factory=list)
    held: list[tuple[str, str]] = field(default_factory=list)  # (unit, node) held
    still: set[tuple[str, str]] = field(default_factory=set)
    content: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def _key(t: Try) -> tuple[str, int | None, str, str]:
    # A site error is a cause at one site; any other exit code is the job's, wherever.
    return (t.kind, t.exit, t.site if t.kind == "site" else "", "")


def _action(g: FailureGroup, hopeless: int, round_cap: int) -> str:
    if hopeless:
        return (
            f"no more rescues for {hopeless} node(s): the same failure in {round_cap} "
            "rounds; review (PARTIAL)"
        )
    if g.kind == "held":
        if is_memory_reason(g.hold_reason):
            return "memory: the next try asks for more memory"
        return "held: the node's retry runs it again"
    if g.still_failed == 0:
        return "recovered: retried" + (f" away from {g.site}" if g.kind == "site" else "")
    if g.kind == "site":
        return f"retried; the unit's rescue avoids {g.site}"
    if g.kind == "permanent":
        return f"not retried (permanent); a rescue reruns it, at most {round_cap} rounds"
    return f"retried per node RETRY; a rescue reruns it, at most {round_cap} rounds"


def build_report(
    layout: DagLayout, request_name: str, round_cap: int, decision: str = ""
) -> FailureReport:
    causes: dict[tuple[str, int | None, str, str], _Acc] = defaultdict(_Acc)
    report = FailureReport(
        request_name=request_name,
        generated_at=time.time(),
        decision=decision,
        round_cap=round_cap,
    )
    hopeless: set[str] = set()
    for gdir in sorted(p for p in layout.root.glob(WORK_UNIT_GLOB) if p.is_dir()):
        tries = read_tries(gdir)
        states = node_states(gdir)
        report.rounds = max([report.rounds, *(t.round + 1 for t in tries)])
        last: dict[str, Try] = {}
        for t in tries:
            last[t.node] = t
            if t.failed:
                report.tries_failed += 1
                acc = causes[_key(t)]
                acc.tries.append(t)
                acc.content[t.unit].add(t.node)
        for node, t in last.items():
            failed_before = any(x.node == node and x.failed for x in tries)
            st = states.get(node)
            if t.failed and (st is None or st.state is State.FAILED):
                report.nodes_failed += 1
                causes[_key(t)].still.add((t.unit, node))
            elif not t.failed and failed_before:
                report.nodes_recovered += 1
        _add_holds(gdir, states, causes, report)
        hopeless |= {f"{gdir.name}/{n}" for n in hopeless_nodes(tries, states, round_cap)}
        if excluded := exclusions_of(tries):
            report.exclusions[gdir.name] = excluded
    report.hopeless = sorted(hopeless)
    for b in ledger.read(layout.root):  # the latest raise of each unit
        if b.how == RESCUE:
            report.memory_raises[b.node] = f"{b.to_mb} MB (was {b.from_mb}): {b.reason}"
    groups = [_group(layout, key, acc, hopeless, round_cap) for key, acc in causes.items()]
    groups.sort(key=lambda g: (-g.still_failed, -g.tries, g.cause))
    report.groups_total = len(groups)
    report.groups = groups[:MAX_GROUPS]
    return report


def _add_holds(
    gdir: Path,
    states: dict[str, NodeState],
    causes: dict[tuple[str, int | None, str, str], _Acc],
    report: FailureReport,
) -> None:
    reasons = hold_reasons(gdir)
    for node, st in states.items():
        if not st.holds and st.state is not State.HELD:
            continue
        cluster = (st.job_id or "").split(".")[0]
        acc = causes[("held", None, "", reasons.get(cluster, ""))]
        acc.held.append((gdir.name, node))
        acc.content[gdir.name].add(node)
        if st.state is State.HELD:
            report.nodes_held += 1


def _group(
    layout: DagLayout,
    key: tuple[str, int | None, str, str],
    acc: _Acc,
    hopeless: set[str],
    round_cap: int,
) -> FailureGroup:
    kind, exit_code, site, reason = key
    units = sorted(acc.content)
    g = FailureGroup(
        kind=kind,
        exit_code=exit_code,
        site=site,
        hold_reason=reason,
        tries=len(acc.tries) + len(acc.held),
        nodes=len({(t.unit, t.node) for t in acc.tries} | set(acc.held)),
        still_failed=len(acc.still),
        rounds=len({t.round for t in acc.tries}) or 1,
        units=units[:MAX_UNITS_LISTED],
        units_total=len(units),
    )
    for t in acc.tries:
        g.sites[t.site] = g.sites.get(t.site, 0) + 1
    for unit in units:
        c = unit_content(layout.group_dir(unit), sorted(acc.content[unit]))
        g.files, g.lumis, g.events = g.files + c.files, g.lumis + c.lumis, g.events + c.events
    # The example: a node still failed if any (its latest try), else the latest try.
    pool = [t for t in acc.tries if (t.unit, t.node) in acc.still] or acc.tries
    if pool:
        ex = pool[-1]
        g.example = f"{ex.unit}/{ex.node}"
        g.stderr_tail = stderr_tail(layout.group_dir(ex.unit), ex.node, TAIL_LINES)
    elif acc.held:
        unit, node = acc.held[-1]
        g.example = f"{unit}/{node}"
        g.stderr_tail = stderr_tail(layout.group_dir(unit), node, TAIL_LINES)
    n_hopeless = len({f"{t.unit}/{t.node}" for t in acc.tries} & hopeless)
    g.action = _action(g, n_hopeless, round_cap)
    return g
