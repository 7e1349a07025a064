"""The tracker's cycle on a real database (SQLite and PostgreSQL: the tests/db fixtures)
and simulated DAG directories: one scheduler query for all DAGs, news only for what
changed, a unit recorded only once its signal was accepted, a tracker that resumes
elsewhere reports nothing recorded twice, and what was signalled while the database was
away is recorded when it returns, with the request's own checks recording nothing stale
or twice."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment

from activities.dag_records import record_observation
from activities.dags import DagActivities
from activities.deps import ActivityDeps
from activities.tracker_balance import ShardBalance
from activities.tracking import TrackerActivities
from tests.db.conftest import bare_engine, engine, repo
from wms2.condor import DagHandle
from wms2.condor.simulated import SimulatedBackend, SimulatedDag, record_simulated_dag
from wms2.db import Repository
from wms2.messages import MonitorInput
from wms2.models import DAGStatus, utcnow
from wms2.tracking.shards import shard_of
from wms2.tracking.watch import observe_dag

__all__ = ["bare_engine", "engine", "repo"]  # every test here runs on both databases


class Signals:
    """A Temporal client as the tracker uses it: records signals, fails on demand."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.unavailable = False
        self.gone: set[str] = set()

    def get_workflow_handle(self, wf_id: str) -> Any:
        outer = self

        class Handle:
            async def signal(self, name: str, arg: Any) -> None:
                if outer.unavailable:
                    raise RPCError("server unavailable", RPCStatusCode.UNAVAILABLE, b"")
                if wf_id in outer.gone:
                    raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
                outer.sent.append((wf_id, arg))

        return Handle()


@pytest.fixture
def world(
    deps: ActivityDeps, tmp_path: Path, repo: Repository
) -> tuple[TrackerActivities, list[SimulatedDag]]:
    deps.repo = repo
    deps.backend = SimulatedBackend()
    deps.client = Signals()  # type: ignore[assignment]
    deps.settings = deps.settings.model_copy(update={"tracker_progress_sec": 3600})
    dags = []
    for i in range(3):
        sim = SimulatedDag(tmp_path / f"req{i}", f"req{i}", work_units=3)
        sim.create(cluster=100 + i)
        record_simulated_dag(deps.repo, sim, 100 + i)
        dags.append(sim)
    return TrackerActivities(deps), dags


def one_cycle(tracker: TrackerActivities) -> int:
    async def go() -> int:
        sent = await tracker._send(await asyncio.to_thread(tracker.cycle))
        tracker.record_signalled()
        return len(sent)

    return asyncio.run(go())


def units_sent(signals: Signals) -> list[tuple[str, str]]:
    return [(wf_id, u.name) for wf_id, news in signals.sent for u in news.result.new_work_units]


def test_news_follows_change_and_is_recorded_after_its_signal(world: Any) -> None:
    tracker, dags = world
    signals, backend, repo = tracker.deps.client, tracker.deps.backend, tracker.deps.repo
    one_cycle(tracker)  # first look: progress of every DAG (never sent before)
    signals.sent.clear()
    queries = backend.queries
    assert one_cycle(tracker) == 0 and backend.queries == queries + 1  # one query, no news
    dags[1].complete_unit("mg_000002")
    one_cycle(tracker)
    assert units_sent(signals) == [("request-req1", "mg_000002")]
    assert signals.sent[0][1].attempt == 1
    wf = repo.get_workflow_by_request("req1")
    assert repo.dag_attempt(wf.id, 1).completed_work_units == ["mg_000002"]

    dags[0].complete_unit("mg_000000")
    signals.unavailable = True  # the server is down: nothing recorded, sent again later
    one_cycle(tracker)
    wf0 = repo.get_workflow_by_request("req0")
    assert repo.dag_attempt(wf0.id, 1).completed_work_units == []
    signals.unavailable = False
    one_cycle(tracker)
    assert units_sent(signals)[-1] == ("request-req0", "mg_000000")
    assert repo.dag_attempt(wf0.id, 1).completed_work_units == ["mg_000000"]


def test_a_resumed_tracker_reports_nothing_recorded_and_everything_else(world: Any) -> None:
    tracker, dags = world
    signals = tracker.deps.client
    dags[2].complete_unit("mg_000000")
    one_cycle(tracker)
    dags[2].complete_unit("mg_000001")  # the first tracker dies before it sees this one
    elsewhere = TrackerActivities(tracker.deps)  # another worker: no cursors in memory
    signals.sent.clear()
    one_cycle(elsewhere)
    assert units_sent(signals) == [("request-req2", "mg_000001")]


