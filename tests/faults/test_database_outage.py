"""PostgreSQL stopped while the tracker watches two DAGs, on the real stack (the site's
own server, a worker with local runners). Both requests complete, and what the DAG rows
recorded is exactly what the workflows have: every completed unit, recorded once, and
one `finished` row per DAG attempt, though the tracker's records and the request's own
checks failed and were retried through the outage."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.conftest import GEN, RERECO
from tests.faults.own_postgres import OwnPostgres, own_postgres
from tests.integration.conftest import WorkerSite
from tests.integration.test_end_to_end import CONFIG, repo, start
from tests.workflows.harness import until
from wms2.messages import RequestState
from wms2.models import DAGStatus, RequestStatus
from workflows.request import RequestWorkflow

# The request's own check (after 5 s without news) runs and is retried through it (at
# about 5, 7, 11, 19, 35 and 67 s), and so is the tracker (every 10 s at most): after
# 40 s the tracker records first what the check records again later.
OUTAGE_SEC = 40


@pytest.fixture
def postgres() -> Iterator[OwnPostgres]:
    yield from own_postgres()


def running(s: RequestState) -> bool:
    return s.status is RequestStatus.ACTIVE and s.progress.nodes_done >= 1  # tracker's news


def dag_end(site: WorkerSite, s: RequestState) -> float:
    """When the local runner's DAGMan of `s`'s DAG exited (0: still running)."""
    assert s.dag is not None
    record = site.root / ".wms2" / "local-condor" / "jobs" / f"{s.dag.cluster_id}.exit.json"
    return json.loads(record.read_text())["finished"] if record.exists() else 0.0


async def test_dag_records_stay_exact_through_a_database_outage(
    dev_server: WorkflowEnvironment, postgres: OwnPostgres, site: WorkerSite
) -> None:
    site.database_url = postgres.url
    # Jobs of up to 0.3 s: each DAG runs for about 20 s, and ends during the outage.
    site.start_worker(env={"WMS2_SYNTHETIC_MAX_SECONDS": "0.3"})
    config = CONFIG.model_copy(update={"dag_check_sec": 5})
    handles: list[WorkflowHandle] = [
        await start(dev_server, site, name, urgent=True, config=config) for name in (RERECO, GEN)
    ]
    tracked = await asyncio.gather(*(until(h, running, 120) for h in handles))
    postgres.stop()
    stopped = time.time()
    # Away for OUTAGE_SEC, and until both DAGs ended (a loaded machine runs them slower):
    # their last units and ends are seen, signalled and checked with nothing recordable.
    while time.time() < stopped + OUTAGE_SEC or not all(dag_end(site, s) for s in tracked):
        assert time.time() < stopped + 100, "the DAGs did not end while the database was away"
        await asyncio.sleep(0.5)
    for s in tracked:
        assert dag_end(site, s) > stopped, f"{s.request_name}: DAG ended before the outage"
    postgres.start()

    for h in handles:
        result = await asyncio.wait_for(h.result(), 150)
        assert result.status is RequestStatus.COMPLETED, result.reason
    db = repo(site)
    for h in handles:
        s = await h.query(RequestWorkflow.status)
        wf = db.get_workflow_by_request(s.request_name)
        rows = [db.dag_attempt(wf.id, n) for n in range(1, s.dag_attempt + 1)]
        last = rows[-1]
        assert last is not None and last.status is DAGStatus.COMPLETED
        assert last.completed_work_units == sorted(s.completed_work_units), s.request_name
        assert last.nodes_done == s.progress.nodes_done
        for row in rows:
            assert row is not None
            history = db.dag_history(row.id)
            events = Counter(h["event_type"] for h in history)
            assert events["finished"] == 1, (s.request_name, row.attempt, history)
            # Each unit in the history once: a retried record adds nothing again.
            units = [u for h in history for u in (h["detail"] or {}).get("new_work_units", [])]
            assert len(units) == len(set(units)), (s.request_name, row.attempt, units)
            assert set(units) <= set(row.completed_work_units)
