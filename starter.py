"""WMS2 operator command line.

python starter.py submit NAME [--urgent] [--rerun] [--file request.json]
python starter.py list [--status S] [--campaign C]
python starter.py status NAME | watch NAME
python starter.py stop NAME --reason TEXT | abort NAME [--reason TEXT]
python starter.py restart NAME [--catastrophic --cleanup-policy P]
python starter.py priority NAME N
python starter.py admission [--limit N]
python starter.py plan NAME --dry-run | db upgrade | search-attributes
python starter.py site list | history NAME | sync
python starter.py site drain|enable|disable|ban|unban NAME [--reason R] [--until T]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from cli.common import CommandError, connect, console, errors, operator
from cli.sites import add_site_commands
from wms2.status_view import outputs_summary, render_state, request_list

if TYPE_CHECKING:
    from temporalio.client import Client

    from wms2.config import Settings
    from wms2.messages import RequestState
    from wms2.models import Request


def static_texts(name: str, document: dict | None, settings: Settings) -> dict[str, str]:
    """The Web UI's summary and details of a request, fixed at its start: what it is
    (type, campaign, priority, datasets), from its document when it can be read now."""
    if document is None:
        try:
            from wms2.services.factory import build_services

            document = build_services(settings).requests.get_request(name)
        except Exception:  # unreachable or unknown: the import will say why
            document = {}
    kind, campaign = document.get("RequestType", "request"), document.get("Campaign", "-")
    priority = document.get("RequestPriority", "-")
    outputs = ", ".join(document.get("OutputDatasets") or []) or "-"
    input_ds = document.get("InputDataset") or "-"
    return {
        "static_summary": f"{kind} {campaign} priority {priority}",
        "static_details": (
            f"**{name}**\n{kind} of campaign {campaign}, priority {priority}\n"
            f"input: {input_ds}\noutputs: {outputs}"
        ),
    }


def output_config(settings: Settings) -> Any:
    """The output pipeline's settings, as a worker hands them to requests."""
    from wms2.messages import LifecycleConfig

    return LifecycleConfig.from_settings(settings).output


def request_handle(client: Client, name: str) -> Any:
    from wms2.messages import request_workflow_id
    from workflows.request import RequestWorkflow

    return client.get_workflow_handle_for(RequestWorkflow.run, request_workflow_id(name))


QUERY_TIMEOUT_SEC = 20.0  # Settings.query_timeout_sec, set by main()


async def request_state(client: Client, name: str) -> RequestState:
    """The request's state (the `status` query), or one line saying why it cannot be had:
    no such request, or no worker answering (a query needs a worker, even for a request
    that ended)."""
    from datetime import timedelta

    from temporalio.client import WorkflowQueryFailedError
    from temporalio.service import RPCError, RPCStatusCode

    from workflows.request import RequestWorkflow

    try:
        return await request_handle(client, name).query(
            RequestWorkflow.status, rpc_timeout=timedelta(seconds=QUERY_TIMEOUT_SEC)
        )
    except RPCError as e:
        if e.status is RPCStatusCode.NOT_FOUND:
            raise CommandError(f"no request named {name!r} (workflow request-{name})") from None
        if e.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            raise CommandError(
                f"request {name!r} did not answer in {QUERY_TIMEOUT_SEC:g} s: is a WMS2 "
                "worker running on its task queue?"
            ) from None
        raise CommandError(f"cannot read request {name!r}: {e.message}") from None
    except WorkflowQueryFailedError as e:
        raise CommandError(f"cannot read request {name!r}: {e}") from None


# ── commands ───────────────────────────────────────────────────────────────────


