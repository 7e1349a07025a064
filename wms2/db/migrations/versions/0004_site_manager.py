"""The site manager: who set a site's status, why and until when; a history of changes.

sites.drain_until becomes sites.status_until (a ban may end by itself too); the unused
'maintenance' status becomes 'disabled'.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.alter_column("drain_until", new_column_name="status_until")
        batch.add_column(sa.Column("status_reason", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("status_by", sa.String(255), nullable=False, server_default=""))
        batch.add_column(sa.Column("status_changed_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("source", sa.String(50), nullable=False, server_default=""))
    op.execute("UPDATE sites SET status = 'disabled' WHERE status = 'maintenance'")
    op.create_table(
        "site_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("site", sa.String(100), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("from_status", sa.String(50), nullable=True),
        sa.Column("to_status", sa.String(50), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("by", sa.String(255), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_index("idx_site_changes_site", "site_changes", ["site", "id"])


def downgrade() -> None:
    op.drop_index("idx_site_changes_site", table_name="site_changes")
    op.drop_table("site_changes")
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("source")
        batch.drop_column("status_changed_at")
        batch.drop_column("status_by")
        batch.drop_column("status_reason")
        batch.alter_column("status_until", new_column_name="drain_until")
