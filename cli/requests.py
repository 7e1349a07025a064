"""`starter.py list | status | watch | search-attributes`: reading requests."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.text import Text

from cli.admission import queue_place
from cli.common import add_command, connect, console
from cli.output_states import with_current_outputs
from cli.request_handle import DEFAULT_QUERY_TIMEOUT_SEC, request_state
from cli.status_view import outputs_summary, render_state, request_list

if TYPE_CHECKING:
    from temporalio.client import Client

    from wms2.config import Settings
    from wms2.messages import RequestState


def add_commands(sub: Any) -> None:
    from wms2.models import RequestStatus

    p = add_command(sub, "list", cmd_list, "list requests (visibility query)")
    p.add_argument(
        "--status", type=str.lower, choices=[s.value for s in RequestStatus], metavar="STATUS"
    )
    p.add_argument("--campaign")
    add_command(sub, "status", cmd_status, "one request's full status").add_argument("name")
    p = add_command(sub, "watch", cmd_watch, "live progress until the request ends")
    p.add_argument("name")
    p.add_argument("--interval", type=float, default=1.0)


def add_setup_commands(sub: Any) -> None:
    add_command(
        sub, "search-attributes", cmd_search_attributes, "register WMS2's search attributes"
    )


async def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    # One row per request: its latest run (not the runs it continued as new from, nor an
    # earlier run of a request submitted again with --rerun).
    query = "WorkflowType = 'RequestWorkflow' AND ExecutionStatus != 'ContinuedAsNew'"
    if args.status:
        query += f" AND WMS2Status = '{args.status}'"
    if args.campaign:
        query += f" AND WMS2Campaign = '{args.campaign}'"
    rows: list[tuple[str, ...]] = []
    seen = set()
    async for wf in client.list_workflows(query):
        if wf.id in seen:
            continue
        seen.add(wf.id)
        attrs = {k.name: v for k, v in wf.typed_search_attributes}
        status = str(attrs.get("WMS2Status", wf.status.name if wf.status else "?"))
        if await wf.memo_value("held", ""):
            status += " (held)"  # out of admission until `release`
        rows.append(
            (
                wf.id.removeprefix("request-"),
                status,
                str(await wf.memo_value("progress", "")),  # work units done/planned
                str(attrs.get("WMS2Priority", "")),
                str(attrs.get("WMS2Campaign", "")),
                str(attrs.get("WMS2RequestType", "")),
                "yes" if attrs.get("WMS2Stuck") else "",
                wf.start_time.strftime("%Y-%m-%d %H:%M:%S"),
            )
        )
    console.print(request_list(rows, console.width))
    return 0


async def show_state(client: Client, s: RequestState, timeout_sec: float) -> None:
    """The request's table, with its outputs as their output workflows have them now."""
    current, invalidated = await with_current_outputs(client, s, timeout_sec)
    table = render_state(current, invalidated)
    if s.status.value == "queued" and s.hold is None:
        place = await queue_place(client, s.request_name)
        if place:
            table.add_row("admission", place)
    console.print(table)


async def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    timeout = settings.query_timeout_sec
    await show_state(client, await request_state(client, args.name, timeout), timeout)
    return 0


class RequestProgress(Progress):
    """Each request's name on a line of its own (never cut), its bars below it: at 80
    columns a name beside the bars left no room for the bars and their counts."""

    def __init__(self, console: Any) -> None:
        self.requests: dict[str, list[TaskID]] = {}  # before Progress renders anything
        super().__init__(
            TextColumn("  {task.description:<7}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            console=console,
        )

    def add_request(self, name: str, tasks: list[TaskID]) -> list[TaskID]:
        self.requests[name] = tasks
        return tasks

    def get_renderables(self) -> Any:
        by_id = {t.id: t for t in self.tasks}
        for name, ids in self.requests.items():
            yield Text(name, overflow="fold")
            yield self.make_tasks_table([by_id[i] for i in ids if i in by_id])


async def watch_requests(
    client: Client,
    names: list[str],
    interval: float,
    timeout_sec: float = DEFAULT_QUERY_TIMEOUT_SEC,
) -> dict[str, RequestState]:
    """Progress bars per request (work units with the status; nodes; outputs announced,
    with the other states beside) until every request has reached a terminal status;
    returns their final states."""
    states: dict[str, RequestState] = {}
    with RequestProgress(console=console) as progress:
        bars = {
            n: progress.add_request(
                n,
                [
                    progress.add_task("units", total=None, note=""),
                    progress.add_task("nodes", total=None, note=""),
                    progress.add_task("outputs", total=None, note=""),
                ],
            )
            for n in names
        }
        while True:
            for n in names:
                s = states[n] = await request_state(client, n, timeout_sec)
                p = s.progress
                units, nodes, outputs = bars[n]
                progress.update(
                    units,
                    completed=p.work_units_done,
                    total=p.work_units_total or None,
                    note=s.status.value,
                )
                progress.update(
                    nodes,
                    completed=p.nodes_done,
                    total=p.nodes_total or None,
                    note=f"{p.nodes_running} running, {p.nodes_failed} failed",
                )
                progress.update(
                    outputs,
                    completed=s.outputs_by_state.get("announced", 0),
                    total=sum(s.outputs_by_state.values()) or None,
                    note=outputs_summary(s.outputs_by_state),
                )
            if all(s.status.is_terminal for s in states.values()):
                return states
            await asyncio.sleep(interval)


async def cmd_watch(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    timeout = settings.query_timeout_sec
    await request_state(client, args.name, timeout)  # a clear error for unknown requests
    s = (await watch_requests(client, [args.name], args.interval, timeout))[args.name]
    await show_state(client, s, timeout)
    return 0 if s.status.value == "completed" else 1


async def cmd_search_attributes(args: argparse.Namespace, settings: Settings) -> int:
    """Register WMS2's search attributes on a server that lacks them (production)."""
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    from workflows.visibility import ALL_KEYS

    client = await connect(settings)
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=settings.temporal_namespace,
            search_attributes={k.name: k.indexed_value_type for k in ALL_KEYS},
        )
    )
    console.print("registered " + ", ".join(k.name for k in ALL_KEYS))
    return 0
