"""Schedd capacity: what a schedd lets WMS2's owner run, and what WMS2's DAGs use.

Every SUBDAG EXTERNAL runs as its own condor_dagman, a scheduler-universe job, so an
active request holds 1 (its outer DAGMan) + its MergeGroup throttle (its SUBDAG
DAGMans) scheduler jobs at most. HTCondor caps running scheduler jobs per owner
(MAX_RUNNING_SCHEDULER_JOBS_PER_OWNER, 200 by default): beyond it DAGMans sit idle and
their work units wait without anyone saying why. WMS2 therefore admits a request only
while its scheduler jobs fit in what the schedds allow, and never writes a MergeGroup
throttle one DAG could not fit.

Limits per schedd come from the settings (WMS2_SCHEDD_LIMITS, by schedd name, "*" for
any), else from the schedd's own configuration where the backend can read it (htcondor2
param / RemoteParam), else HTCondor's defaults.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel

# HTCondor's defaults (the condor_schedd configuration macros of the same names).
DEFAULT_SCHEDULER_JOBS_PER_OWNER = 200  # MAX_RUNNING_SCHEDULER_JOBS_PER_OWNER
DEFAULT_JOBS_PER_OWNER = 100_000  # MAX_JOBS_PER_OWNER
DEFAULT_IDLE_JOBS_PER_DAGMAN = 1000  # DAGMAN_MAX_JOBS_IDLE

# Macro of the schedd's configuration -> field of ScheddLimits.
SCHEDD_KNOBS = {
    "MAX_RUNNING_SCHEDULER_JOBS_PER_OWNER": "scheduler_jobs_per_owner",
    "MAX_JOBS_PER_OWNER": "jobs_per_owner",
    "DAGMAN_MAX_JOBS_IDLE": "idle_jobs",
}


class ScheddLimits(BaseModel):
    """What one schedd allows WMS2's owner (None: not set, the next source decides)."""

    scheduler_jobs_per_owner: int | None = None
    jobs_per_owner: int | None = None
    idle_jobs: int | None = None  # per DAGMan (DAGMAN_MAX_JOBS_IDLE)

    def over(self, fallback: ScheddLimits) -> ScheddLimits:
        """These limits, with `fallback`'s where these are unset."""
        mine = self.model_dump(exclude_none=True)
        return fallback.model_copy(update=mine)

    @property
    def scheduler_jobs(self) -> int:
        return self.scheduler_jobs_per_owner or DEFAULT_SCHEDULER_JOBS_PER_OWNER


HTCONDOR_DEFAULTS = ScheddLimits(
    scheduler_jobs_per_owner=DEFAULT_SCHEDULER_JOBS_PER_OWNER,
    jobs_per_owner=DEFAULT_JOBS_PER_OWNER,
    idle_jobs=DEFAULT_IDLE_JOBS_PER_DAGMAN,
)


def limits_of(
    schedd: str,
    configured: Mapping[str, ScheddLimits],
    from_schedd: ScheddLimits | None = None,
) -> ScheddLimits:
    """A schedd's limits: the settings for its name, for "*", its own configuration,
    HTCondor's defaults (the first that sets each)."""
    out = HTCONDOR_DEFAULTS
    for source in (from_schedd, configured.get("*"), configured.get(schedd)):
        if source is not None:
            out = source.over(out)
    return out


def merge_group_throttle(wanted: int, limits: ScheddLimits) -> int:
    """The MergeGroup throttle a DAG may have: one DAG (its outer DAGMan and its SUBDAG
    DAGMans) never needs more scheduler jobs than the schedd lets the owner run."""
    return max(1, min(wanted, limits.scheduler_jobs - 1))


def dag_scheduler_jobs(merge_throttle: int) -> int:
    """Scheduler jobs an active DAG holds at most: its DAGMan and a SUBDAG DAGMan per
    running merge group."""
    return 1 + merge_throttle


def total_scheduler_jobs(limits: Iterable[ScheddLimits]) -> int:
    return sum(lim.scheduler_jobs for lim in limits)


def parse_knob(value: object) -> int | None:
    """A configuration value as an integer (None when unset or not a plain integer: an
    expression the schedd evaluates is left to the settings)."""
    if value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def free_scheduler_jobs(limits: ScheddLimits, used: int) -> int:
    return limits.scheduler_jobs - used


def choose_schedd(
    schedds: list[str],
    limits: Mapping[str, ScheddLimits],
    used: Mapping[str, int],
    policy: str = "most_free",
    cost: int = 1,
) -> str | None:
    """The schedd a new DAG of `cost` scheduler jobs goes to, among those with room for
    all of them (`most_free`: the one with the most free, so requests spread;
    `first_fit`: the first listed). None when no schedd has room: the DAG waits rather
    than overfill one (its DAGMans would sit idle past the owner's limit)."""
    free = {s: free_scheduler_jobs(limits[s], used.get(s, 0)) for s in schedds}
    room = [s for s in schedds if free[s] >= cost]
    if not room:
        return None
    if policy == "first_fit":
        return room[0]
    return max(room, key=lambda s: (free[s], -schedds.index(s)))


def packs(costs: Iterable[int], capacities: Iterable[int]) -> bool:
    """Whether DAGs of these scheduler-job costs fit on schedds of these capacities, no
    DAG split over two (first fit, largest first). Admission asks this of the admitted
    requests plus the next, so what it admits a schedd can place; with equal costs (one
    MergeGroup throttle) the answer is exact: DAGs per schedd = capacity // cost."""
    free = sorted(capacities, reverse=True)
    for cost in sorted(costs, reverse=True):
        for i, room in enumerate(free):
            if room >= cost:
                free[i] = room - cost
                break
        else:
            return False
    return True


def planned_throttles(
    throttles: Mapping[str, int],
    configured: Mapping[str, ScheddLimits],
    schedds: Iterable[str],
) -> dict[str, int]:
    """The category throttles a DAG is written with: MergeGroup small enough for the
    tightest schedd it may be submitted to (as far as the settings tell)."""
    tightest = min(
        (limits_of(s, configured).scheduler_jobs for s in schedds),
        default=limits_of("*", configured).scheduler_jobs,
    )
    wanted = throttles.get("MergeGroup", 10)
    lim = ScheddLimits(scheduler_jobs_per_owner=tightest)
    return {**throttles, "MergeGroup": merge_group_throttle(wanted, lim)}