async def cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    from temporalio.common import WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from wms2.messages import RequestInput, request_workflow_id
    from workflows.request import RequestWorkflow

    document = None
    name = args.name
    if args.file is not None:
        try:
            document = json.loads(args.file.read_text())
        except (OSError, ValueError) as e:
            raise CommandError(f"cannot read request file {args.file}: {e}") from e
        if not isinstance(document, dict):
            raise CommandError(f"request file {args.file} must hold a JSON object")
        name = name or document.get("RequestName")
    if not name:
        raise CommandError("give a request name, or a --file whose RequestName is set")
    client = await connect(settings)
    try:
        handle = await client.start_workflow(
            RequestWorkflow.run,
            RequestInput(
                request_name=name,
                urgent=True if args.urgent else None,
                request_document=document,
                rerun=args.rerun,  # no config: the worker's settings apply
            ),
            id=request_workflow_id(name),
            task_queue=settings.task_queue,
            **static_texts(name, document, settings),
            # A request name runs once unless the operator asks for another run.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE
            if args.rerun
            else WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        raise CommandError(await why_not_started(client, name)) from None
    what = "rerun of" if args.rerun else "submitted"
    console.print(f"{what} [bold]{name}[/] as workflow {handle.id} (run {handle.result_run_id})")
    return 0


async def why_not_started(client: Client, name: str) -> str:
    """One line on the run that holds the request's workflow id."""
    from temporalio.client import WorkflowExecutionStatus

    from wms2.messages import request_workflow_id

    desc = await client.get_workflow_handle(request_workflow_id(name)).describe()
    attrs = {k.name: v for k, v in desc.typed_search_attributes}
    status = attrs.get("WMS2Status", "?")
    if desc.status is WorkflowExecutionStatus.RUNNING:
        return (
            f"request {name!r} is running (status {status}): stop, restart or abort it "
            "instead of submitting it again"
        )
    ended = desc.close_time.strftime("%Y-%m-%d %H:%M:%S UTC") if desc.close_time else "?"
    temporal = desc.status.name.lower() if desc.status else "closed"
    return (
        f"request {name!r} already ran (status {status}, workflow {temporal} at {ended}): "
        "give --rerun to run it again"
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
        rows.append(
            (
                wf.id.removeprefix("request-"),
                str(attrs.get("WMS2Status", wf.status.name if wf.status else "?")),
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


async def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    console.print(render_state(await request_state(await connect(settings), args.name)))
    return 0


async def watch_requests(
    client: Client, names: list[str], interval: float
) -> dict[str, RequestState]:
    """Progress bars per request (work units with the status; nodes; outputs announced,
    with the other states beside) until every request has reached a terminal status;
    returns their final states."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
    )
    states: dict[str, RequestState] = {}
    with Progress(*columns, console=console) as progress:
        bars = {
            n: [
                progress.add_task(n[:60], total=None, note=""),
                progress.add_task("  nodes", total=None, note=""),
                progress.add_task("  outputs announced", total=None, note=""),
            ]
            for n in names
        }
        while True:
            for n in names:
                s = states[n] = await request_state(client, n)
                p = s.progress
                units, nodes, outputs = bars[n]
                progress.update(
                    units,
                    completed=p.work_units_done,
                    total=p.work_units_total or None,
                    note=f"work units, {s.status.value}",
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
    await request_state(client, args.name)  # a clear error for unknown requests
    s = (await watch_requests(client, [args.name], args.interval))[args.name]
    console.print(render_state(s))
    return 0 if s.status.value == "completed" else 1


async def _signal(settings: Settings, name: str, signal: str, arg: Any) -> None:
    """Send the signal; a signal the request ignores (it lists it under "ignored" with the
    reason) is an error, so the operator's command fails with that reason."""
    client = await connect(settings)
    s = await request_state(client, name)  # a clear error for unknown requests
    if s.status.is_terminal:
        raise CommandError(f"request {name!r} is {s.status.value}: nothing to {signal}")
    before = len(s.rejected_signals)
    handle = request_handle(client, name)
    await (handle.signal(signal) if arg is None else handle.signal(signal, arg))
    # Temporal answers a query after the workflow task that handles the signal.
    after = (await request_state(client, name)).rejected_signals
    if len(after) > before:
        raise CommandError(f"{signal} ignored: {after[-1].split(' ', 1)[1]}")


async def cmd_stop(args: argparse.Namespace, settings: Settings) -> int:
    from wms2.messages import StopSignal

    await _signal(settings, args.name, "stop", StopSignal(reason=args.reason, hold=args.hold))
    held = "; it stays out of admission until `release`" if args.hold else ""
    console.print(f"{args.name} stops ({args.reason}){held}")
    return 0


async def cmd_release(args: argparse.Namespace, settings: Settings) -> int:
    await _signal(settings, args.name, "release", None)
    console.print(f"{args.name} released: it joins the admission queue")
    return 0


async def cmd_abort(args: argparse.Namespace, settings: Settings) -> int:
    """A Temporal cancellation, so the workflow ends Canceled (the reason goes first, by
    signal: a cancellation carries none the workflow can read)."""
    from wms2.messages import AbortSignal

    await _signal(settings, args.name, "abort_reason", AbortSignal(reason=args.reason))
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
    await _signal(settings, args.name, "restart", req)
    console.print(
        f"asked {args.name} to {'restart catastrophically' if args.catastrophic else 'restart'}"
    )
    return 0


async def cmd_invalidate(args: argparse.Namespace, settings: Settings) -> int:
    """Spec 6.3's rollback for every output of a request (DBS invalidation, rule deletion),
    run by each dataset's OutputWorkflow."""
    from activities.outputs import start_invalidation
    from wms2.outputs.messages import CleanupInput, OutputResult

    client = await connect(settings)
    s = await request_state(client, args.name)
    if not (s.status.is_terminal or s.status.value == "partial"):
        raise CommandError(
            f"request {args.name!r} is {s.status.value}: stop or abort it before invalidating"
        )
    if not s.output_datasets:
        raise CommandError(f"request {args.name!r} has no output datasets")
    inp = CleanupInput(
        request_name=args.name, reason=args.reason, config=output_config(settings), run=s.run
    )
    ids = await start_invalidation(client, inp, s.output_datasets, settings.task_queue)
    console.print(f"invalidating {len(ids)} output dataset(s) of {args.name}: {', '.join(ids)}")
    if args.no_wait:
        return 0
    for wf_id in ids:
        res = await client.get_workflow_handle(wf_id, result_type=OutputResult).result()
        console.print(f"{res.dataset}: {outputs_summary(res.counts)}")
    return 0


async def cmd_priority(args: argparse.Namespace, settings: Settings) -> int:
    from temporalio.client import WorkflowUpdateFailedError

    from wms2.messages import PriorityRequest
    from workflows.request import RequestWorkflow

    client = await connect(settings)
    s = await request_state(client, args.name)
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


def cmd_db_upgrade(_args: argparse.Namespace, settings: Settings) -> int:
    from wms2.db import make_engine, upgrade_database

    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    console.print(f"database at [bold]{engine.url.render_as_string()}[/] is at the newest schema")
    return 0


def load_request(name: str | None, file: Path | None, settings: Settings) -> Request:
    """A request from a JSON file (a ReqMgr2 document) or from the configured services."""
    from wms2.reqmgr import request_from_reqmgr
    from wms2.services.factory import build_services

    if file is not None:
        try:
            doc = json.loads(file.read_text())
        except (OSError, ValueError) as e:
            raise CommandError(f"cannot read request file {file}: {e}") from None
        return request_from_reqmgr(doc, name, settings.target_job_length_sec)
    doc = build_services(settings).requests.get_request(name or "")
    return request_from_reqmgr(doc, name, settings.target_job_length_sec)


def cmd_plan(args: argparse.Namespace, settings: Settings) -> int:
    from wms2.planning import plan_request
    from wms2.services.factory import build_services

    request = load_request(args.name, args.file, settings)
    services = build_services(settings)
    started = time.monotonic()
    summary = plan_request(
        request, services.files, services.replicas, settings, dry_run=args.dry_run
    )
    table = Table(title=f"plan of {request.request_name}", show_header=False)
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


def build_parser() -> argparse.ArgumentParser:
    from wms2.models import RequestStatus

    parser = argparse.ArgumentParser(
        prog="starter.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, func: Any, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.set_defaults(func=func)
        return p

    p = command("submit", cmd_submit, "start a request's workflow")
    p.add_argument("name", nargs="?")
    p.add_argument("--urgent", action="store_true", help="skip the pilot")
    p.add_argument("--file", type=Path, help="a ReqMgr2 request document (JSON)")
    p.add_argument(
        "--rerun",
        action="store_true",
        help="run a request that ran before again (it resumes its DAG: done work is kept)",
    )
    p = command("list", cmd_list, "list requests (visibility query)")
    p.add_argument(
        "--status", type=str.lower, choices=[s.value for s in RequestStatus], metavar="STATUS"
    )
    p.add_argument("--campaign")
    command("status", cmd_status, "one request's full status").add_argument("name")
    p = command("watch", cmd_watch, "live progress until the request ends")
    p.add_argument("name")
    p.add_argument("--interval", type=float, default=1.0)
    p = command("stop", cmd_stop, "clean stop (rescue DAG, back to the queue)")
    p.add_argument("name")
    p.add_argument("--reason", required=True)
    p.add_argument("--hold", action="store_true", help="keep it out of admission until release")
    p = command("release", cmd_release, "let a request stopped with --hold be admitted")
    p.add_argument("name")
    p = command("abort", cmd_abort, "abort a request (its DAG is removed)")
    p.add_argument("name")
    p.add_argument("--reason", default="operator abort")
    p = command(
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
    p = command("invalidate", cmd_invalidate, "invalidate every output of a request (spec 6.3)")
    p.add_argument("name")
    p.add_argument("--reason", default="operator invalidation")
    p.add_argument("--no-wait", action="store_true", help="return once it has started")
    p = command("priority", cmd_priority, "change a request's priority")
    p.add_argument("name")
    p.add_argument("priority", type=int)
    p = command("admission", cmd_admission, "the admission queue, limit and pause")
    p.add_argument("--limit", type=int)
    pause = p.add_mutually_exclusive_group()
    pause.add_argument(
        "--pause", metavar="REASON", nargs="?", const="operator pause", help="admit no one"
    )
    pause.add_argument("--resume", action="store_true", help="admit again after --pause")
    command("search-attributes", cmd_search_attributes, "register WMS2's search attributes")
    p = command("plan", cmd_plan, "write a request's DAG directory and summarise it")
    p.add_argument("name", nargs="?", help="request name (from ReqMgr2 or the catalog)")
    p.add_argument("--file", type=Path, help="a ReqMgr2 request document (JSON)")
    p.add_argument(
        "--rerun",
        action="store_true",
        help="run a request that ran before again (it resumes its DAG: done work is kept)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="only write and summarise; submit nothing"
    )
    add_site_commands(sub)
    db = command("db", None, "database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply Alembic migrations").set_defaults(func=cmd_db_upgrade)
    return parser


def main(argv: list[str] | None = None) -> int:
    from wms2.config import Settings
    from wms2.dagfiles import PathEscapeError
    from wms2.dagfiles.layout import DagDirectoryInUse
    from wms2.reqmgr import RequestImportError
    from wms2.services import ServiceError
    from wms2.splitting import SplittingError

    global QUERY_TIMEOUT_SEC
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        QUERY_TIMEOUT_SEC = settings.query_timeout_sec
        result = args.func(args, settings)
        return asyncio.run(result) if asyncio.iscoroutine(result) else result
    except (
        CommandError,
        RequestImportError,
        SplittingError,
        ServiceError,
        PathEscapeError,
        DagDirectoryInUse,
    ) as e:
        errors.print("[red]error:[/]", escape(str(e)))
        return 1


if __name__ == "__main__":
    code = main()
    # The Temporal client's native threads can still be winding down while the interpreter
    # finalizes (a fatal "PyGILState_Release" abort after the work is done): leave at once.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
