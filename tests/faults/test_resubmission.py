"""A Resubmission (ACDC) of a request WMS2 ran, after real failures, on the real stack: the
dev server, worker processes, the local backend's runners and the offline catalog. Only
the failed units' work runs again, its outputs append to the original's datasets, and no
event or lumi is produced twice."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from tests.activities.test_recovery_activities import resubmission
from tests.conftest import GEN
from tests.integration.conftest import WorkerSite
from tests.integration.test_end_to_end import (
    assert_registered_once,
    catalog_state,
    repo,
    run_starter,
    start,
)
from tests.workflows.harness import until
from wms2.dagman.jobstate import JobstateLog, State
from wms2.messages import RequestState, request_workflow_id
from wms2.models import OutputStatus, RequestStatus
from wms2.outputs import unit_block_name
from workflows.request import RequestWorkflow

ACDC = "wms2test_ACDC_GEN-RunIII2024Summer24GS-00002_0"
TASK = "GEN-RunIII2024Summer24GS-00002_0"
# One processing node in each of two of the five work units fails every try: 2 of the
# DAG's 35 nodes, so the original goes PARTIAL and waits for an operator.
FAILING = ("proc_000001", "proc_000013")


def nodes_of(dag_dir: Path) -> dict[str, dict[str, Any]]:
    """Every processing node the plan in `dag_dir` holds, with its unit's name."""
    found = {}
    for path in sorted(dag_dir.glob("mg_*/group_manifest.json")):
        for name, node in json.loads(path.read_text())["nodes"].items():
            found[name] = {**node, "unit": path.parent.name, "dir": path.parent}
    return found


def ran(node: dict[str, Any], name: str) -> bool:
    """The node's job ran, and its payload reported no error."""
    err = node["dir"] / f"{name}.err"
    return err.exists() and "ERROR" not in err.read_text()


def unit_outcomes(dag_file: str) -> tuple[list[str], list[str]]:
    """(succeeded, failed) work units by the DAG's JOBSTATE_LOG, as DAGMan wrote it."""
    log = JobstateLog(Path(dag_file + ".jobstate.log"))
    log.read()
    return sorted(log.in_state(State.SUCCEEDED)), sorted(log.in_state(State.FAILED))


def all_announced(s: RequestState) -> bool:
    """Every output of every completed unit announced: the output pipeline is idle."""
    expected = len(s.completed_work_units) * len(s.output_datasets)
    return s.outputs_by_state == {OutputStatus.ANNOUNCED.value: expected}


def events_and_lumis(nodes: list[dict[str, Any]]) -> tuple[list[int], list[int]]:
    events = [e for n in nodes for e in range(n["first_event"], n["last_event"] + 1)]
    lumis = [lumi for n in nodes for _, a, b in n["lumis"] for lumi in range(a, b + 1)]
    return events, lumis


