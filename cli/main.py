"""WMS2 operator command line.

python starter.py submit NAME [--urgent] [--rerun] [--file request.json]
python starter.py list [--status S] [--campaign C]
python starter.py status NAME | watch NAME | report NAME [--width N]
python starter.py stop NAME --reason TEXT [--hold] | release NAME | abort NAME [--reason TEXT]
python starter.py restart NAME [--catastrophic --cleanup-policy P]
python starter.py invalidate NAME [--reason TEXT] [--no-wait]
python starter.py priority NAME N
python starter.py admission [--limit N] [--pause [REASON] | --resume]
python starter.py plan NAME --dry-run | db upgrade | search-attributes
python starter.py site list | history NAME | sync
python starter.py site drain|enable|disable|ban|unban NAME [--reason R] [--until T]
"""

from __future__ import annotations

import argparse
import asyncio

from rich.markup import escape

from cli import admission, controls, db, outputs, planning, report, requests, sites, submit
from cli.common import CommandError, errors


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="starter.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    # Each command group adds its own subcommands, in the order `--help` lists them.
    submit.add_commands(sub)
    requests.add_commands(sub)
    report.add_commands(sub)
    controls.add_commands(sub)
    outputs.add_commands(sub)
    controls.add_priority_command(sub)
    admission.add_commands(sub)
    requests.add_setup_commands(sub)
    planning.add_commands(sub)
    sites.add_commands(sub)
    db.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from wms2.config import Settings
    from wms2.errors import NON_RETRYABLE
    from wms2.services import ServiceError

    # One line for a refused action and for bad input (wms2.errors: what a request would
    # fail with), and for a service that cannot be reached (retrying is the operator's call).
    reported = (CommandError, ServiceError, *NON_RETRYABLE)
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args, Settings())
        return asyncio.run(result) if asyncio.iscoroutine(result) else result
    except reported as e:
        errors.print("[red]error:[/]", escape(str(e)))
        return 1