def test_the_end_is_recorded_and_the_dag_is_no_longer_tracked(world: Any) -> None:
    tracker, dags = world
    signals, repo = tracker.deps.client, tracker.deps.repo
    for unit in dags[0].units:
        dags[0].complete_unit(unit)
    dags[0].finish(0)
    signals.gone.add("request-req1")  # its workflow is gone: recorded, not retried
    dags[1].finish(1)
    one_cycle(tracker)
    ends = {wf_id: n.result for wf_id, n in signals.sent if n.result.finished}
    assert list(ends) == ["request-req0"] and ends["request-req0"].exit_code == 0
    assert len(ends["request-req0"].new_work_units) == 3
    assert repo.dag_attempt(repo.get_workflow_by_request("req0").id, 1).status is (
        DAGStatus.COMPLETED
    )
    assert repo.dag_attempt(repo.get_workflow_by_request("req1").id, 1).status is (DAGStatus.FAILED)
    assert [t.request_name for t in repo.tracked_dags()] == ["req2"]
    # A DAG being removed (stop, abort) is the stopping request's to watch, not ours.
    wf2 = repo.get_workflow_by_request("req2")
    repo.update_dag(repo.dag_attempt(wf2.id, 1).id, stop_requested_at=utcnow())
    assert repo.tracked_dags() == []
    signals.sent.clear()
    one_cycle(tracker)
    assert signals.sent == [] and tracker.watches == {}


def test_counts_alone_wait_their_turn_units_never_do(world: Any) -> None:
    tracker, dags = world
    signals = tracker.deps.client
    settings = tracker.deps.settings
    tracker.deps.settings = settings.model_copy(
        update={"tracker_progress_sec": 0, "tracker_progress_per_cycle": 1}
    )
    dags[2].complete_unit("mg_000001")
    one_cycle(tracker)  # the unit, and one DAG's counts (the budget)
    sent = [(wf, bool(n.result.new_work_units)) for wf, n in signals.sent]
    assert ("request-req2", True) in sent and len(sent) == 2
    signals.sent.clear()
    one_cycle(tracker)  # another DAG's counts: the one not told the longest
    assert len(signals.sent) == 1 and signals.sent[0][0] not in [w for w, _ in sent]


@contextmanager
def database_away(repo: Repository) -> Iterator[None]:
    """Every transaction fails as while the database server is stopped."""

    def refused() -> Any:
        raise OperationalError("connect", None, ConnectionRefusedError("server stopped"))

    repo.session = refused  # type: ignore[method-assign]
    try:
        yield
    finally:
        del repo.session


def history(repo: Repository, name: str) -> list[tuple[str, list[str]]]:
    dag = repo.dag_attempt(repo.get_workflow_by_request(name).id, 1)
    return [(h["event_type"], h["detail"]["new_work_units"]) for h in repo.dag_history(dag.id)]


def handle_of(sim: SimulatedDag) -> DagHandle:
    return DagHandle(
        backend="simulated",
        cluster_id="0",
        schedd="simulated",
        dag_file=str(sim.layout.dag_file),
        batch_name=sim.request_name,
    )


def check(tracker: TrackerActivities, sim: SimulatedDag, known: list[str]) -> Any:
    """The request's own check of `sim`'s DAG (check_dag), knowing `known`."""
    inp = MonitorInput(
        request_name=sim.request_name, dag=handle_of(sim), attempt=1, known_work_units=known
    )
    return ActivityEnvironment().run(DagActivities(tracker.deps).check_dag, inp)


def test_what_was_signalled_while_the_database_was_away_is_recorded_once(world: Any) -> None:
    tracker, dags = world
    signals, repo = tracker.deps.client, tracker.deps.repo
    one_cycle(tracker)
    dags[0].complete_unit("mg_000000")

    async def signal_then_lose_the_database() -> None:
        sent = await tracker._send(await asyncio.to_thread(tracker.cycle))
        assert [o.watch.request_name for o in sent] == ["req0"]
        with database_away(repo), pytest.raises(OperationalError):
            tracker.record_signalled()  # the activity attempt fails here

    signals.sent.clear()
    asyncio.run(signal_then_lose_the_database())
    dags[0].complete_unit("mg_000001")
    for unit in dags[0].units[2:]:
        dags[0].complete_unit(unit)
    dags[0].finish(0)
    with database_away(repo), pytest.raises(OperationalError):
        one_cycle(tracker)  # a retried attempt on this worker, still without a database
    one_cycle(tracker)  # the database is back
    one_cycle(tracker)
    # Each unit signalled once; the DAG row has every one, and its end, once.
    assert units_sent(signals) == [("request-req0", u) for u in dags[0].units]
    wf0 = repo.get_workflow_by_request("req0")
    assert repo.dag_attempt(wf0.id, 1).completed_work_units == dags[0].units
    assert history(repo, "req0") == [
        ("progress", ["mg_000000"]),
        ("finished", ["mg_000001", "mg_000002"]),
    ]
    assert "req0" not in [t.request_name for t in repo.tracked_dags()]


