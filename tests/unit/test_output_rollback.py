"""Spec 6.3's rollback table, state by state, and the names of RSEs and blocks."""

from __future__ import annotations

import uuid

import pytest

from wms2.models import OutputDataset, OutputStatus
from wms2.outputs import UndoOp, rollback_steps, site_rse, unit_block_name

Out = OutputStatus
D = UndoOp


def output(status: OutputStatus, **kw: object) -> OutputDataset:
    base = {
        "workflow_id": uuid.uuid4(),
        "dataset_name": "/P/E-p-v1/AODSIM",
        "work_unit": "mg_000001",
        "lfn": "/store/f.root",
        "source_rule_id": "src",
        "transfer_rule_ids": ["t1", "t2"],
        "status": status,
    }
    return OutputDataset.model_validate({**base, **kw})


@pytest.mark.parametrize(
    ("status", "ops"),
    [
        (Out.DBS_REGISTERED, [(D.INVALIDATE_DBS, "/store/f.root")]),
        (
            Out.SOURCE_PROTECTED,
            [(D.DELETE_SOURCE_RULE, "src"), (D.INVALIDATE_DBS, "/store/f.root")],
        ),
        *[
            (
                st,
                [
                    (D.DELETE_TRANSFER_RULE, "t1"),
                    (D.DELETE_TRANSFER_RULE, "t2"),
                    (D.DELETE_SOURCE_RULE, "src"),
                    (D.INVALIDATE_DBS, "/store/f.root"),
                ],
            )
            for st in (Out.TRANSFERS_REQUESTED, Out.TRANSFERRING, Out.TRANSFERRED)
        ],
        (
            Out.SOURCE_RELEASED,
            [
                (D.DELETE_TRANSFER_RULE, "t1"),
                (D.DELETE_TRANSFER_RULE, "t2"),
                (D.INVALIDATE_DBS, "/store/f.root"),
            ],
        ),
    ],
)
def test_each_state_undoes_what_it_made(status: OutputStatus, ops: list) -> None:
    assert [(s.op, s.target) for s in rollback_steps(output(status))] == ops


def test_announced_deletes_the_remaining_rules_and_invalidates() -> None:
    released = output(Out.ANNOUNCED, source_released=True)
    assert [s.op for s in rollback_steps(released)] == [
        D.DELETE_TRANSFER_RULE, D.DELETE_TRANSFER_RULE, D.INVALIDATE_DBS,
    ]  # fmt: skip
    kept = output(Out.ANNOUNCED, transfer_rule_ids=[], source_released=False)
    assert [s.op for s in rollback_steps(kept)] == [D.DELETE_SOURCE_RULE, D.INVALIDATE_DBS]


def test_pending_deletes_the_record_and_invalidated_needs_nothing() -> None:
    assert [s.op for s in rollback_steps(output(Out.PENDING))] == [D.DELETE_RECORD]
    assert rollback_steps(output(Out.INVALIDATED)) == []


def test_failed_undoes_what_its_record_shows() -> None:
    early = output(Out.FAILED, dbs_registered=False, source_rule_id=None, transfer_rule_ids=[])
    assert rollback_steps(early) == []
    late = output(Out.FAILED, dbs_registered=True, transfer_rule_ids=[])
    assert [s.op for s in rollback_steps(late)] == [D.DELETE_SOURCE_RULE, D.INVALIDATE_DBS]


def test_rse_and_block_names() -> None:
    assert site_rse("T1_US_FNAL") == "T1_US_FNAL_Disk" and site_rse("T2_CH_CERN") == "T2_CH_CERN"
    a = unit_block_name("req", "/P/E-p-v1/AODSIM", "mg_000001")
    assert a == unit_block_name("req", "/P/E-p-v1/AODSIM", "mg_000001")
    assert a.startswith("/P/E-p-v1/AODSIM#")
    assert a != unit_block_name("req", "/P/E-p-v1/AODSIM", "mg_2")
    assert a != unit_block_name("req_ext", "/P/E-p-v1/AODSIM", "mg_000001")


def test_a_failed_output_resumes_where_its_record_stopped() -> None:
    from wms2.outputs import resume_status

    none = output(Out.FAILED, dbs_registered=False, source_rule_id=None, transfer_rule_ids=[])
    assert resume_status(none) is Out.PENDING
    registered = output(Out.FAILED, dbs_registered=True, source_rule_id=None)
    assert resume_status(registered) is Out.DBS_REGISTERED
    protected = output(Out.FAILED, dbs_registered=True)
    assert resume_status(protected) is Out.SOURCE_PROTECTED
    moved = output(Out.FAILED, dbs_registered=True, transfers_complete=True)
    assert resume_status(moved) is Out.TRANSFERRED
    released = output(
        Out.FAILED, dbs_registered=True, transfers_complete=True, source_released=True
    )
    assert resume_status(released) is Out.SOURCE_RELEASED