async def test_a_resubmission_reruns_only_the_failed_units_into_the_original_datasets(
    dev_server: WorkflowEnvironment, site: WorkerSite, tmp_path: Path
) -> None:
    failing = site.start_worker(env={"WMS2_FAIL_NODES": ",".join(FAILING)})
    h = await start(dev_server, site, GEN, urgent=True)
    s = await until(h, lambda s: s.status is RequestStatus.PARTIAL and all_announced(s), 90)
    assert s.transitions[-1].reason.startswith("2 of 35 nodes failed"), s.transitions[-1]
    # The operator gives up on the original and recovers it with an ACDC instead.
    aborted = run_starter(site, "abort", GEN, "--reason", "recovered by ACDC")
    assert aborted.returncode == 0, aborted.stderr
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(h.result(), 60)
    s = await h.query(RequestWorkflow.status)
    assert s.status is RequestStatus.ABORTED
    dag_dir = Path(s.dag_file or "").parent
    plan = nodes_of(dag_dir)
    failed_units = sorted({plan[n]["unit"] for n in FAILING})
    done_units = sorted(set(s.completed_work_units))
    assert done_units == sorted({n["unit"] for n in plan.values()} - set(failed_units))
    assert unit_outcomes(s.dag_file or "") == (done_units, failed_units)
    for name in FAILING:
        err = (plan[name]["dir"] / f"{name}.err").read_text()
        assert f"failing {name} on request (WMS2_FAIL_NODES)" in err
    original_outputs = assert_registered_once(site, GEN)
    assert {o.work_unit for o in original_outputs} == set(done_units)
    assert {o.status for o in original_outputs} == {OutputStatus.ANNOUNCED}
    datasets = sorted(s.output_datasets)
    r = repo(site)
    original_record = r.get_request(GEN)
    original_dag = r.latest_dag(r.get_workflow_by_request(GEN).id)
    original_blocks = {
        name: block
        for name, block in catalog_state(site).recorded_blocks().items()
        if block["dataset"] in datasets
    }
    assert len(original_blocks) == len(original_outputs)

    # The cause is fixed: the site's worker runs without the failing nodes.
    failing.terminate()
    failing.wait(timeout=30)
    site.start_worker()
    doc = tmp_path / "acdc.json"
    doc.write_text(json.dumps(resubmission(GEN, TASK, ACDC)))
    submitted = run_starter(site, "submit", "--file", str(doc), "--urgent")
    assert submitted.returncode == 0, submitted.stderr
    h2 = dev_server.client.get_workflow_handle_for(RequestWorkflow.run, request_workflow_id(ACDC))
    result = await asyncio.wait_for(h2.result(), 120)
    assert result.status is RequestStatus.COMPLETED, result.reason
    s2 = await h2.query(RequestWorkflow.status)
    failed_nodes = [plan[n] for n in sorted(plan) if plan[n]["unit"] in failed_units]
    failed_events, failed_lumis = events_and_lumis(failed_nodes)
    assert s2.recovery == (
        f"recovery of {GEN} from WMS2 records: {len(failed_units)} failed unit(s), "
        f"{len(failed_events)} event(s), {len(failed_lumis)} lumi(s)"
    )
    assert sorted(s2.output_datasets) == datasets

    # Only the failed units' events and lumis were planned and run again, each node of the
    # resubmission to its end, with the first event and lumis the original gave it.
    again = nodes_of(Path(s2.dag_file or "").parent)
    assert unit_outcomes(s2.dag_file or "") == (sorted({n["unit"] for n in again.values()}), [])
    assert all(ran(node, name) for name, node in again.items())
    assert sorted(
        (n["first_event"], n["last_event"], str(n["lumis"])) for n in again.values()
    ) == sorted((n["first_event"], n["last_event"], str(n["lumis"])) for n in failed_nodes)
    # The original ran its done units' nodes, and never finished a failed unit's merge.
    assert all(ran(plan[n], n) for n in plan if plan[n]["unit"] in done_units)
    assert not any((dag_dir / u / "merge_output.json").exists() for u in failed_units)
    # Together: every event and lumi of the request once, none twice.
    done_nodes = [n for n in plan.values() if n["unit"] in done_units]
    events, lumis = events_and_lumis(done_nodes + list(again.values()))
    all_events, all_lumis = events_and_lumis(list(plan.values()))
    assert sorted(events) == sorted(all_events) and len(set(events)) == len(events)
    assert sorted(lumis) == sorted(all_lumis) and len(set(lumis)) == len(lumis)

    # DBS: the resubmission's blocks were appended to the original's datasets; the
    # original's blocks are as they were. Each output is registered once.
    recovered = assert_registered_once(site, ACDC)
    assert {o.status for o in recovered} == {OutputStatus.ANNOUNCED}
    assert {o.dataset_name for o in recovered} == set(datasets)
    assert len(recovered) == len(failed_units) * len(datasets)
    blocks = catalog_state(site).recorded_blocks()
    assert {name: blocks[name] for name in original_blocks} == original_blocks
    appended = {unit_block_name(ACDC, o.dataset_name, o.work_unit): o for o in recovered}
    for name, o in appended.items():
        block = blocks[name]
        assert block["dataset"] == o.dataset_name and block["open_for_writing"] == 0
        assert set(block["files"]) == {o.lfn}
        # The same provenance as the original's blocks of the dataset.
        assert {
            (b["processing_version"], b["release_version"], b["global_tag"])
            for b in original_blocks.values()
            if b["dataset"] == o.dataset_name
        } == {(block["processing_version"], block["release_version"], block["global_tag"])}
    assert {b["dataset"] for b in blocks.values()} == set(datasets)
    assert len(blocks) == len(original_blocks) + len(appended)
    assert not {o.lfn for o in original_outputs} & {o.lfn for o in recovered}
    # The original's records did not change: request, DAG, outputs.
    assert r.list_outputs(r.get_workflow_by_request(GEN).id) == original_outputs
    assert r.get_request(GEN) == original_record
    assert r.latest_dag(r.get_workflow_by_request(GEN).id) == original_dag
    assert r.recoveries_of(GEN) == [(ACDC, RequestStatus.COMPLETED.value)]
