"""What a work unit's memory failures teach its rescue. Before a resubmission, each
unfinished unit whose processing nodes were raised for memory (the DAG's memory ledger)
or whose last try failed for it (ended held for memory, never released: the group's
event log; or a memory exit code: the POST scripts' records) gets its processing jobs'
request raised (wms2.memory.rescue decides how far), prepared through the sizing path
and applied by the unit's PRE script when its SUBDAG starts again; each raise is a
`rescue` line in the memory ledger."""

from __future__ import annotations

import json
from pathlib import Path

from wms2.dagfiles.layout import GROUP_MANIFEST, DagLayout
from wms2.dagman.jobstate import State
from wms2.failures.evidence import (
    is_memory_reason,
    node_states,
    read_tries,
    unreleased_holds,
)
from wms2.memory import ledger
from wms2.memory.ledger import RESCUE, MemoryBump
from wms2.memory.rescue import (
    MEMORY_EXIT_CODES,
    NodeMemory,
    RescueMemory,
    requested_in,
    rescue_memory,
)
from wms2.sizing.resplit import PROCESSING_SUB, current_files
from wms2.sizing.rounds import APPLY_SCRIPT, unit_lock
from wms2.sizing.unit_memory import live_submit, prepare_memory, submit_memory


def _cluster(job_id: str | None) -> str:
    return (job_id or "").split(".")[0]


def node_memory(group_dir: Path, bumps: list[MemoryBump], live_mb: int) -> list[NodeMemory]:
    """What each of the unit's processing nodes says about memory (only the nodes that
    say something). `live_mb`: the request its jobs ran with, less any raise."""
    try:
        nodes = list(json.loads((group_dir / GROUP_MANIFEST).read_text())["nodes"])
    except (OSError, ValueError, KeyError):
        return []
    states, tries = node_states(group_dir), read_tries(group_dir)
    last_try = {t.node: t for t in tries}
    held = unreleased_holds(group_dir)
    out = []
    for node in nodes:
        st = states.get(node)
        clusters = {t.cluster for t in tries if t.node == node} | {
            _cluster(st.job_id if st else None)
        }
        raised_mb = max(
            (
                b.to_mb
                for b in bumps
                if b.how != RESCUE
                and (b.node == node or (not b.node and _cluster(b.job_id) in clusters))
            ),
            default=None,
        )
        failed_mb = None
        if st is not None and st.state is not State.SUCCEEDED:
            ran = max(live_mb, raised_mb or 0)  # what its last job asked, as far as we know
            reason = held.get(_cluster(st.job_id), "")
            t = last_try.get(node)
            if reason and is_memory_reason(reason):
                failed_mb = max(ran, requested_in(reason) or 0)
            elif t is not None and t.failed and t.exit in MEMORY_EXIT_CODES:
                failed_mb = ran
        if raised_mb is not None or failed_mb is not None:
            out.append(NodeMemory(node, raised_mb, failed_mb))
    return out


def raise_rescue_memory(
    layout: DagLayout, units: list[str], factor: float
) -> dict[str, RescueMemory]:
    """Prepare the memory raise of each of `units` (unfinished, about to run again) whose
    nodes call for one; the raises made. Running it again raises nothing more: a unit is
    compared with what it will run with, prepared raise included."""
    if not units or APPLY_SCRIPT not in layout.dag_file.read_text():
        return {}  # planned before the PRE script that applies a unit's prepared files
    bumps = ledger.read(layout.root)
    root_submit = layout.root / PROCESSING_SUB
    raised: dict[str, RescueMemory] = {}
    for unit in units:
        gdir = layout.group_dir(unit)
        with unit_lock(gdir):
            live = submit_memory(live_submit(gdir, root_submit).read_text())
            if live is None:
                continue
            nodes = node_memory(gdir, bumps, live.request_mb)
            upcoming = (
                submit_memory(current_files(gdir, root_submit).submit_text) if nodes else None
            )
            if upcoming is None:
                continue
            decision = rescue_memory(upcoming.request_mb, upcoming.max_mb, factor, nodes)
            if decision is None:
                continue
            prepare_memory(gdir, root_submit, decision.to_mb)
        raised[unit] = decision
    ledger.record(
        layout.root,
        [MemoryBump(u, "", d.from_mb, d.to_mb, RESCUE, reason=d.why) for u, d in raised.items()],
    )
    return raised
