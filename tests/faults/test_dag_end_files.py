"""The DAG ends while no worker watches it; its node status file is then deleted and one
work unit's merge report is corrupt. On the real stack: the request must not complete
with that unit unreported, nor hold back the others."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.conftest import RERECO
from tests.integration.conftest import WorkerSite
from tests.integration.test_end_to_end import start
from tests.workflows.harness import until
from wms2.messages import RestartRequest
from wms2.models import RequestStatus
from workflows.request import RequestWorkflow


async def test_a_corrupt_report_and_a_lost_status_file_leave_the_request_partial(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    worker = site.start_worker()
    h = await start(dev_server, site, RERECO, urgent=True)
    s = await until(
        h, lambda s: s.status is RequestStatus.ACTIVE and s.progress.work_units_done >= 1, 120
    )
    site.kill(worker)  # nobody watches the DAG's end
    assert s.dag is not None
    dag_dir = Path(s.dag_file or "").parent
    exit_record = site.root / ".wms2" / "local-condor" / "jobs" / f"{s.dag.cluster_id}.exit.json"
    for _ in range(600):
        if exit_record.exists():
            break
        await asyncio.sleep(0.2)
    total = s.progress.work_units_total
    victim = f"mg_{total - 1:06d}"
    assert victim not in s.completed_work_units
    report = dag_dir / victim / "merge_output.json"
    good = report.read_text()
    report.write_text(good[: len(good) // 2])  # cut off mid-write
    (dag_dir / "workflow.dag.status").unlink()
    others = {
        u: (dag_dir / u / "merge_output.json").stat().st_mtime_ns
        for u in (f"mg_{i:06d}" for i in range(total))
        if u != victim
    }

    site.start_worker()
    per_unit = len(s.output_datasets)  # one output of each dataset per unit
    s = await until(
        h,
        lambda s: (
            s.status is RequestStatus.PARTIAL
            and s.outputs_by_state.get("announced") == (total - 1) * per_unit
        ),
        120,
    )
    assert victim in s.transitions[-1].reason and "unusable" in s.transitions[-1].reason
    assert [a.kind for a in s.alerts].count("work_units_unreported") == 1
    assert sorted(s.completed_work_units) == sorted(others)

    # The operator mends the file and restarts: only the unreported unit runs again.
    report.write_text(good)
    await h.signal(RequestWorkflow.restart, RestartRequest(reason="report restored"))
    result = await asyncio.wait_for(h.result(), 240)
    assert result.status is RequestStatus.COMPLETED, result.reason
    s = await h.query(RequestWorkflow.status)
    assert sorted(s.completed_work_units) == sorted([*others, victim])
    for unit, mtime in others.items():
        assert (dag_dir / unit / "merge_output.json").stat().st_mtime_ns == mtime, unit
    assert s.outputs_by_state == {"announced": total * per_unit}
