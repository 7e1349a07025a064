"""`starter.py plan`: write a request's DAG directory and summarise it (no Temporal)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.common import CommandError, add_command, console
from cli.status_view import key_value_table

if TYPE_CHECKING:
    from wms2.config import Settings
    from wms2.models import Request


def add_commands(sub: Any) -> None:
    p = add_command(sub, "plan", cmd_plan, "write a request's DAG directory and summarise it")
    p.add_argument("name", nargs="?", help="request name (from ReqMgr2 or the catalog)")
    p.add_argument("--file", type=Path, help="a ReqMgr2 request document (JSON)")
    p.add_argument(
        "--dry-run", action="store_true", help="only write and summarise; submit nothing"
    )


def load_request(name: str | None, file: Path | None, settings: Settings) -> Request:
    """A request from a JSON file (a ReqMgr2 document) or from the configured services."""
    from wms2.reqmgr import request_from_reqmgr
    from wms2.service_factory import build_services

    if file is not None:
        try:
            doc = json.loads(file.read_text())
        except (OSError, ValueError) as e:
            raise CommandError(f"cannot read request file {file}: {e}") from None
        return request_from_reqmgr(doc, name, settings.target_job_length_sec)
    doc = build_services(settings).requests.get_request(name or "")
    return request_from_reqmgr(doc, name, settings.target_job_length_sec)


def cmd_plan(args: argparse.Namespace, settings: Settings) -> int:
    from wms2.plan_dag import plan_request
    from wms2.service_factory import build_services

    request = load_request(args.name, args.file, settings)
    services = build_services(settings)
    started = time.monotonic()
    summary = plan_request(
        request, services.files, services.replicas, settings, dry_run=args.dry_run
    )
    table = key_value_table(f"plan of {request.request_name}")
    table.add_row("DAG file", summary.dag_file)
    table.add_row("work units", str(summary.work_units))
    for role, n in summary.node_counts.items():
        table.add_row(f"{role} nodes", str(n))
    table.add_row("events", str(summary.events))
    table.add_row("input files", str(summary.input_files))
    table.add_row("files written", str(summary.files_written))
    table.add_row("planning time", f"{time.monotonic() - started:.2f} s")
    for ds in summary.output_datasets:
        table.add_row("output", ds)
    console.print(table)
    for w in summary.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    if not args.dry_run:
        console.print("(planning alone submits nothing; `submit` runs the whole request)")
    return 0
