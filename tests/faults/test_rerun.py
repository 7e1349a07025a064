"""A request name submitted again, on the real stack: refused while it runs and after it
ended, run again with --rerun after an abort whose output workflows are still finishing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.conftest import RERECO
from tests.integration.conftest import WorkerSite
from tests.integration.test_end_to_end import CONFIG, assert_registered_once, run_starter, start
from tests.workflows.harness import until
from wms2.messages import AbortSignal, request_workflow_id
from wms2.models import OutputStatus, RequestStatus
from wms2.outputs.messages import OutputConfig, OutputResult, output_workflow_id
from workflows.request import RequestWorkflow

# The operator's shell: the same timings as the test's own starts.
FAST = {
    "WMS2_MONITOR_WINDOW_SEC": "5",
    "WMS2_MONITOR_POLL_SEC": "0.3",
    "WMS2_HEARTBEAT_TIMEOUT_SEC": "3",
    "WMS2_TRANSFER_POLL_INTERVAL_SEC": "0.5",
}


async def test_rerun_after_an_abort_resumes_and_never_collides_with_the_first_run(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    site.start_worker()
    # The first run's transfers are polled slowly: its output workflows are still
    # finishing when the second run hands over its first work units.
    slow = CONFIG.model_copy(update={"output": OutputConfig(transfer_poll_sec=20)})
    h = await start(dev_server, site, RERECO, urgent=True, config=slow)
    s = await until(
        h, lambda s: s.status is RequestStatus.ACTIVE and s.progress.work_units_done >= 1, 120
    )
    submitted = run_starter(site, "submit", RERECO, env=FAST)
    assert submitted.returncode == 1
    assert submitted.stderr.strip().endswith(
        f"request {RERECO!r} is running (status active): stop, restart or abort it "
        "instead of submitting it again"
    ), submitted.stderr

    await h.signal(RequestWorkflow.abort, AbortSignal(reason="wrong tune"))
    first = await asyncio.wait_for(h.result(), 120)
    assert first.status is RequestStatus.ABORTED
    s = await h.query(RequestWorkflow.status)
    dag_dir = Path(s.dag_file or "").parent
    done_first = set(s.completed_work_units)
    merged = {u: (dag_dir / u / "merge_output.json").stat().st_mtime_ns for u in done_first}
    first_outputs = [output_workflow_id(RERECO, n + 1) for n in range(len(s.output_datasets))]
    assert sorted(s.output_workflows.values()) == sorted(first_outputs)

    again = run_starter(site, "submit", RERECO, env=FAST)
    assert again.returncode == 1
    assert "already ran (status aborted, workflow completed at " in again.stderr, again.stderr
    assert again.stderr.strip().endswith("give --rerun to run it again")

    rerun = run_starter(site, "submit", RERECO, "--rerun", env=FAST)
    assert rerun.returncode == 0, rerun.stderr
    h2 = dev_server.client.get_workflow_handle_for(RequestWorkflow.run, request_workflow_id(RERECO))
    result = await asyncio.wait_for(h2.result(), 240)
    assert result.status is RequestStatus.COMPLETED, result.reason
    s2 = await h2.query(RequestWorkflow.status)
    assert s2.run == 2 and s2.urgent is False  # the first run's --urgent did not stick
    names = [t.to_status.value for t in s2.transitions]
    assert names == ["submitted", "queued", "active", "completed"]  # no pilot, no planning
    assert all("-run2-" in wf_id for wf_id in s2.output_workflows.values())
    # The units the first run finished were neither run nor handed over again.
    total = s2.progress.work_units_total
    for dataset, progress in s2.outputs.items():
        assert progress.counts == {"announced": total - len(done_first)}, dataset
    assert sorted(s2.completed_work_units) == [
        f"mg_{i:06d}" for i in range(s2.progress.work_units_total)
    ]
    for unit, mtime in merged.items():
        assert (dag_dir / unit / "merge_output.json").stat().st_mtime_ns == mtime, unit
    # The first run's output workflows finish their own units beside the second run's.
    for wf_id in first_outputs:
        handle = dev_server.client.get_workflow_handle(wf_id, result_type=OutputResult)
        res = await asyncio.wait_for(handle.result(), 120)
        assert set(res.counts) == {OutputStatus.ANNOUNCED.value}, res
    outputs = assert_registered_once(site, RERECO)
    assert {o.status for o in outputs} == {OutputStatus.ANNOUNCED}
    assert {o.work_unit for o in outputs} == set(s2.completed_work_units)
