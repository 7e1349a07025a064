"""Placement of a new DAG on several schedds, and the worker's cache of schedd limits:
a schedd without room for the DAG's scheduler jobs is never chosen, and each schedd's
configuration is read once per TTL, not at every enqueue or submission."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.admission import scheduler_job_budget
from activities.deps import ActivityDeps
from activities.placement import place, place_pilot
from tests.condor.test_several_schedds import two_schedds
from wms2.capacity import ScheddLimits
from wms2.condor.limits import ScheddLimitsCache
from wms2.config import Settings


class Rows:
    """The repository's tracked DAGs: `n` on each schedd; requests whose pilot ran on a
    schedd and whose DAG is not submitted yet."""

    def __init__(self, **per_schedd: int) -> None:
        self.per_schedd = per_schedd
        self.pilots: list[tuple[str, str]] = []

    def tracked_dags(self) -> list[Any]:
        return [SimpleNamespace(schedd=s) for s, n in self.per_schedd.items() for _ in range(n)]

    def pilot_schedds(self) -> list[tuple[str, str]]:
        return self.pilots


def deps_with(rows: Rows, reads: list[str]) -> ActivityDeps:
    router, _ = two_schedds()  # s1 configured with 50 scheduler jobs, s2 the default 200
    read = router.read_limits

    def counted(name: str) -> ScheddLimits:
        reads.append(name)
        return read(name)

    router.read_limits = counted  # type: ignore[method-assign]
    settings = Settings(
        execution_backend="htcondor",
        submit_schedds=["s1", "s2"],
        category_throttles={"MergeGroup": 10},
    )
    return ActivityDeps(settings=settings, repo=rows, services=None, backend=router)  # type: ignore[arg-type]


def test_a_dag_goes_only_to_a_schedd_with_room_for_all_its_scheduler_jobs() -> None:
    reads: list[str] = []
    rows = Rows(s1=4, s2=17)  # 11 each: s1 44 of 50 (6 free), s2 187 of 200 (13 free)
    deps = deps_with(rows, reads)
    assert place(deps, ["s1", "s2"], "req") == "s2"
    assert place(deps, ["s1", "s2"], "req", prefer="s1") == "s2"  # its pilot's: no room
    rows.per_schedd["s2"] = 18  # 198 of 200: 2 free; s1 6 free; the DAG needs 11
    with pytest.raises(ApplicationError) as refused:
        place(deps, ["s1", "s2"], "req")
    assert refused.value.type == "NoScheddRoom" and not refused.value.non_retryable
    assert "free: s1 6, s2 2" in str(refused.value)
    assert sorted(reads) == ["s1", "s2"]  # each configuration read once for both


def test_admission_budget_is_per_schedd_and_reads_through_the_same_cache() -> None:
    reads: list[str] = []
    deps = deps_with(Rows(), reads)
    assert scheduler_job_budget(deps) == (11, [50, 200])
    assert scheduler_job_budget(deps) == (11, [50, 200])
    place(deps, ["s1", "s2"], "req")
    assert sorted(reads) == ["s1", "s2"]


def test_a_request_stays_on_its_pilots_schedd_and_pilots_count_before_their_dag() -> None:
    rows = Rows(s1=0, s2=0)
    deps = deps_with(rows, [])
    assert place_pilot(deps, ["s1", "s2"], "a") == "s2"  # most free: 200 against 50
    assert place(deps, ["s1", "s2"], "a", prefer="s1") == "s1"  # its pilot's, with room
    # 17 pilots ran on s2 (their DAGs expected there): 187 of 200, so the next goes to s1.
    rows.pilots = [(f"p{i}", "s2") for i in range(17)]
    assert place_pilot(deps, ["s1", "s2"], "b") == "s1"
    # Every schedd full for a DAG: the pilot still runs, where most is free.
    rows.per_schedd = {"s1": 4, "s2": 1}  # s1 6 free, s2 2 free
    assert place_pilot(deps, ["s1", "s2"], "c") == "s1"


def test_a_schedds_configuration_is_read_again_after_the_ttl() -> None:
    now = [0.0]
    reads: list[str] = []

    def read(name: str) -> ScheddLimits:
        reads.append(name)
        return ScheddLimits(scheduler_jobs_per_owner=100 + len(reads))

    configured = {"s2": ScheddLimits(scheduler_jobs_per_owner=300)}
    cache = ScheddLimitsCache(read, configured, ttl=300, clock=lambda: now[0])
    assert cache.limits("s1").scheduler_jobs == 101
    now[0] = 299
    assert cache.limits("s1").scheduler_jobs == 101 and reads == ["s1"]
    now[0] = 300
    assert cache.limits("s1").scheduler_jobs == 102  # read again
    assert cache.limits("s2").scheduler_jobs == 300  # the settings win over the schedd
    assert cache.limits("s2").jobs_per_owner == 100_000  # HTCondor's default


def test_local_schedds_without_configured_limits_are_never_full() -> None:
    """The local backend's schedds have no scheduler-job limit unless WMS2_SCHEDD_LIMITS
    sets one: admission has no capacity and placement only spreads."""
    rows = Rows(s1=30, s2=40)  # 330 and 440 scheduler jobs: past HTCondor's default 200
    deps = deps_with(rows, [])
    deps.settings = Settings(submit_schedds=["s1", "s2"], category_throttles={"MergeGroup": 10})
    assert place(deps, ["s1", "s2"], "req") == "s1"  # the least used, no NoScheddRoom
    assert scheduler_job_budget(deps) == (11, None)
