"""Several submit hosts: every call goes to the DAG's own schedd, on a fake htcondor2
module holding two schedds and on two local "schedds" (state directories); a new DAG
goes where scheduler jobs are free."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.condor.test_htcondor_backend import FakeSchedd, FakeSubmit, fake_module
from wms2.capacity import ScheddLimits, choose_schedd, limits_of, packs
from wms2.condor import build_backend
from wms2.condor.handles import HeldJob, JobState
from wms2.condor.htcondor import HTCondorBackend
from wms2.condor.several import SeveralSchedds
from wms2.config import Settings


def two_schedds() -> tuple[SeveralSchedds, dict[str, FakeSchedd]]:
    FakeSubmit.from_dag_calls.clear()
    schedds = {"s1": FakeSchedd(), "s2": FakeSchedd()}  # both number clusters from 4101
    module: Any = fake_module(schedds["s1"])
    module.Schedd = lambda location=None: schedds[location["Name"]]
    configs = {"s1": {"MAX_RUNNING_SCHEDULER_JOBS_PER_OWNER": "50"}, "s2": {}}
    module.RemoteParam = lambda ad: configs[ad["Name"]]
    backends = {n: HTCondorBackend("cm.example", n, module=module) for n in schedds}
    return SeveralSchedds(backends), schedds  # type: ignore[arg-type]


def test_each_dag_is_queried_removed_and_edited_on_its_own_schedd(tmp_path: Path) -> None:
    router, schedds = two_schedds()
    dag = tmp_path / "a" / "workflow.dag"
    dag.parent.mkdir()
    dag.write_text("JOB x x.sub\n")
    other = tmp_path / "b" / "workflow.dag"
    other.parent.mkdir()
    other.write_text("JOB x x.sub\n")
    h1 = router.submit_dag(dag, "req_a", schedd="s1")
    h2 = router.submit_dag(other, "req_b", schedd="s2")
    assert (h1.schedd, h2.schedd) == ("s1", "s2") and h1.cluster_id == h2.cluster_id
    assert list(schedds["s1"].jobs) == [4101] and list(schedds["s2"].jobs) == [4101]
    # A submission retried after a worker died finds the live DAGMan on its schedd.
    assert router.find_dag(other) == h2.model_copy(update={"batch_name": ""})
    assert router.query_many([h2])[h2.cluster_id].state is JobState.ALIVE
    assert router.remove(h2)
    assert 4101 in schedds["s1"].jobs and 4101 not in schedds["s2"].jobs
    assert router.query(h2).state is JobState.FINISHED
    assert router.query(h1).state is JobState.ALIVE
    schedds["s2"].calls.clear()
    router.edit_idle_jobs("req_a", priority=5, schedd="s1")
    assert not [c for c in schedds["s2"].calls if c[0] == "edit"]
    # The schedd's own configuration is read; the settings override it.
    assert router.read_limits("s1").scheduler_jobs_per_owner == 50
    assert router.read_limits("s2").scheduler_jobs_per_owner is None
    configured = {"s2": ScheddLimits(scheduler_jobs_per_owner=300)}
    limits = {n: limits_of(n, configured, router.read_limits(n)) for n in router.schedds}
    assert [limits[n].scheduler_jobs for n in ("s1", "s2")] == [50, 300]


def test_a_new_dag_goes_where_scheduler_jobs_are_free() -> None:
    limits = {"s1": ScheddLimits(scheduler_jobs_per_owner=200), "s2": ScheddLimits()}
    assert choose_schedd(["s1", "s2"], limits, {"s1": 110, "s2": 22}) == "s2"
    assert choose_schedd(["s1", "s2"], limits, {"s1": 22, "s2": 22}) == "s1"  # tie: order
    assert choose_schedd(["s1", "s2"], limits, {"s1": 190, "s2": 0}, "first_fit") == "s1"
    assert choose_schedd(["s1", "s2"], limits, {"s1": 200, "s2": 0}, "first_fit") == "s2"


def test_placement_never_chooses_a_schedd_without_room_for_the_dag() -> None:
    """A DAG of 11 scheduler jobs: a schedd with 10 free is never chosen, by either
    policy, even when it has the most free; none with room: None (the DAG waits)."""
    limits = {"s1": ScheddLimits(scheduler_jobs_per_owner=200), "s2": ScheddLimits()}
    used = {"s1": 190, "s2": 195}  # 10 and 5 free
    assert choose_schedd(["s1", "s2"], limits, used, cost=11) is None
    assert choose_schedd(["s1", "s2"], limits, used, "first_fit", cost=11) is None
    used = {"s1": 190, "s2": 188}  # 10 and 12 free
    assert choose_schedd(["s1", "s2"], limits, used, "first_fit", cost=11) == "s2"
    assert choose_schedd(["s1", "s2"], limits, used, cost=11) == "s2"


def test_admission_packs_dags_whole_onto_schedds() -> None:
    assert packs([10, 10], [16, 16]) and not packs([10, 10, 10], [16, 16])
    assert packs([11] * 18, [200]) and not packs([11] * 19, [200])  # 198 of 200
    assert packs([5, 11, 11], [16, 11])  # largest first: 11 | 11, then 5
    assert packs([], []) and not packs([1], [])


def test_two_local_schedds_are_two_state_directories(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / ".wms2", submit_schedds=["east", "west"])
    router = build_backend(settings)
    assert isinstance(router, SeveralSchedds) and router.schedds == ["east", "west"]
    handles = []
    for i, schedd in enumerate(["east", "west"]):
        dag = tmp_path / f"d{i}" / "workflow.dag"
        dag.parent.mkdir()
        dag.write_text("JOB x x.sub NOOP\n")
        (dag.parent / "x.sub").write_text("executable = /bin/true\nqueue\n")
        handles.append(router.submit_dag(dag, f"req{i}", schedd=schedd))
    assert [h.schedd for h in handles] == ["east", "west"]
    for schedd in ("east", "west"):
        jobs = tmp_path / ".wms2" / "schedds" / schedd / "local-condor" / "jobs"
        assert [p.name for p in jobs.glob("*[0-9].json")] == ["1.json"]
    deadline = time.monotonic() + 30
    while {s.state for s in router.query_many(handles[:1]).values()} != {JobState.FINISHED}:
        assert time.monotonic() < deadline, "the east DAG did not finish"
        time.sleep(0.2)
    # Same cluster id on both: each is asked of its own schedd.
    assert router.query(handles[1]).state in (JobState.ALIVE, JobState.FINISHED)


class _HeldOn:
    """A schedd with one job held for memory (cluster ids collide between schedds)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.released: list[tuple[list[str], int]] = []

    def memory_held_jobs(self, request_names: set[str]) -> list[HeldJob]:
        return [
            HeldJob(job_id="4101.0", request_name=r, request_mb=2000, max_mb=4000, hold_code=34)
            for r in sorted(request_names)
        ]

    def release_with_memory(self, job_ids: list[str], memory_mb: int) -> int:
        self.released.append((job_ids, memory_mb))
        return len(job_ids)


def test_memory_held_jobs_are_released_on_their_own_schedd() -> None:
    a, b = _HeldOn("a"), _HeldOn("b")
    router = SeveralSchedds({"a": a, "b": b})  # type: ignore[dict-item]
    held = router.memory_held_jobs({"req"})
    assert [j.job_id for j in held] == ["a#4101.0", "b#4101.0"]
    assert router.release_with_memory(["b#4101.0"], 3000) == 1
    assert (a.released, b.released) == ([], [(["4101.0"], 3000)])
