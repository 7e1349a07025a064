"""`starter.py submit`: start a request's workflow, with the Web UI's fixed texts."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.common import CommandError, add_command, connect, console

if TYPE_CHECKING:
    from temporalio.client import Client

    from wms2.config import Settings


def add_commands(sub: Any) -> None:
    p = add_command(sub, "submit", cmd_submit, "start a request's workflow")
    p.add_argument("name", nargs="?")
    p.add_argument("--urgent", action="store_true", help="skip the pilot")
    p.add_argument("--file", type=Path, help="a ReqMgr2 request document (JSON)")
    p.add_argument(
        "--rerun",
        action="store_true",
        help="run a request that ran before again (it resumes its DAG: done work is kept)",
    )


def static_texts(name: str, document: dict | None, settings: Settings) -> dict[str, str]:
    """The Web UI's summary and details of a request, fixed at its start: what it is
    (type, campaign, priority, datasets), from its document when it can be read now."""
    if document is None:
        try:
            from wms2.service_factory import build_services

            document = build_services(settings).requests.get_request(name)
        except Exception:  # unreachable or unknown: the import will say why
            document = {}
    kind, campaign = document.get("RequestType", "request"), document.get("Campaign", "-")
    priority = document.get("RequestPriority", "-")
    outputs = ", ".join(document.get("OutputDatasets") or []) or "-"
    # StepChain and TaskChain keep their input in the first step (ReqMgr2's Step1/Task1).
    first = document.get("Step1") or document.get("Task1") or {}
    first = first if isinstance(first, dict) else {}
    input_ds = document.get("InputDataset") or first.get("InputDataset") or "-"
    # No priority in the summary: it is fixed at the start, and a priority changes; the
    # current one is in the current details (and the WMS2Priority column).
    return {
        "static_summary": f"{kind} {campaign}",
        "static_details": (
            f"**{name}**\n{kind} of campaign {campaign}, submitted at priority {priority}\n"
            f"input: {input_ds}\noutputs: {outputs}"
        ),
    }


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
    found = check_request(name, document, settings)
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
            **static_texts(name, document or found or {}, settings),
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


def check_request(name: str, document: dict | None, settings: Settings) -> dict | None:
    """Refuse, before any workflow starts, what its import would fail on at once (a failed
    run stays in the Web UI's list): a name outside the naming rules, or a request that
    neither the request source nor WMS2's records know. Looked up as the import does: a
    --file document is the request; else the source (the offline catalog or ReqMgr2), or
    WMS2's own record (a version increment, an earlier run). Returns the document read
    from the source, for the Web UI's texts."""
    from wms2.models import check_request_name
    from wms2.service_factory import build_services
    from wms2.services.errors import NotFoundError

    try:
        check_request_name(name, "request name")
    except ValueError as e:
        raise CommandError(f"{e}: nothing submitted") from None
    if document is not None:
        return document
    try:
        return build_services(settings).requests.get_request(name)
    except NotFoundError:
        from wms2.db import open_repository

        if open_repository(settings.database_url).request_run(name) is not None:
            return None
    where = (
        f"the offline catalog ({settings.catalog_dir})"
        if settings.service_backend.value == "catalog"
        else f"ReqMgr2 ({settings.reqmgr_url})"
    )
    raise CommandError(f"no request named {name!r} in {where}: nothing submitted")


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
