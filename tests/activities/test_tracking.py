"""The tracker's cycle on a real database and simulated DAG directories: one scheduler
query for all DAGs, news only for what changed, a unit recorded only once its signal was
accepted, and a tracker that resumes elsewhere reports nothing recorded twice."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from activities.deps import ActivityDeps
from activities.tracking import TrackerActivities
from wms2.condor.simulated import SimulatedBackend, SimulatedDag, record_simulated_dag
from wms2.models import DAGStatus, utcnow


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
def world(deps: ActivityDeps, tmp_path: Path) -> tuple[TrackerActivities, list[SimulatedDag]]:
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
        tracker._record(sent)
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
