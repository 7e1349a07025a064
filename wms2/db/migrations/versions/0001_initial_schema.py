"""Initial schema: the spec section 3.2 tables plus request_transitions.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 22:18:27.426416
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_name", sa.String(length=255), nullable=False),
        sa.Column("requestor", sa.String(length=100), nullable=False),
        sa.Column("requestor_dn", sa.String(length=500), nullable=True),
        sa.Column(
            "request_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "payload_config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "splitting_params",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("input_dataset", sa.String(length=500), nullable=True),
        sa.Column("campaign", sa.String(length=100), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column(
            "production_steps",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=50), nullable=False),
        sa.Column("previous_version_request", sa.String(length=255), nullable=True),
        sa.Column("superseded_by_request", sa.String(length=255), nullable=True),
        sa.Column("cleanup_policy", sa.String(length=50), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["previous_version_request"],
            ["requests.request_name"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_name"),
    )
    op.create_index("idx_requests_campaign", "requests", ["campaign"], unique=False)
    op.create_index(
        "idx_requests_non_terminal",
        "requests",
        ["status"],
        unique=False,
        postgresql_where=sa.text("status NOT IN ('completed', 'failed', 'aborted')"),
        sqlite_where=sa.text("status NOT IN ('completed', 'failed', 'aborted')"),
    )
    op.create_index("idx_requests_priority", "requests", ["priority"], unique=False)
    op.create_index("idx_requests_status", "requests", ["status"], unique=False)
    op.create_index(
        "idx_requests_version_link",
        "requests",
        ["previous_version_request"],
        unique=False,
        postgresql_where=sa.text("previous_version_request IS NOT NULL"),
        sqlite_where=sa.text("previous_version_request IS NOT NULL"),
    )
    op.create_table(
        "sites",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("total_slots", sa.Integer(), nullable=True),
        sa.Column("running_slots", sa.Integer(), nullable=False),
        sa.Column("pending_slots", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=50), nullable=False),
        sa.Column("drain_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "thresholds",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("schedd_name", sa.String(length=255), nullable=True),
        sa.Column("collector_host", sa.String(length=255), nullable=True),
        sa.Column("storage_element", sa.String(length=255), nullable=True),
        sa.Column("storage_path", sa.Text(), nullable=True),
        sa.Column(
            "config_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "request_transitions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("request_name", sa.String(length=255), nullable=False),
        sa.Column("from_status", sa.String(length=50), nullable=True),
        sa.Column("to_status", sa.String(length=50), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(["request_name"], ["requests.request_name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "idx_request_transitions_request",
        "request_transitions",
        ["request_name", "id"],
        unique=False,
    )
    op.create_table(
        "workflows",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_name", sa.String(length=255), nullable=False),
        sa.Column("input_dataset", sa.String(length=500), nullable=True),
        sa.Column("splitting_algo", sa.String(length=50), nullable=False),
        sa.Column(
            "splitting_params",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("sandbox_url", sa.Text(), nullable=True),
        sa.Column(
            "config_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("pilot_cluster_id", sa.String(length=50), nullable=True),
        sa.Column("pilot_schedd", sa.String(length=255), nullable=True),
        sa.Column("pilot_output_path", sa.Text(), nullable=True),
        sa.Column(
            "pilot_metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("dag_id", sa.Uuid(), nullable=True),
        sa.Column(
            "category_throttles",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("total_nodes", sa.Integer(), nullable=False),
        sa.Column("nodes_done", sa.Integer(), nullable=False),
        sa.Column("nodes_failed", sa.Integer(), nullable=False),
        sa.Column("nodes_queued", sa.Integer(), nullable=False),
        sa.Column("nodes_running", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=50), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["request_name"],
            ["requests.request_name"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_name"),
    )
    op.create_index("idx_workflows_status", "workflows", ["status"], unique=False)
    op.create_table(
        "dags",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workflow_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("dag_file_path", sa.Text(), nullable=False),
        sa.Column("submit_dir", sa.Text(), nullable=False),
        sa.Column("rescue_dag_path", sa.Text(), nullable=True),
        sa.Column("dagman_cluster_id", sa.String(length=50), nullable=True),
        sa.Column("schedd_name", sa.String(length=255), nullable=True),
        sa.Column("parent_dag_id", sa.Uuid(), nullable=True),
        sa.Column("stop_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("total_nodes", sa.Integer(), nullable=False),
        sa.Column("total_edges", sa.Integer(), nullable=False),
        sa.Column(
            "node_counts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("nodes_idle", sa.Integer(), nullable=False),
        sa.Column("nodes_running", sa.Integer(), nullable=False),
        sa.Column("nodes_done", sa.Integer(), nullable=False),
        sa.Column("nodes_failed", sa.Integer(), nullable=False),
        sa.Column("nodes_held", sa.Integer(), nullable=False),
        sa.Column("total_work_units", sa.Integer(), nullable=False),
        sa.Column(
            "completed_work_units",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=50), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_dag_id"],
            ["dags.id"],
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workflow_id", "attempt", name="uq_dags_workflow_attempt"),
    )
    op.create_index(
        "idx_dags_parent",
        "dags",
        ["parent_dag_id"],
        unique=False,
        postgresql_where=sa.text("parent_dag_id IS NOT NULL"),
        sqlite_where=sa.text("parent_dag_id IS NOT NULL"),
    )
    op.create_index(
        "idx_dags_schedd",
        "dags",
        ["schedd_name"],
        unique=False,
        postgresql_where=sa.text("dagman_cluster_id IS NOT NULL"),
        sqlite_where=sa.text("dagman_cluster_id IS NOT NULL"),
    )
    op.create_index("idx_dags_status", "dags", ["status"], unique=False)
    op.create_index("idx_dags_workflow", "dags", ["workflow_id"], unique=False)
    op.create_table(
        "output_datasets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workflow_id", sa.Uuid(), nullable=False),
        sa.Column("dataset_name", sa.String(length=500), nullable=False),
        sa.Column("work_unit", sa.String(length=100), nullable=False),
        sa.Column("source_site", sa.String(length=100), nullable=True),
        sa.Column("lfn", sa.Text(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("events", sa.BigInteger(), nullable=True),
        sa.Column("adler32", sa.String(length=8), nullable=True),
        sa.Column("dbs_registered", sa.Boolean(), nullable=False),
        sa.Column("dbs_registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source_rule_id", sa.String(length=100), nullable=True),
        sa.Column("source_protected", sa.Boolean(), nullable=False),
        sa.Column(
            "transfer_rule_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "transfer_destinations",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("transfers_complete", sa.Boolean(), nullable=False),
        sa.Column("transfers_complete_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_transfer_check", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source_released", sa.Boolean(), nullable=False),
        sa.Column("invalidated", sa.Boolean(), nullable=False),
        sa.Column("invalidated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("invalidation_reason", sa.Text(), nullable=True),
        sa.Column("dbs_invalidated", sa.Boolean(), nullable=False),
        sa.Column("rucio_rules_deleted", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "workflow_id", "dataset_name", "work_unit", name="uq_output_datasets_unit"
        ),
    )
    op.create_index("idx_output_datasets_status", "output_datasets", ["status"], unique=False)
    op.create_index(
        "idx_output_datasets_workflow", "output_datasets", ["workflow_id"], unique=False
    )
    op.create_table(
        "dag_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("dag_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=50), nullable=False),
        sa.Column("from_status", sa.String(length=50), nullable=True),
        sa.Column("to_status", sa.String(length=50), nullable=True),
        sa.Column("nodes_done", sa.Integer(), nullable=True),
        sa.Column("nodes_failed", sa.Integer(), nullable=True),
        sa.Column("nodes_running", sa.Integer(), nullable=True),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["dag_id"],
            ["dags.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("idx_dag_history_dag", "dag_history", ["dag_id"], unique=False)


def downgrade() -> None:
    op.drop_index("idx_dag_history_dag", table_name="dag_history")
    op.drop_table("dag_history")
    op.drop_index("idx_output_datasets_workflow", table_name="output_datasets")
    op.drop_index("idx_output_datasets_status", table_name="output_datasets")
    op.drop_table("output_datasets")
    op.drop_index("idx_dags_workflow", table_name="dags")
    op.drop_index("idx_dags_status", table_name="dags")
    op.drop_index(
        "idx_dags_schedd",
        table_name="dags",
        postgresql_where=sa.text("dagman_cluster_id IS NOT NULL"),
        sqlite_where=sa.text("dagman_cluster_id IS NOT NULL"),
    )
    op.drop_index(
        "idx_dags_parent",
        table_name="dags",
        postgresql_where=sa.text("parent_dag_id IS NOT NULL"),
        sqlite_where=sa.text("parent_dag_id IS NOT NULL"),
    )
    op.drop_table("dags")
    op.drop_index("idx_workflows_status", table_name="workflows")
    op.drop_table("workflows")
    op.drop_index("idx_request_transitions_request", table_name="request_transitions")
    op.drop_table("request_transitions")
    op.drop_table("sites")
    op.drop_index(
        "idx_requests_version_link",
        table_name="requests",
        postgresql_where=sa.text("previous_version_request IS NOT NULL"),
        sqlite_where=sa.text("previous_version_request IS NOT NULL"),
    )
    op.drop_index("idx_requests_status", table_name="requests")
    op.drop_index("idx_requests_priority", table_name="requests")
    op.drop_index(
        "idx_requests_non_terminal",
        table_name="requests",
        postgresql_where=sa.text("status NOT IN ('completed', 'failed', 'aborted')"),
        sqlite_where=sa.text("status NOT IN ('completed', 'failed', 'aborted')"),
    )
    op.drop_index("idx_requests_campaign", table_name="requests")
    op.drop_table("requests")
