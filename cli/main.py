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
import sys

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


# Options whose value may start with "-" (`--until -5m`): argparse would take the value
# for an option and print a usage error instead of the value's own one-line refusal.
DASHED_VALUE_OPTIONS = ("--until",)


def join_dashed_values(argv: list[str]) -> list[str]:
    out: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg in DASHED_VALUE_OPTIONS:
            value = next(args, None)
            if value is not None and value.startswith("-") and not value.startswith("--"):
                out.append(f"{arg}={value}")
                continue
            out.append(arg)
            if value is not None:
                out.append(value)
            continue
        out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    from wms2.config import Settings
    from wms2.errors import NON_RETRYABLE
    from wms2.services import ServiceError

    # One line for a refused action and for bad input (wms2.errors: what a request would
    # fail with), and for a service that cannot be reached (retrying is the operator's call).
    reported = (CommandError, ServiceError, *NON_RETRYABLE)
    args = build_parser().parse_args(join_dashed_values(sys.argv[1:] if argv is None else argv))
    try:
        result = args.func(args, Settings())
        return asyncio.run(result) if asyncio.iscoroutine(result) else result
    except reported as e:
        errors.print("[red]error:[/]", escape(str(e)))
        return 1
