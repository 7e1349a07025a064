"""DAGMan (the local runner) SIGKILLed in the middle of a DAG, on the real stack."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.conftest import RERECO
from tests.integration.conftest import WorkerSite
from tests.integration.test_end_to_end import assert_registered_once, start
from tests.workflows.harness import until
from wms2.models import RequestStatus
from workflows.request import RequestWorkflow


async def test_a_killed_runner_is_lost_and_resubmitted_without_rerunning_done_work(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    site.start_worker()
    h = await start(dev_server, site, RERECO, urgent=True)
    s = await until(
        h, lambda s: s.status is RequestStatus.ACTIVE and s.progress.work_units_done >= 1, 120
    )
    assert s.dag is not None
    dag_dir = Path(s.dag_file or "").parent
    jobs = site.root / ".wms2" / "local-condor" / "jobs"
    cluster = s.dag.cluster_id
    assert not (jobs / f"{cluster}.exit.json").exists(), "the DAG ended before the kill"
    merged = {
        u: (dag_dir / u / "merge_output.json").stat().st_mtime_ns for u in s.completed_work_units
    }
    runner = json.loads((jobs / f"{cluster}.json").read_text())["pid"]
    os.kill(runner, signal.SIGKILL)

    result = await asyncio.wait_for(h.result(), 240)
    assert result.status is RequestStatus.COMPLETED, result.reason
    s = await h.query(RequestWorkflow.status)
    lost = [a for a in s.alerts if a.kind == "dagman_lost"]
    assert len(lost) == 1 and "orphaned node job(s) killed" in lost[0].message
    assert s.dagman_losses == 1 and s.auto_rescues == 0
    # Every work unit reported once; those merged before the kill were not run again.
    total = s.progress.work_units_total
    assert sorted(s.completed_work_units) == [f"mg_{i:06d}" for i in range(total)]
    for unit, mtime in merged.items():
        assert (dag_dir / unit / "merge_output.json").stat().st_mtime_ns == mtime, unit
    rescue = Path(s.dag_file + ".rescue001").read_text()
    assert all(f"DONE {u}" in rescue for u in merged)
    # The dead runner's nodes were reaped: none of its process groups is left.
    assert list((jobs / f"{cluster}.pgroups").iterdir()) == []
    outputs = assert_registered_once(site, RERECO)
    assert s.outputs_by_state == {"announced": len(outputs)}
