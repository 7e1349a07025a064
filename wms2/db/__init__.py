"""Relational records of WMS2: tables, migrations and the repository."""

from wms2.db.engine import make_engine
from wms2.db.migrate import upgrade_database
from wms2.db.repository import Repository

__all__ = ["Repository", "make_engine", "upgrade_database"]
