"""What every starter.py command shares: the consoles, the one-line error, the Temporal
client (the worker connects the same way), who an operator is."""

from __future__ import annotations

import argparse
import getpass
import socket
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.runtime import Runtime

    from wms2.config import Settings

console = Console()
# Errors: one line on stderr, never wrapped, brackets in messages printed as they are.
errors = Console(stderr=True, soft_wrap=True, highlight=False)


class CommandError(Exception):
    """A refused or impossible operator action, reported as one clear line."""


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client of the configured Temporal namespace with WMS2's (pydantic) data converter;
    `runtime`: the worker's, when it serves metrics."""
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=pydantic_data_converter,
            runtime=runtime,
        )
    except RuntimeError as e:
        raise CommandError(f"cannot reach Temporal at {settings.temporal_address}: {e}") from e


def operator() -> str:
    """Who an operator action is recorded as: user@host (starter.py)."""
    return f"{getpass.getuser()}@{socket.gethostname()} (starter.py)"


def add_command(sub: Any, name: str, func: Any, help: str) -> argparse.ArgumentParser:
    """A subcommand of `sub` (an argparse subparsers action) that runs `func(args, settings)`."""
    p: argparse.ArgumentParser = sub.add_parser(name, help=help)
    p.set_defaults(func=func)
    return p
