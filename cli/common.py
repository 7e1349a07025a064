"""What every starter.py command shares: the consoles, the one-line error, the client."""

from __future__ import annotations

import getpass
import socket
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from temporalio.client import Client

    from wms2.config import Settings

console = Console()
# Errors: one line on stderr, never wrapped, brackets in messages printed as they are.
errors = Console(stderr=True, soft_wrap=True, highlight=False)


class CommandError(Exception):
    """A refused or impossible operator action, reported as one clear line."""


async def connect(settings: Settings) -> Client:
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=pydantic_data_converter,
        )
    except RuntimeError as e:
        raise CommandError(f"cannot reach Temporal at {settings.temporal_address}: {e}") from e


def operator() -> str:
    """Who an operator action is recorded as: user@host (starter.py)."""
    return f"{getpass.getuser()}@{socket.gethostname()} (starter.py)"
