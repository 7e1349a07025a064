"""Spec 6.3's rollback table: what undoes an output that reached a given state.

Each forward state lists the external state it leaves behind; invalidating walks back
from the state reached, newest first: transfer rules, then the source rule, then the
DBS registration. A FAILED output is undone by what its record says was made.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from wms2.models import OutputDataset, OutputStatus

Out = OutputStatus


class UndoOp(StrEnum):
    DELETE_TRANSFER_RULE = "delete_transfer_rule"
    DELETE_SOURCE_RULE = "delete_source_rule"
    INVALIDATE_DBS = "invalidate_dbs"
    DELETE_RECORD = "delete_record"


@dataclass(frozen=True)
class UndoStep:
    op: UndoOp
    target: str  # rule id, LFN or record id


# What a forward state may have left outside: (transfer rules, source rule). SOURCE_RELEASED
# has no source rule left; ANNOUNCED keeps one only when it was not released (a dataset
# with no destination keeps its source rule).
_LEFT_BEHIND = {
    Out.DBS_REGISTERED: (False, False),
    Out.SOURCE_PROTECTED: (False, True),
    Out.TRANSFERS_REQUESTED: (True, True),
    Out.TRANSFERRING: (True, True),
    Out.TRANSFERRED: (True, True),
    Out.SOURCE_RELEASED: (True, False),
    Out.ANNOUNCED: (True, True),
}


def rollback_steps(out: OutputDataset) -> list[UndoStep]:
    """The undo operations for `out` in its current state (empty once invalidated)."""
    st = out.status
    if st is Out.INVALIDATED:
        return []
    if st is Out.PENDING:
        return [UndoStep(UndoOp.DELETE_RECORD, str(out.id))]
    if st is Out.FAILED:  # stopped part-way: undo what the record shows was made
        registered, transfers, source = out.dbs_registered, True, out.source_rule_id
    else:
        registered = True
        transfers, has_source = _LEFT_BEHIND[st]
        released = st is Out.ANNOUNCED and out.source_released
        source = out.source_rule_id if has_source and not released else None
    steps = []
    if transfers:
        steps += [UndoStep(UndoOp.DELETE_TRANSFER_RULE, r) for r in out.transfer_rule_ids]
    # A destination at the source RSE shares the source rule: it is deleted once.
    if source and not (transfers and source in out.transfer_rule_ids):
        steps.append(UndoStep(UndoOp.DELETE_SOURCE_RULE, source))
    if registered and out.lfn:
        steps.append(UndoStep(UndoOp.INVALIDATE_DBS, out.lfn))
    return steps
