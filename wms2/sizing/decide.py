"""The sizing correction of one round, a pure function checked by hand in tests: events
per job toward the target wall time (in whole lumis), memory toward the measured peak
plus a margin; each changed at most 2x per round, then held within the limits."""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_STEP = 2.0  # per round, either way


@dataclass(frozen=True)
class Limits:
    min_memory_mb: int
    max_memory_mb: int
    target_wall_sec: float
    memory_margin: float  # 0.2: 20% above the measured peak


@dataclass(frozen=True)
class Sizing:
    lumis_per_job: int
    events_per_lumi: int
    memory_mb: int

    @property
    def events_per_job(self) -> int:
        return self.lumis_per_job * self.events_per_lumi


@dataclass(frozen=True)
class Decision:
    before: Sizing
    after: Sizing
    why: str

    @property
    def changed(self) -> bool:
        return self.after != self.before


def _step(current: float, wanted: float) -> float:
    return min(max(wanted, current / MAX_STEP), current * MAX_STEP)


def decide(
    current: Sizing,
    time_per_event_sec: float | None,
    peak_rss_mb: float | None,
    limits: Limits,
    max_lumis: int,
) -> Decision:
    """`max_lumis`: the unit's lumis (a job never spans more than its unit)."""
    lumis, memory, why = current.lumis_per_job, current.memory_mb, []
    if time_per_event_sec:
        wanted = limits.target_wall_sec / time_per_event_sec / current.events_per_lumi
        # Whole lumis, rounded toward shorter jobs but never past half; at least one,
        # at most the unit's.
        stepped = max(math.floor(_step(lumis, wanted)), math.ceil(lumis / MAX_STEP))
        lumis = max(1, min(stepped, max_lumis))
        why.append(
            f"{time_per_event_sec:.3g} s/event: {lumis * current.events_per_lumi} events "
            f"({lumis * current.events_per_lumi * time_per_event_sec / 3600:.2g} h, target "
            f"{limits.target_wall_sec / 3600:.2g} h)"
        )
    if peak_rss_mb is not None:
        memory, said = decide_memory(current.memory_mb, peak_rss_mb, limits)
        why.append(said)
    after = Sizing(lumis, current.events_per_lumi, memory)
    return Decision(current, after, "; ".join(why) or "nothing measured")


def decide_memory(current_mb: int, peak_rss_mb: float, limits: Limits) -> tuple[int, str]:
    """(the new request in MB, why): toward the measured peak plus the margin, at most
    2x per round, then within the limits. Also alone, for units whose jobs read input
    files (their jobs are not re-split)."""
    wanted_mb = peak_rss_mb * (1 + limits.memory_margin)
    memory = math.ceil(_step(current_mb, wanted_mb))
    memory = min(max(memory, limits.min_memory_mb), limits.max_memory_mb)
    return memory, (
        f"peak RSS {peak_rss_mb:.0f} MB + {limits.memory_margin:.0%}: {memory} MB "
        f"(limits {limits.min_memory_mb}-{limits.max_memory_mb})"
    )
