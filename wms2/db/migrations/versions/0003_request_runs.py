"""requests.run_number, requests.run_id: which run of a request name the record belongs to.

A request name may be run again (`starter.py submit --rerun`); each run is one Temporal
workflow execution. run_id is the run id of the execution that imported it, so a retried
import does not count a new run.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "requests", sa.Column("run_number", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("requests", sa.Column("run_id", sa.String(64), nullable=True))
    # Requests imported before this revision ran once (a version created but not yet
    # imported is still 'submitted').
    op.execute(
        "UPDATE requests SET run_number = 1, run_id = 'before-0003' "
        "WHERE status NOT IN ('new', 'submitted')"
    )


def downgrade() -> None:
    op.drop_column("requests", "run_id")
    op.drop_column("requests", "run_number")
