"""Relational records of WMS2: tables, migrations and the repository."""

from wms2.db.engine import make_engine
from wms2.db.migrate import upgrade_database
from wms2.db.repository import Repository


def open_repository(database_url: str) -> Repository:
    """The repository of the database at `database_url`, brought to the newest schema first
    (the worker and every CLI command that reads records open it this way)."""
    engine = make_engine(database_url)
    upgrade_database(engine)
    return Repository(engine)


__all__ = ["Repository", "make_engine", "open_repository", "upgrade_database"]
