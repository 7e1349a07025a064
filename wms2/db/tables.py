"""SQLAlchemy tables (spec section 3.2), portable between SQLite and PostgreSQL.

JSON columns are JSONB on PostgreSQL. Partial indexes carry both ``postgresql_where`` and
``sqlite_where``; both databases support them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite has no BIGSERIAL: an INTEGER PRIMARY KEY is its auto-incrementing rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")
TZ = DateTime(timezone=True)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONType, list[Any]: JSONType, datetime: TZ}


def _created() -> Mapped[datetime]:
    return mapped_column(TZ, server_default=func.now(), nullable=False)


NON_TERMINAL = text("status NOT IN ('completed', 'failed', 'aborted')")


class RequestRow(Base):
    __tablename__ = "requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    request_name: Mapped[str] = mapped_column(String(255), unique=True)
    requestor: Mapped[str] = mapped_column(String(100))
    requestor_dn: Mapped[str | None] = mapped_column(String(500))
    request_data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    payload_config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    splitting_params: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    input_dataset: Mapped[str | None] = mapped_column(String(500))
    campaign: Mapped[str | None] = mapped_column(String(100))
    priority: Mapped[int] = mapped_column(Integer, default=100000)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    production_steps: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    status: Mapped[str] = mapped_column(String(50), default="new")
    previous_version_request: Mapped[str | None] = mapped_column(
        String(255), ForeignKey("requests.request_name")
    )
    superseded_by_request: Mapped[str | None] = mapped_column(String(255))
    cleanup_policy: Mapped[str] = mapped_column(String(50), default="keep_until_replaced")
    # Which run of this name the record is (submit --rerun): set by the import only.
    run_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()

    __table_args__ = (
        Index("idx_requests_status", "status"),
        Index("idx_requests_campaign", "campaign"),
        Index("idx_requests_priority", "priority"),
        Index(
            "idx_requests_non_terminal",
            "status",
            postgresql_where=NON_TERMINAL,
            sqlite_where=NON_TERMINAL,
        ),
        Index(
            "idx_requests_version_link",
            "previous_version_request",
            postgresql_where=text("previous_version_request IS NOT NULL"),
            sqlite_where=text("previous_version_request IS NOT NULL"),
        ),
    )


class TransitionRow(Base):
    """Append-only status history. A row per transition instead of the spec's JSON array
    column: concurrent appends are plain INSERTs and can never overwrite one another."""

    __tablename__ = "request_transitions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_name: Mapped[str] = mapped_column(
        String(255), ForeignKey("requests.request_name", ondelete="CASCADE")
    )
    from_status: Mapped[str | None] = mapped_column(String(50))
    to_status: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _created()

    __table_args__ = (Index("idx_request_transitions_request", "request_name", "id"),)


class WorkflowRow(Base):
    __tablename__ = "workflows"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    request_name: Mapped[str] = mapped_column(
        String(255), ForeignKey("requests.request_name"), unique=True
    )
    input_dataset: Mapped[str | None] = mapped_column(String(500))
    splitting_algo: Mapped[str] = mapped_column(String(50))
    splitting_params: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    sandbox_url: Mapped[str | None] = mapped_column(Text)
    config_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    pilot_cluster_id: Mapped[str | None] = mapped_column(String(50))
    pilot_schedd: Mapped[str | None] = mapped_column(String(255))
    pilot_output_path: Mapped[str | None] = mapped_column(Text)
    pilot_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    dag_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    category_throttles: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    total_nodes: Mapped[int] = mapped_column(Integer, default=0)
    nodes_done: Mapped[int] = mapped_column(Integer, default=0)
    nodes_failed: Mapped[int] = mapped_column(Integer, default=0)
    nodes_queued: Mapped[int] = mapped_column(Integer, default=0)
    nodes_running: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(50), default="new")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()

    __table_args__ = (Index("idx_workflows_status", "status"),)


class DAGRow(Base):
    __tablename__ = "dags"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    workflow_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("workflows.id"))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    dag_file_path: Mapped[str] = mapped_column(Text)
    submit_dir: Mapped[str] = mapped_column(Text)
    rescue_dag_path: Mapped[str | None] = mapped_column(Text)
    dagman_cluster_id: Mapped[str | None] = mapped_column(String(50))
    schedd_name: Mapped[str | None] = mapped_column(String(255))
    parent_dag_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("dags.id"))
    stop_requested_at: Mapped[datetime | None] = mapped_column(TZ)
    stop_reason: Mapped[str | None] = mapped_column(Text)
    total_nodes: Mapped[int] = mapped_column(Integer)
    total_edges: Mapped[int] = mapped_column(Integer, default=0)
    node_counts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    nodes_idle: Mapped[int] = mapped_column(Integer, default=0)
    nodes_running: Mapped[int] = mapped_column(Integer, default=0)
    nodes_done: Mapped[int] = mapped_column(Integer, default=0)
    nodes_failed: Mapped[int] = mapped_column(Integer, default=0)
    nodes_held: Mapped[int] = mapped_column(Integer, default=0)
    total_work_units: Mapped[int] = mapped_column(Integer, default=0)
    completed_work_units: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    status: Mapped[str] = mapped_column(String(50), default="planning")
    created_at: Mapped[datetime] = _created()
    submitted_at: Mapped[datetime | None] = mapped_column(TZ)
    completed_at: Mapped[datetime | None] = mapped_column(TZ)
    exit_code: Mapped[int | None] = mapped_column(Integer)  # DAGMan's, once it has ended

    __table_args__ = (
        UniqueConstraint("workflow_id", "attempt", name="uq_dags_workflow_attempt"),
        Index("idx_dags_workflow", "workflow_id"),
        Index("idx_dags_status", "status"),
        Index(
            "idx_dags_schedd",
            "schedd_name",
            postgresql_where=text("dagman_cluster_id IS NOT NULL"),
            sqlite_where=text("dagman_cluster_id IS NOT NULL"),
        ),
        Index(
            "idx_dags_parent",
            "parent_dag_id",
            postgresql_where=text("parent_dag_id IS NOT NULL"),
            sqlite_where=text("parent_dag_id IS NOT NULL"),
        ),
    )


class DAGHistoryRow(Base):
    __tablename__ = "dag_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dag_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("dags.id"))
    event_type: Mapped[str] = mapped_column(String(50))
    from_status: Mapped[str | None] = mapped_column(String(50))
    to_status: Mapped[str | None] = mapped_column(String(50))
    nodes_done: Mapped[int | None] = mapped_column(Integer)
    nodes_failed: Mapped[int | None] = mapped_column(Integer)
    nodes_running: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = _created()

    __table_args__ = (Index("idx_dag_history_dag", "dag_id"),)


class OutputDatasetRow(Base):
    __tablename__ = "output_datasets"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    workflow_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("workflows.id"))
    dataset_name: Mapped[str] = mapped_column(String(500))
    work_unit: Mapped[str] = mapped_column(String(100))
    source_site: Mapped[str | None] = mapped_column(String(100))
    lfn: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    events: Mapped[int | None] = mapped_column(BigInteger)
    adler32: Mapped[str | None] = mapped_column(String(8))
    dbs_registered: Mapped[bool] = mapped_column(Boolean, default=False)
    dbs_registered_at: Mapped[datetime | None] = mapped_column(TZ)
    source_rule_id: Mapped[str | None] = mapped_column(String(100))
    source_protected: Mapped[bool] = mapped_column(Boolean, default=False)
    transfer_rule_ids: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    transfer_destinations: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    transfers_complete: Mapped[bool] = mapped_column(Boolean, default=False)
    transfers_complete_at: Mapped[datetime | None] = mapped_column(TZ)
    last_transfer_check: Mapped[datetime | None] = mapped_column(TZ)
    source_released: Mapped[bool] = mapped_column(Boolean, default=False)
    invalidated: Mapped[bool] = mapped_column(Boolean, default=False)
    invalidated_at: Mapped[datetime | None] = mapped_column(TZ)
    invalidation_reason: Mapped[str | None] = mapped_column(Text)
    dbs_invalidated: Mapped[bool] = mapped_column(Boolean, default=False)
    rucio_rules_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(50), default="pending")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()

    __table_args__ = (
        UniqueConstraint(
            "workflow_id", "dataset_name", "work_unit", name="uq_output_datasets_unit"
        ),
        Index("idx_output_datasets_workflow", "workflow_id"),
        Index("idx_output_datasets_status", "status"),
    )


class SiteRow(Base):
    __tablename__ = "sites"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    total_slots: Mapped[int | None] = mapped_column(Integer)
    running_slots: Mapped[int] = mapped_column(Integer, default=0)
    pending_slots: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(50), default="enabled")
    status_until: Mapped[datetime | None] = mapped_column(TZ)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    status_by: Mapped[str] = mapped_column(String(255), default="")
    status_changed_at: Mapped[datetime | None] = mapped_column(TZ)
    source: Mapped[str] = mapped_column(String(50), default="")
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    schedd_name: Mapped[str | None] = mapped_column(String(255))
    collector_host: Mapped[str | None] = mapped_column(String(255))
    storage_element: Mapped[str | None] = mapped_column(String(255))
    storage_path: Mapped[str | None] = mapped_column(Text)
    config_data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = _created()


class SiteChangeRow(Base):
    """Append-only history of site status changes and site alerts: who, why, when."""

    __tablename__ = "site_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    from_status: Mapped[str | None] = mapped_column(String(50))
    to_status: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(Text, default="")
    by: Mapped[str] = mapped_column(String(255), default="")
    until: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = _created()

    __table_args__ = (Index("idx_site_changes_site", "site", "id"),)
