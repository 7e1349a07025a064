"""The real output activities against the sample catalog (recording DBS blocks and Rucio
rules) and a SQLite repository."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.deps import ActivityDeps
from activities.outputs import OutputActivities
from activities.requests import RequestActivities
from tests.conftest import STEPCHAIN
from wms2.config import Settings
from wms2.messages import ImportInput
from wms2.models import OutputStatus
from wms2.outputs import unit_block_name
from wms2.outputs.messages import InvalidateInput, OutputConfig, OutputStepInput, OutputUnit
from wms2.services.catalog import OfflineCatalog
from wms2.services.protocols import Rule, RuleState

Out = OutputStatus
AODSIM = (
    "/QCD_Pt-15to7000_TuneCP5_13p6TeV_pythia8/"
    "Run3Summer23DRPremix-130X_mcRun3_2023_realistic_v14-v1/AODSIM"
)


@pytest.fixture
def acts(deps: ActivityDeps) -> OutputActivities:
    ActivityEnvironment().run(
        RequestActivities(deps).import_request, ImportInput(request_name=STEPCHAIN)
    )
    return OutputActivities(deps)


def run(fn, *args):  # type: ignore[no-untyped-def]
    return asyncio.run(ActivityEnvironment().run(fn, *args))


def unit(name: str = "mg_000000") -> OutputUnit:
    return OutputUnit(
        work_unit=name,
        lfn=f"/store/mc/Run3Summer23DRPremix/QCD/AODSIM/x/000000/{name}.root",
        site="T2_DE_DESY",
        size=1234,
        events=50,
        adler32="0a1b2c3d",
    )


def step(acts: OutputActivities, fn, u: OutputUnit, request: str = STEPCHAIN) -> OutputUnit:  # type: ignore[no-untyped-def]
    inp = OutputStepInput(request_name=request, dataset=AODSIM, unit=u, config=OutputConfig())
    return run(fn, inp)


def walk_to(
    acts: OutputActivities, target: OutputStatus, u: OutputUnit, request: str = STEPCHAIN
) -> OutputUnit:
    fns = [
        acts.register_output_in_dbs,
        acts.protect_output_source,
        acts.request_output_transfers,
        acts.poll_output_transfers,
        acts.poll_output_transfers,
        acts.release_output_source,
        acts.announce_output,
    ]
    for fn in fns:
        if u.status is target:
            break
        u = step(acts, fn, u, request)
    assert u.status is target
    return u


def catalog(acts: OutputActivities) -> OfflineCatalog:
    assert isinstance(acts.deps.services.registry, OfflineCatalog)
    return acts.deps.services.registry


def record(acts: OutputActivities, work_unit: str = "mg_000000"):  # type: ignore[no-untyped-def]
    wf = acts.deps.repo.get_workflow_by_request(STEPCHAIN)
    return acts.deps.repo.get_output(wf.id, AODSIM, work_unit)


def test_full_walk_records_every_state_and_what_the_services_hold(
    acts: OutputActivities,
) -> None:
    u = step(acts, acts.register_output_in_dbs, unit())
    assert u.status is Out.DBS_REGISTERED
    block = unit_block_name(STEPCHAIN, AODSIM, "mg_000000")
    blocks = catalog(acts).recorded_blocks()
    assert blocks[block]["files"][u.lfn] == {
        "file_size": 1234,
        "event_count": 50,
        "adler32": "0a1b2c3d",
        "lumis": 0,
        "is_file_valid": 1,
    }
    # The provenance of the step that writes AODSIM (Step2 of the sample StepChain).
    assert {k: blocks[block][k] for k in ("release_version", "global_tag")} == {
        "release_version": "CMSSW_13_0_14",
        "global_tag": "130X_mcRun3_2023_realistic_v14",
    }
    assert blocks[block]["processing_version"] == 1 and blocks[block]["primary_ds_type"] == "mc"
    assert record(acts).dbs_registered and record(acts).dbs_registered_at is not None

    u = step(acts, acts.protect_output_source, u)
    rules = catalog(acts).recorded_rules()
    source = rules[u.source_rule_id]
    assert source["rse_expression"] == "T2_DE_DESY" and source["lifetime"] is None
    assert source["dids"] == [block] and source["grouping"] == "DATASET"

    u = step(acts, acts.request_output_transfers, u)
    assert u.destinations == ["T1_US_FNAL_Disk"]  # the catalog's AODSIM destination
    assert record(acts).transfer_rule_ids == u.transfer_rule_ids

    u = step(acts, acts.poll_output_transfers, u)  # the catalog's rules need two polls
    assert u.status is Out.TRANSFERRING and record(acts).last_transfer_check is not None
    u = step(acts, acts.poll_output_transfers, u)
    assert u.status is Out.TRANSFERRED and record(acts).transfers_complete

    u = step(acts, acts.release_output_source, u)
    assert catalog(acts).recorded_rules()[u.source_rule_id]["deleted"] is True
    assert record(acts).source_released
    u = step(acts, acts.announce_output, u)
    assert catalog(acts).recorded_blocks()[block]["open_for_writing"] == 0
    assert record(acts).status is Out.ANNOUNCED


def test_retried_steps_make_nothing_twice(acts: OutputActivities) -> None:
    u = step(acts, acts.register_output_in_dbs, unit())
    again = step(acts, acts.register_output_in_dbs, unit())
    assert again.status is u.status and len(catalog(acts).recorded_blocks()) == 1
    first = step(acts, acts.protect_output_source, u)
    second = step(acts, acts.protect_output_source, u)
    assert first.source_rule_id == second.source_rule_id
    assert len(catalog(acts).recorded_rules()) == 1
    wf = acts.deps.repo.get_workflow_by_request(STEPCHAIN)
    assert len(acts.deps.repo.list_outputs(wf.id)) == 1


def test_refused_registration_is_non_retryable_and_named(
    acts: OutputActivities, settings: Settings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    cat = catalog(acts)
    cat.config["refused_datasets"] = [AODSIM]
    with pytest.raises(ApplicationError) as exc:
        step(acts, acts.register_output_in_dbs, unit())
    assert exc.value.non_retryable and exc.value.type == "ServiceRequestError"
    assert "HTTP 400" in str(exc.value) and AODSIM in str(exc.value)


def test_no_destination_keeps_the_source_rule(acts: OutputActivities) -> None:
    catalog(acts).config["destinations"] = {}
    u = walk_to(acts, Out.TRANSFERS_REQUESTED, unit())
    assert u.transfer_rule_ids == [] and u.destinations == []
    u = step(acts, acts.poll_output_transfers, u)
    assert u.status is Out.TRANSFERRED
    u = walk_to(acts, Out.ANNOUNCED, u)
    assert catalog(acts).recorded_rules()[u.source_rule_id]["deleted"] is False
    assert not record(acts).source_released


EXPECTED_UNDO = {
    # spec 6.3, walked back from the state reached
    Out.DBS_REGISTERED: {"dbs"},
    Out.SOURCE_PROTECTED: {"source", "dbs"},
    Out.TRANSFERS_REQUESTED: {"transfer", "source", "dbs"},
    Out.TRANSFERRING: {"transfer", "source", "dbs"},
    Out.TRANSFERRED: {"transfer", "source", "dbs"},
    Out.SOURCE_RELEASED: {"transfer", "dbs"},
    Out.ANNOUNCED: {"transfer", "dbs"},
}


@pytest.mark.parametrize("state", list(EXPECTED_UNDO))
def test_invalidation_undoes_exactly_what_the_state_made(
    acts: OutputActivities, state: OutputStatus
) -> None:
    u = walk_to(acts, state, unit())
    before = catalog(acts).recorded_rules()
    done = run(
        acts.invalidate_output,
        InvalidateInput(request_name=STEPCHAIN, dataset=AODSIM, unit=u, reason="test"),
    )
    assert done.status is Out.INVALIDATED
    after = catalog(acts).recorded_rules()
    newly_deleted = {r for r in after if after[r]["deleted"] and not before[r]["deleted"]}
    undone = set()
    if u.source_rule_id in newly_deleted:
        undone.add("source")
    if set(u.transfer_rule_ids) & newly_deleted:
        assert set(u.transfer_rule_ids) <= newly_deleted
        undone.add("transfer")
    files = catalog(acts).recorded_blocks()[unit_block_name(STEPCHAIN, AODSIM, "mg_000000")][
        "files"
    ]
    if files[u.lfn]["is_file_valid"] == 0:
        undone.add("dbs")
    assert undone == EXPECTED_UNDO[state]
    rec = record(acts)
    assert rec.status is Out.INVALIDATED and rec.invalidated and rec.invalidation_reason == "test"
    assert rec.dbs_invalidated


def test_invalidating_a_pending_output_deletes_its_record(acts: OutputActivities) -> None:
    acts._record(STEPCHAIN, AODSIM, unit())  # recorded, nothing made outside yet
    assert record(acts) is not None
    done = run(
        acts.invalidate_output,
        InvalidateInput(request_name=STEPCHAIN, dataset=AODSIM, unit=unit(), reason="test"),
    )
    assert done.status is Out.INVALIDATED and record(acts) is None
    assert catalog(acts).recorded_blocks() == {} and catalog(acts).recorded_rules() == {}


def test_a_destination_at_the_source_shares_the_source_rule(acts: OutputActivities) -> None:
    u = walk_to(acts, Out.TRANSFERRED, unit().model_copy(update={"site": "T1_US_FNAL"}))
    assert u.transfer_rule_ids == [u.source_rule_id]  # one rule per block and RSE
    u = walk_to(acts, Out.ANNOUNCED, u)
    assert catalog(acts).recorded_rules()[u.source_rule_id]["deleted"] is False


def test_tier1_sites_protect_on_their_disk_rse(acts: OutputActivities) -> None:
    u = walk_to(acts, Out.SOURCE_PROTECTED, unit().model_copy(update={"site": "T1_US_FNAL"}))
    assert catalog(acts).recorded_rules()[u.source_rule_id]["rse_expression"] == "T1_US_FNAL_Disk"


def test_a_refused_output_is_recorded_failed_and_reloads_resumable(
    acts: OutputActivities,
) -> None:
    from wms2.outputs.messages import LoadOutputsInput, OutputFailure

    u = walk_to(acts, Out.SOURCE_PROTECTED, unit())
    failed = run(
        acts.record_output_failure,
        OutputFailure(request_name=STEPCHAIN, dataset=AODSIM, unit=u, reason="rucio said 400"),
    )
    assert failed.status is Out.FAILED and record(acts).error == "rucio said 400"
    [loaded] = run(acts.load_outputs, LoadOutputsInput(request_name=STEPCHAIN, dataset=AODSIM))
    assert loaded.status is Out.FAILED and loaded.failed_from is Out.SOURCE_PROTECTED
    assert loaded.source_rule_id == u.source_rule_id and loaded.lfn == u.lfn


def test_two_requests_writing_one_dataset_share_no_block_or_rule(
    acts: OutputActivities,
) -> None:
    """An extension (or ACDC) of a request writes the same dataset with the same work unit
    names: its blocks and rules are its own, so invalidating one request undoes nothing of
    the other's."""
    extension = f"{STEPCHAIN}_ext"
    doc = {**acts.deps.services.requests.get_request(STEPCHAIN), "RequestName": extension}
    ActivityEnvironment().run(
        RequestActivities(acts.deps).import_request,
        ImportInput(request_name=extension, request_document=doc),
    )
    mine = walk_to(acts, Out.ANNOUNCED, unit())
    theirs = walk_to(
        acts, Out.ANNOUNCED, unit().model_copy(update={"lfn": unit().lfn + ".ext"}), extension
    )
    assert unit_block_name(STEPCHAIN, AODSIM, "mg_000000") != unit_block_name(
        extension, AODSIM, "mg_000000"
    )
    blocks = catalog(acts).recorded_blocks()
    assert len(blocks) == 2 and mine.source_rule_id != theirs.source_rule_id
    run(
        acts.invalidate_output,
        InvalidateInput(request_name=STEPCHAIN, dataset=AODSIM, unit=mine, reason="test"),
    )
    blocks = catalog(acts).recorded_blocks()
    kept = blocks[unit_block_name(extension, AODSIM, "mg_000000")]["files"][theirs.lfn]
    assert kept["is_file_valid"] == 1
    rules = catalog(acts).recorded_rules()
    assert all(not rules[r]["deleted"] for r in theirs.transfer_rule_ids)