def test_the_requests_own_check_records_nothing_twice_nor_stale(world: Any) -> None:
    tracker, dags = world
    repo = tracker.deps.repo
    sim = dags[1]
    sim.complete_unit("mg_000000")
    sim.write_outer(force=True)
    one_cycle(tracker)
    # A check that looked now (the DAG running, one unit done) and records late.
    running = observe_dag(sim.layout, handle_of(sim), set(), tracker.deps.backend)
    for unit in sim.units[1:]:
        sim.complete_unit(unit)
    sim.finish(0)
    one_cycle(tracker)  # the tracker's end, recorded
    wf1 = repo.get_workflow_by_request("req1")
    ended = repo.dag_attempt(wf1.id, 1)
    assert ended.status is DAGStatus.COMPLETED
    # The request's check, which knew only the first unit, retried through an outage:
    # the same end and units again, then its stale look of the running DAG.
    for _ in range(2):
        res = check(tracker, sim, ["mg_000000"])
        assert res.finished and [u.name for u in res.new_work_units] == sim.units[1:]
    record_observation(repo, "req1", 1, running)
    row = repo.dag_attempt(wf1.id, 1)
    assert row.status is DAGStatus.COMPLETED and row.completed_work_units == sim.units
    assert (row.nodes_done, row.nodes_running) == (ended.nodes_done, ended.nodes_running)
    assert history(repo, "req1") == [
        ("progress", ["mg_000000"]),
        ("finished", ["mg_000001", "mg_000002"]),
    ]


def test_shards_split_the_dags_and_together_tell_each_unit_once(world: Any) -> None:
    """Two shards (as on two workers) each watch their own DAGs; a DAG's shard is stable
    (its schedd and request), and every completed unit is signalled by exactly one."""
    tracker, dags = world
    signals, deps = tracker.deps.client, tracker.deps
    trackers = [TrackerActivities(deps), TrackerActivities(deps)]

    def both() -> None:
        for k, t in enumerate(trackers):

            async def go(t: TrackerActivities = t, k: int = k) -> None:
                await t._send(await asyncio.to_thread(t.cycle, k, 2))
                t.record_signalled(k)

            asyncio.run(go())

    both()
    owners = [{w.request_name for w in t.watches.values()} for t in trackers]
    assert owners == [{"req0", "req2"}, {"req1"}]
    assert all(shard_of("simulated", n, 2) == k for k, names in enumerate(owners) for n in names)
    signals.sent.clear()
    for sim in dags:
        sim.complete_unit("mg_000001")
    both()
    assert sorted(units_sent(signals)) == [(f"request-req{i}", "mg_000001") for i in range(3)]
    both()  # nothing new: nothing told twice
    assert len(units_sent(signals)) == 3


class Balance(ShardBalance):
    def __init__(self, workers: int, decline_attempts: int = 3) -> None:
        super().__init__(None, decline_attempts, clock=lambda: self.now)
        self.workers = workers
        self.now = 1000.0

    async def live_workers(self, task_queue: str) -> int:
        return self.workers


def test_a_worker_takes_its_share_of_the_shards_and_any_shard_nobody_else_takes() -> None:
    async def go() -> None:
        b = Balance(workers=2)
        assert await b.take(0, 4, "q", attempt=1) and await b.take(1, 4, "q", attempt=1)
        assert not await b.take(2, 4, "q", attempt=1)  # two of four: its share
        assert not await b.take(2, 4, "q", attempt=3)
        assert await b.take(2, 4, "q", attempt=4)  # nobody else took it: tracked anyway
        assert not await b.hand_back(2, 4, "q")  # forced: kept while a dead worker may be listed
        b.now += 89
        assert not await b.hand_back(2, 4, "q")
        b.now += 2  # 91 s: a dead worker is no longer listed, so the other one lives
        assert await b.hand_back(2, 4, "q")
        b.done(2)
        b.workers = 1  # the other worker died: this one takes everything
        assert await b.take(2, 4, "q", attempt=1) and await b.take(3, 4, "q", attempt=1)
        b.workers = 2  # it came back: the highest shards are handed back
        assert [await b.hand_back(k, 4, "q") for k in range(4)] == [False, False, True, True]
        # One shard only: never declined, never handed back.
        single = Balance(workers=5)
        assert await single.take(0, 1, "q", attempt=1)
        assert not await single.hand_back(0, 1, "q")

    asyncio.run(go())
