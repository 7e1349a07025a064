"""A Resubmission through the real import and planning activities (SQLite, the sample
catalog, the local backend's deps): recovered from WMS2's own records of an original it
ran, or from a WMCore ACDC collection in the offline catalog. Only the failed work is
planned, into the original's datasets, under LFNs of its own."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.dags import DagActivities
from activities.deps import ActivityDeps
from activities.requests import RequestActivities
from tests.activities.test_dag_activities import run
from tests.conftest import GEN, RERECO, SAMPLE_CATALOG
from wms2.dagfiles import DagLayout
from wms2.messages import ImportInput, PlanInput
from wms2.models import OutputDataset, RequestStatus
from wms2.tracking.reconcile import planned_work_units


def resubmission(original: str, task: str, name: str) -> dict[str, Any]:
    """What ReqMgr2 stores for an ACDC of `original`: its arguments cloned, and the ACDC
    ones added (validate_resubmission_create_args)."""
    doc = copy.deepcopy(json.loads((SAMPLE_CATALOG / "requests" / f"{original}.json").read_text()))
    doc.update(
        RequestName=name,
        RequestStatus="assigned",
        OriginalRequestType=doc.get("RequestType"),
        RequestType="Resubmission",
        OriginalRequestName=original,
        InitialTaskPath=f"/{original}/{task}",
        ACDCServer="https://cmsweb.cern.ch/couchdb",
        ACDCDatabase="acdcserver",
        CollectionName=original,
        IgnoredOutputModules=[],
        ResubmissionCount=1,
    )
    return doc


def manifests(dag_file: str) -> dict[str, dict[str, Any]]:
    layout = DagLayout(Path(dag_file).parent)
    return {
        u: json.loads((layout.group_dir(u) / "group_manifest.json").read_text())
        for u in planned_work_units(layout)
    }


def ranges(found: dict[str, dict[str, Any]], units: list[str]) -> list[tuple[Any, ...]]:
    return sorted(
        (n["first_event"], n["last_event"], tuple(map(tuple, n["lumis"])))
        for u in units
        for n in found[u]["nodes"].values()
    )


@pytest.fixture
def original(deps: ActivityDeps) -> dict[str, Any]:
    """The GEN StepChain planned and run: its first DAG attempt recorded every unit but
    two done, and one more unit's output was handed over; then it failed."""
    requests, dags = RequestActivities(deps), DagActivities(deps)
    run(requests.import_request, ImportInput(request_name=GEN, urgent=True))
    plan = run(dags.plan_dag, PlanInput(request_name=GEN))
    found = manifests(plan.dag_file)
    units = sorted(found)
    assert len(units) >= 4
    repo = deps.repo
    wf = repo.get_workflow_by_request(GEN)
    dag = repo.latest_dag(wf.id)
    assert dag is not None
    failed = [units[1], units[-1]]
    handed_over = units[2]
    repo.update_dag(
        dag.id, completed_work_units=[u for u in units if u not in [*failed, handed_over]]
    )
    for ds in found[handed_over]["outputs"]:
        repo.upsert_output(
            OutputDataset(
                workflow_id=wf.id,
                dataset_name=ds["dataset"],
                work_unit=handed_over,
                lfn=ds["lfn"],
            )
        )
    return {"plan": plan, "units": units, "failed": failed, "manifests": found}


def test_only_the_failed_units_of_a_wms2_run_are_planned_again(
    deps: ActivityDeps, original: dict[str, Any]
) -> None:
    requests, dags = RequestActivities(deps), DagActivities(deps)
    doc = resubmission(GEN, "GEN-RunIII2024Summer24GS-00002_0", "acdc_gen_1")
    step = ImportInput(request_name="acdc_gen_1", request_document=doc, urgent=True)
    with pytest.raises(
        ApplicationError, match=f"OriginalRequestName '{GEN}' is still submitted: its DAG may still"
    ):
        run(requests.import_request, step)

    deps.repo.record_transition(GEN, RequestStatus.FAILED, "2 work units failed")
    res = run(requests.import_request, step)
    failed = original["failed"]
    events = sum(n["events"] for u in failed for n in original["manifests"][u]["nodes"].values())
    lumis = sum(
        b - a + 1
        for u in failed
        for n in original["manifests"][u]["nodes"].values()
        for _run, a, b in n["lumis"]
    )
    assert res.request_type == "Resubmission"
    assert res.recovery == (
        f"recovery of {GEN} from WMS2 records: 2 failed unit(s), {events} event(s), {lumis} lumi(s)"
    )
    orig_request = deps.repo.get_request(GEN)
    assert res.output_datasets == orig_request.output_datasets

    plan = run(dags.plan_dag, PlanInput(request_name="acdc_gen_1"))
    again = manifests(plan.dag_file)
    # Exactly the failed units' events and lumis, each with its first event: nothing done
    # before (recorded, or handed to the output pipeline) is generated twice.
    assert ranges(again, sorted(again)) == ranges(original["manifests"], failed)
    # Into the original's datasets (they append), under LFNs none of the original's has.
    old_lfns = {o["lfn"] for m in original["manifests"].values() for o in m["outputs"]}
    new = [o for m in again.values() for o in m["outputs"]]
    assert {o["dataset"] for o in new} == set(orig_request.output_datasets)
    assert not old_lfns & {o["lfn"] for o in new}

    # A second recovery of the same original would redo the same units.
    other = resubmission(GEN, "GEN-RunIII2024Summer24GS-00002_0", "acdc_gen_2")
    with pytest.raises(ApplicationError, match="is already recovered by acdc_gen_1"):
        run(requests.import_request, ImportInput(request_name="acdc_gen_2", request_document=other))


def test_a_path_naming_a_merge_task_is_refused_in_one_line(
    deps: ActivityDeps, original: dict[str, Any]
) -> None:
    doc = resubmission(GEN, "GEN-RunIII2024Summer24GS-00002_0", "acdc_gen_3")
    doc["InitialTaskPath"] += "/GEN-RunIII2024Summer24GS-00002_0MergeRAWSIMoutput"
    with pytest.raises(ApplicationError, match="starts after the first task: WMS2 runs every"):
        run(
            RequestActivities(deps).import_request,
            ImportInput(request_name="acdc_gen_3", request_document=doc),
        )


def test_a_wmcore_original_is_recovered_from_its_acdc_collection(deps: ActivityDeps) -> None:
    """RERECO never ran in WMS2: its failed jobs are read from the catalog's ACDC
    collection; planning reads exactly those files and lumis of the input dataset."""
    requests, dags = RequestActivities(deps), DagActivities(deps)
    doc = resubmission(RERECO, "DataProcessing", "acdc_rereco_1")
    res = run(
        requests.import_request,
        ImportInput(request_name="acdc_rereco_1", request_document=doc, urgent=True),
    )
    assert res.recovery == (
        f"recovery of {RERECO} from ACDC acdcserver/{RERECO}: "
        "3 failed job record(s), 3 file(s), 6 lumi(s)"
    )
    plan = run(dags.plan_dag, PlanInput(request_name="acdc_rereco_1"))
    nodes = [n for m in manifests(plan.dag_file).values() for n in m["nodes"].values()]
    base = "/store/data/Run2024C/JetMET0/RAW/v1/000000/"
    assert sorted({f for n in nodes for f in n["files"]}) == [
        base + "00000001.root",
        base + "00000003.root",
        base + "00000004.root",
    ]
    assert sorted(tuple(r) for n in nodes for r in n["lumis"]) == [
        (379415, 4, 6),
        (379415, 10, 11),
        (379415, 13, 13),
    ]