@pytest.mark.parametrize("manifest", ["{not json", '{"nodes": [1, 2]}', '{"nodes": {"a": 3}}'])
def test_a_malformed_group_manifest_refuses_that_output_alone(
    acts: OutputActivities, manifest: str
) -> None:
    from wms2.dagfiles.layout import GROUP_MANIFEST, DagLayout, dag_directory

    group = DagLayout(dag_directory(acts.deps.settings.submit_dir, STEPCHAIN)).group_dir(
        "mg_000007"
    )
    group.mkdir(parents=True)
    (group / GROUP_MANIFEST).write_text(manifest)
    with pytest.raises(ApplicationError) as refused:
        step(acts, acts.register_output_in_dbs, unit("mg_000007"))
    assert refused.value.non_retryable and refused.value.type == "ManifestError"
    assert "mg_000007" in str(refused.value) and GROUP_MANIFEST in str(refused.value)
    # Another unit of the same dataset goes on.
    assert step(acts, acts.register_output_in_dbs, unit()).status is Out.DBS_REGISTERED


@pytest.mark.parametrize(
    ("state", "flagged"),
    [("SUSPENDED", True), ("WAITING_APPROVAL", True), ("STUCK", True), ("INJECT", False)],
)
def test_rules_that_need_attention_are_flagged_with_their_state(
    acts: OutputActivities, monkeypatch: pytest.MonkeyPatch, state: str, flagged: bool
) -> None:
    u = walk_to(acts, Out.TRANSFERS_REQUESTED, unit())
    real = catalog(acts).get_rule

    def get_rule(rule_id: str) -> Rule:
        return dataclasses.replace(real(rule_id), state=RuleState(state))

    monkeypatch.setattr(catalog(acts), "get_rule", get_rule)
    u = step(acts, acts.poll_output_transfers, u)
    assert u.status is Out.TRANSFERRING  # polling goes on
    assert u.stuck_rules == ([f"{r} {state}" for r in u.transfer_rule_ids] if flagged else [])
