"""The output pipeline's domain: state order, DBS block documents, Rucio rule shapes and
the invalidation rollback table. Pure: no I/O, usable from activities and workflows."""

from wms2.outputs.blocks import BlockFile, bulk_block, unit_block_name
from wms2.outputs.rollback import UndoOp, UndoStep, rollback_steps
from wms2.outputs.states import TERMINAL, resume_status, site_rse

__all__ = [
    "TERMINAL",
    "BlockFile",
    "UndoOp",
    "UndoStep",
    "bulk_block",
    "resume_status",
    "rollback_steps",
    "site_rse",
    "unit_block_name",
]
