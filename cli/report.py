"""`starter.py report NAME`: the request's failure report (failed and held nodes by
cause, what they hold, what WMS2 does about them), read live from the DAG directory when
this host has it, else the one the workflow kept at the DAG's last end with failures."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.common import CommandError, add_command, connect, console
from cli.request_handle import request_handle, request_state

if TYPE_CHECKING:
    from wms2.config import Settings


def add_commands(sub: Any) -> None:
    p = add_command(sub, "report", cmd_report, "a request's failure report (80 columns)")
    p.add_argument("name")
    p.add_argument("--width", type=int, default=80, help="columns (default 80)")
    p.add_argument("--kept", action="store_true", help="the workflow's kept report only")


async def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from wms2.dagfiles import DagLayout
    from wms2.failures import build_report
    from wms2.failures.render import render_report
    from workflows.request import RequestWorkflow

    if args.width < 40:
        raise CommandError(f"--width {args.width} is too narrow (at least 40 columns)")
    client = await connect(settings)
    state = await request_state(client, args.name, settings.query_timeout_sec)
    kept = await request_handle(client, args.name).query(RequestWorkflow.failure_report)
    dag_file = Path(state.dag_file) if state.dag_file else None
    if dag_file is not None and dag_file.exists() and not args.kept:
        report = build_report(
            DagLayout(dag_file.parent),
            args.name,
            settings.rescue_round_cap,
            kept.decision if kept is not None else "",
        )
    elif kept is not None:
        report = kept
    else:
        raise CommandError(
            f"request {args.name} has no failure report: its DAG directory is not on this "
            "host and its DAG has not ended with failures"
        )
    # Plain text: the report's brackets and stderr lines are not rich markup.
    text = render_report(report, args.width, state.sizing_changes)
    console.print(text, markup=False, highlight=False, soft_wrap=True)
    return 0
