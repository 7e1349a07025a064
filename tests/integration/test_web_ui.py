"""What the Web UI shows of a request started by `starter.py`: its static summary and
details, its output workflows' summaries, readable activity summaries (README "In the
Web UI")."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from tests.conftest import GEN, REPO
from tests.conftest import dev_server as _own_dev_server
from tests.integration.conftest import WorkerSite
from tests.integration.test_end_to_end import run_starter
from tests.workflows.harness import until
from wms2.messages import request_workflow_id
from wms2.models import RequestStatus


async def test_summaries_a_request_and_its_outputs_show(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    site.start_worker()
    assert run_starter(site, "submit", GEN, "--urgent").returncode == 0
    h = dev_server.client.get_workflow_handle(request_workflow_id(GEN))
    s = await until(h, lambda s: s.status is RequestStatus.COMPLETED, 180)
    desc = await h.describe()
    # No priority in the fixed summary: it would be stale after a change (issue 28).
    assert await desc.static_summary() == "StepChain RunIII2024Summer24GS"
    details = await desc.static_details()
    assert details is not None and details.startswith(f"**{GEN}**")
    assert "/MinBias_TuneCP5_13p6TeV-pythia8/" in details
    # `list` shows each request's progress (its memo) at 80 columns, the name whole.
    listed = run_starter(site, "list", env={"COLUMNS": "80"})
    total = s.progress.work_units_total
    assert listed.returncode == 0 and GEN in listed.stdout, listed.stderr
    assert f"units {total}/{total}" in listed.stdout, listed.stdout
    [(dataset, out_id)] = s.output_workflows.items()
    out = await dev_server.client.get_workflow_handle(out_id).describe()
    assert await out.static_summary() == f"outputs {dataset}"
    summaries = []
    async for e in h.fetch_history_events():
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            summaries.append(e.user_metadata.summary.data.decode().strip('"'))
    assert "plan the DAG" in summaries and "submit DAG attempt 1" in summaries
    assert not any(GEN in text for text in summaries)  # not the request's name again
    out_summaries = []
    async for e in dev_server.client.get_workflow_handle(out_id).fetch_history_events():
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            out_summaries.append(e.user_metadata.summary.data.decode().strip('"'))
    assert any(t.startswith(f"register {dataset} mg_") for t in out_summaries), out_summaries


async def test_the_readme_saved_queries_are_accepted_by_visibility(
    dev_server: WorkflowEnvironment,
) -> None:
    text = (REPO / "README.md").read_text()
    table = text.split("**Saved queries**", 1)[1].split("\n\n", 2)[1]
    queries = [row.split("`")[1] for row in table.splitlines()[2:]]
    assert len(queries) >= 6
    for query in queries:
        await dev_server.client.count_workflows(query)  # a bad query raises


# This module's dev server is its own: its fixed request names (the README's, the
# samples') must not meet the runs other modules made of them on the shared server.
dev_server = _own_dev_server
