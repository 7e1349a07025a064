"""`starter.py stop | release | abort | restart | priority`: an operator acting on one
running request (by signal, cancellation or validated update)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from cli.common import CommandError, add_command, connect, console, operator
from cli.request_handle import request_handle, request_state, signal_request

if TYPE_CHECKING:
    from wms2.config import Settings


def add_commands(sub: Any) -> None:
    p = add_command(sub, "stop", cmd_stop, "clean stop (rescue DAG, back to the queue)")
    p.add_argument("name")
    p.add_argument("--reason", required=True)
    p.add_argument("--hold", action="store_true", help="keep it out of admission until release")
    p = add_command(sub, "release", cmd_release, "let a request stopped with --hold be admitted")
    p.add_argument("name")
    p = add_command(sub, "abort", cmd_abort, "abort a request (its DAG is removed)")
    p.add_argument("name")
    p.add_argument("--reason", default="operator abort")
    p = add_command(
        sub,
        "restart",
        cmd_restart,
        "resume a PARTIAL request (rescue DAG or failed outputs), or start its next version",
    )
    p.add_argument("name")
    p.add_argument(
        "--catastrophic", action="store_true", help="processing version + 1 (schedd lost)"
    )
    p.add_argument(
        "--cleanup-policy",
        default="keep_until_replaced",
        choices=["keep_until_replaced", "immediate_cleanup"],
    )
    p.add_argument("--reason", default="")


def add_priority_command(sub: Any) -> None:
    p = add_command(sub, "priority", cmd_priority, "change a request's priority")
    p.add_argument("name")
    p.add_argument("priority", type=int)


async def cmd_stop(args: argparse.Namespace, settings: Settings) -> int:
    from wms2.messages import StopSignal

    stop = StopSignal(reason=args.reason, hold=args.hold)
    await signal_request(settings, args.name, "stop", stop)
    held = "; it stays out of admission until `release`" if args.hold else ""
    console.print(f"{args.name} stops ({args.reason}){held}")
    return 0


async def cmd_release(args: argparse.Namespace, settings: Settings) -> int:
    await signal_request(settings, args.name, "release", None)
    console.print(f"{args.name} released: it joins the admission queue")
    return 0


async def cmd_abort(args: argparse.Namespace, settings: Settings) -> int:
    """A Temporal cancellation, so the workflow ends Canceled (the reason goes first, by
    signal: a cancellation carries none the workflow can read)."""
    from wms2.messages import AbortSignal

    await signal_request(settings, args.name, "abort_reason", AbortSignal(reason=args.reason))
    client = await connect(settings)
    await request_handle(client, args.name).cancel(reason=args.reason)
    console.print(f"asked {args.name} to abort (a cancellation: the workflow ends Canceled)")
    return 0


async def cmd_restart(args: argparse.Namespace, settings: Settings) -> int:
    from wms2.messages import RestartRequest
    from wms2.models import CleanupPolicy

    req = RestartRequest(
        catastrophic=args.catastrophic,
        cleanup_policy=CleanupPolicy(args.cleanup_policy),
        reason=args.reason,
    )
    await signal_request(settings, args.name, "restart", req)
    console.print(
        f"asked {args.name} to {'restart catastrophically' if args.catastrophic else 'restart'}"
    )
    return 0


async def cmd_priority(args: argparse.Namespace, settings: Settings) -> int:
    from temporalio.client import WorkflowUpdateFailedError

    from wms2.messages import PriorityRequest
    from workflows.request import RequestWorkflow

    client = await connect(settings)
    s = await request_state(client, args.name, settings.query_timeout_sec)
    if s.status.is_terminal:
        raise CommandError(
            f"request {args.name!r} is {s.status.value}: its priority can no longer change"
        )
    try:
        who = operator()
        changed = await request_handle(client, args.name).execute_update(
            RequestWorkflow.set_priority, PriorityRequest(priority=args.priority, by=who)
        )
    except WorkflowUpdateFailedError as e:
        raise CommandError(f"priority refused: {e.cause.message if e.cause else e}") from None
    console.print(f"{args.name}: priority {changed.previous} -> {changed.priority}")
    return 0
