"""`starter.py db upgrade`: database maintenance."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from cli.common import add_command, console

if TYPE_CHECKING:
    from wms2.config import Settings


def add_commands(sub: Any) -> None:
    db = add_command(sub, "db", None, "database maintenance")
    verbs = db.add_subparsers(dest="db_command", required=True)
    verbs.add_parser("upgrade", help="apply Alembic migrations").set_defaults(func=cmd_db_upgrade)


def cmd_db_upgrade(_args: argparse.Namespace, settings: Settings) -> int:
    from wms2.db import open_repository

    engine = open_repository(settings.database_url).engine
    console.print(f"database at [bold]{engine.url.render_as_string()}[/] is at the newest schema")
    return 0
