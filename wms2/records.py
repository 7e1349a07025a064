"""What callers of WMS2's records name without importing the database layer (wms2.db
pulls in SQLAlchemy and Alembic; workflows must not): the error for a missing record."""

from __future__ import annotations


class RecordNotFound(LookupError):
    """A record that the caller named does not exist."""
