"""Which schedd a request's pilot and DAG go to, with several submit hosts.

A DAG costs its scheduler jobs (its DAGMan and MergeGroup throttle, as admission budgets
them) on one schedd. The schedd used are the DAGs tracked there plus the requests whose
pilot ran there and whose DAG is not submitted yet (their DAG is expected there). A
request's pilot goes where its DAG would go now, and its DAG goes to its pilot's schedd
while that has room, so a request stays on one schedd; a DAG never goes to a schedd
without room for all its scheduler jobs (a retryable NoScheddRoom instead).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from wms2.capacity import choose_schedd, dag_scheduler_jobs, planned_throttles
from wms2.config import ExecutionBackend

RETRY_WHEN_FULL = timedelta(minutes=1)


def schedds_limited(deps: ActivityDeps) -> bool:
    """Whether the schedds' scheduler-job limits apply: a real pool's always; the local
    backend's "schedds" have none unless WMS2_SCHEDD_LIMITS sets one (as admission)."""
    settings = deps.settings
    return settings.execution_backend is ExecutionBackend.HTCONDOR or bool(settings.schedd_limits)


def dag_cost(deps: ActivityDeps, schedds: list[str]) -> int:
    """Scheduler jobs of one DAG, as admission budgets them (its planned throttle)."""
    settings = deps.settings
    planned = planned_throttles(settings.category_throttles, settings.schedd_limits, schedds)
    return dag_scheduler_jobs(planned["MergeGroup"])


def used_by_schedd(deps: ActivityDeps, schedds: list[str], request_name: str) -> dict[str, int]:
    cost = dag_cost(deps, schedds)
    used: dict[str, int] = {}
    for row in deps.repo.tracked_dags():
        if row.schedd in schedds:
            used[row.schedd] = used.get(row.schedd, 0) + cost
    for name, schedd in deps.repo.pilot_schedds():
        if schedd in schedds and name != request_name:
            used[schedd] = used.get(schedd, 0) + cost
    return used


def place(
    deps: ActivityDeps, schedds: list[str], request_name: str, prefer: str | None = None
) -> str:
    """The schedd for the request's DAG: `prefer` (its pilot's) while it has room, else
    the one the policy chooses among those with room; none: NoScheddRoom (retryable,
    tried again in a minute)."""
    limits = deps.schedd_limits().all(schedds)
    used = used_by_schedd(deps, schedds, request_name)
    if not schedds_limited(deps):
        # Local schedds without WMS2_SCHEDD_LIMITS have no limit: any has room; spread.
        if prefer in limits:
            return prefer
        return max(schedds, key=lambda s: (-used.get(s, 0), -schedds.index(s)))
    cost = dag_cost(deps, schedds)
    if prefer in limits and limits[prefer].scheduler_jobs - used.get(prefer, 0) >= cost:
        return prefer
    chosen = choose_schedd(schedds, limits, used, deps.settings.schedd_policy, cost)
    if chosen is None:
        free = ", ".join(f"{s} {limits[s].scheduler_jobs - used.get(s, 0)}" for s in schedds)
        raise ApplicationError(
            f"no schedd has room for the {cost} scheduler jobs of {request_name}'s DAG "
            f"(free: {free}); tried again in a minute",
            type="NoScheddRoom",
            next_retry_delay=RETRY_WHEN_FULL,
        )
    return chosen


def place_pilot(deps: ActivityDeps, schedds: list[str], request_name: str) -> str:
    """Where the request's DAG would go now; when none has room for it, the schedd with
    the most free (a pilot is one job, not a DAG: it runs anyway)."""
    try:
        return place(deps, schedds, request_name)
    except ApplicationError:
        limits = deps.schedd_limits().all(schedds)
        used = used_by_schedd(deps, schedds, request_name)
        return choose_schedd(schedds, limits, used, "most_free", cost=0) or schedds[0]
