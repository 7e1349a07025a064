"""`starter.py admission`: the admission queue, its limit and pause."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from rich.console import RenderableType
from rich.text import Text

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
    console.print(admission_view(snap, await held_requests(client), console.width))
    return 0


async def queue_place(client: Any, name: str) -> str | None:
    """Where a QUEUED request stands: its place in the queue and whether admission is
    paused ("" when the admission workflow does not answer)."""
    from temporalio.service import RPCError

    from wms2.messages import ADMISSION_WORKFLOW_ID
    from workflows.admission import AdmissionWorkflow

    handle = client.get_workflow_handle_for(AdmissionWorkflow.run, ADMISSION_WORKFLOW_ID)
    try:
        snap = await handle.query(AdmissionWorkflow.snapshot)
    except RPCError:
        return None
    names = [e.request_name for e in snap.queue]
    where = (
        f"place {names.index(name) + 1} of {len(names)} in the queue"
        if name in names
        else "not in the queue yet"
    )
    full = f", {len(snap.active)}/{snap.limit} slots taken"
    paused = f"; admission PAUSED ({snap.paused})" if snap.paused else ""
    return where + full + paused


async def held_requests(client: Any) -> list[tuple[str, str]]:
    """Requests stopped with --hold: out of the admission queue until `release`, so the
    admission workflow does not know them; their memo says they are held."""
    query = (
        "WorkflowType = 'RequestWorkflow' AND ExecutionStatus = 'Running' "
        "AND WMS2Status IN ('stopping', 'resubmitting', 'queued')"
    )
    held = []
    async for wf in client.list_workflows(query):
        reason = await wf.memo_value("held", "")
        if reason:
            held.append((wf.id.removeprefix("request-"), str(reason)))
    return held


def admission_view(snap: Any, held: list[tuple[str, str]], width: int) -> RenderableType:
    """The queue in admission order, the active requests and the held ones. Request names
    are how operators find requests: never cut, each on its own line below its position,
    priority and time, so it fits 80 columns."""
    lines = [
        f"admission: {len(snap.active)}/{snap.limit} active, "
        f"{snap.admitted_total} admitted so far, {len(snap.queue)} queued, {len(held)} held"
    ]
    if snap.paused:
        lines.append(f"PAUSED ({snap.paused}): no one is admitted until --resume")
    if snap.capacity is not None:
        used = sum(snap.costs.get(n, 1) for n in snap.active)
        per = f" ({' + '.join(map(str, snap.capacities))} by schedd)" if snap.capacities else ""
        lines.append(f"scheduler jobs: {used} of {snap.capacity} in use{per}")
    if snap.waiting_for:
        lines.append(f"WAITING: {snap.waiting_for}")
    for i, e in enumerate(snap.queue, 1):
        cost = f", needs {e.cost} scheduler jobs" if snap.capacity is not None else ""
        lines += [f"{i:>4}. priority {e.priority}, queued {e.enqueued_at:%Y-%m-%d %H:%M:%S}{cost}"]
        lines += [f"      {e.request_name}"]
    for name, reason in held:
        lines += [f"held: {reason} (starter.py release)", f"      {name}"]
    if snap.active:
        lines.append(f"active ({len(snap.active)}):")
        for n in snap.active:
            cost = f" ({snap.costs[n]} scheduler jobs)" if n in snap.costs else ""
            lines.append(f"      {n}{cost}")
    return Text("\n".join(lines), overflow="fold")
