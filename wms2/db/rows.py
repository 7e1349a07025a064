"""Row helpers that every record class shares: rows to plain values and back, the upsert
that keeps concurrent callers from creating two rows, and the one-row lookup that names
what is missing. Plain functions over a Session, so record classes need no repository."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, Select, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from wms2.db.tables import Base
from wms2.records import RecordNotFound

# How a record class opens a transaction (Repository.session).
Sessions = Callable[[], AbstractContextManager[Session]]


def aware(value: Any) -> Any:
    """SQLite hands datetimes back without a zone; everything WMS2 writes is UTC."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def row_dict(row: Base) -> dict[str, Any]:
    return {c.key: aware(getattr(row, c.key)) for c in row.__table__.columns}


def column_values(model: BaseModel, row_cls: type[Base]) -> dict[str, Any]:
    """Model fields that are columns of `row_cls`: JSON columns get JSON-safe values,
    enums their string value, everything else the Python value."""
    plain = model.model_dump()
    as_json = model.model_dump(mode="json")
    values: dict[str, Any] = {}
    for col in row_cls.__table__.columns:
        if col.key not in plain:
            continue
        value = plain[col.key]
        if isinstance(col.type, JSON) or isinstance(value, Enum):
            value = as_json[col.key]
        values[col.key] = value
    return values


def upsert(
    s: Session,
    row_cls: type[Base],
    values: dict[str, Any],
    keys: Sequence[str],
    insert_only: Sequence[str] = (),
) -> None:
    """Insert, or update every non-key column of the existing row (keeping its id and
    created_at, which other rows and the audit trail depend on), in one INSERT .. ON
    CONFLICT of the database's own."""
    dialect = s.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(row_cls.__table__).values(**values)
    keep = {*keys, *insert_only, "id", "created_at"}
    changes = {k: stmt.excluded[k] for k in values if k not in keep}
    if "updated_at" in row_cls.__table__.columns:
        changes["updated_at"] = func.now()
    s.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=changes))


def one(s: Session, stmt: Select[Any], what: str) -> Any:
    """The first row of `stmt`, or RecordNotFound naming `what`."""
    row = s.scalars(stmt).first()
    if row is None:
        raise RecordNotFound(what)
    return row
