"""`starter.py admission`: the admission queue, its limit and pause."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from rich.table import Table

from cli.common import CommandError, add_command, connect, console

if TYPE_CHECKING:
    from wms2.config import Settings


def add_commands(sub: Any) -> None:
    p = add_command(sub, "admission", cmd_admission, "the admission queue, limit and pause")
    p.add_argument("--limit", type=int)
    pause = p.add_mutually_exclusive_group()
    pause.add_argument(
        "--pause", metavar="REASON", nargs="?", const="operator pause", help="admit no one"
    )
    pause.add_argument("--resume", action="store_true", help="admit again after --pause")


async def cmd_admission(args: argparse.Namespace, settings: Settings) -> int:
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.service import RPCError

    from wms2.messages import ADMISSION_WORKFLOW_ID, PauseAdmission
    from workflows.admission import AdmissionWorkflow

    client = await connect(settings)
    handle = client.get_workflow_handle_for(AdmissionWorkflow.run, ADMISSION_WORKFLOW_ID)
    try:
        if args.limit is not None:
            changed = await handle.execute_update(AdmissionWorkflow.set_limit, args.limit)
            console.print(f"admission limit {changed.previous} -> {changed.limit}")
        if args.pause is not None:
            await handle.execute_update(AdmissionWorkflow.pause, PauseAdmission(reason=args.pause))
        if args.resume:
            await handle.execute_update(AdmissionWorkflow.resume)
        snap = await handle.query(AdmissionWorkflow.snapshot)
    except WorkflowUpdateFailedError as e:
        raise CommandError(f"limit refused: {e.cause.message if e.cause else e}") from None
    except RPCError:
        raise CommandError(
            "the admission workflow is not running (it starts with the first request)"
        ) from None
    paused = f", PAUSED ({snap.paused})" if snap.paused else ""
    table = Table(
        title=f"admission: {len(snap.active)}/{snap.limit} active, "
        f"{snap.admitted_total} admitted so far{paused}"
    )
    table.add_column("position")
    table.add_column("request")
    table.add_column("priority")
    table.add_column("submitted")
    for name in snap.active:
        table.add_row("active", name, "", "")
    for i, e in enumerate(snap.queue, 1):
        table.add_row(str(i), e.request_name, str(e.priority), f"{e.enqueued_at:%Y-%m-%d %H:%M:%S}")
    console.print(table)
    return 0
