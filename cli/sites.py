"""`starter.py site ...`: the site manager from the terminal.

list and history read the database; drain, enable, disable, ban and unban start a
SiteChangeWorkflow (the same as the README's `temporal workflow execute` line) and print
what it did; sync runs the scheduled sync once, now."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from rich.table import Table

from cli.common import CommandError, connect, console, operator

if TYPE_CHECKING:
    from wms2.config import Settings

ACTIONS = ("drain", "enable", "disable", "ban", "unban")
WITH_UNTIL = ("drain", "ban")


def add_commands(sub: Any) -> None:
    site = sub.add_parser("site", help="site manager: list, drain, enable, disable, ban, unban")
    verbs = site.add_subparsers(dest="site_command", required=True)
    p = verbs.add_parser("list", help="sites with their status, who set it, why, until when")
    p.set_defaults(func=cmd_site_list)
    p = verbs.add_parser("history", help="a site's changes and alerts")
    p.add_argument("name")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_site_history)
    p = verbs.add_parser("sync", help="sync the site list and check site health now")
    p.set_defaults(func=cmd_site_sync)
    for action in ACTIONS:
        p = verbs.add_parser(action, help=f"{action} a site")
        p.add_argument("name")
        p.add_argument("--reason", default="")
        p.add_argument("--by", help="who decided (default: user@host)")
        if action in WITH_UNTIL:
            p.add_argument("--until", help="ISO time (UTC) or a duration: 30m, 12h, 2d")
        p.set_defaults(func=cmd_site_change, action=action)


def _repo(settings: Settings) -> Any:
    from wms2.db import open_repository

    return open_repository(settings.database_url)


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else ""


def cmd_site_list(args: argparse.Namespace, settings: Settings) -> int:
    from wms2.models import SiteStatus

    sites = _repo(settings).sites.list()
    if not sites:
        console.print("no sites yet: the site sync fills the list (starter.py site sync)")
        return 0
    table = Table("site", "status", "until", "set by: why")
    for col in table.columns[:3]:
        col.no_wrap = True  # names and times are never cut
    for s in sites:
        why = "" if s.status is SiteStatus.ENABLED and not s.status_changed_at else (
            f"{s.status_by}: {s.status_reason}" if s.status_reason else s.status_by)  # fmt: skip
        table.add_row(s.name, s.status.value, _when(s.status_until), why)
    console.print(table)
    return 0


def cmd_site_history(args: argparse.Namespace, settings: Settings) -> int:
    changes = _repo(settings).sites.changes(args.name, args.limit)
    if not changes:
        raise CommandError(f"site {args.name!r} has no recorded change")
    # One line per change, the reason indented below it: readable at 80 columns.
    console.print(f"history of {args.name}", highlight=False)
    for c in changes:
        move = c.to_status.value if c.from_status in (None, c.to_status) else (
            f"{c.from_status.value} -> {c.to_status.value}")  # fmt: skip
        if c.until:
            move += f" until {_when(c.until)}"
        console.print(f"{_when(c.at)}  {c.action:<7} {move}", highlight=False)
        why = f"by {c.by}" + (f": {c.reason}" if c.reason else "")
        console.print(f"    {why}", highlight=False, soft_wrap=True)
    return 0


async def cmd_site_change(args: argparse.Namespace, settings: Settings) -> int:
    from pydantic import ValidationError
    from temporalio.client import WorkflowFailureError
    from temporalio.common import WorkflowIDConflictPolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from wms2.models import utcnow
    from wms2.sites.messages import SiteChangeInput, parse_until, site_workflow_id
    from workflows.sites import SiteChangeWorkflow

    try:
        until = parse_until(args.until, utcnow()) if getattr(args, "until", None) else None
        change = SiteChangeInput(
            site=args.name,
            action=args.action,
            reason=args.reason,
            by=args.by or operator(),
            until=until,
        )
    except ValidationError as e:
        raise CommandError(e.errors()[0]["msg"].removeprefix("Value error, ")) from None
    except ValueError as e:
        raise CommandError(str(e)) from None
    # A mistyped name is refused here, before it leaves a failed site workflow behind.
    _repo(settings).sites.get(change.site)
    client = await connect(settings)
    try:
        done = await client.execute_workflow(
            SiteChangeWorkflow.run,
            change,
            id=site_workflow_id(change.site),
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    except WorkflowAlreadyStartedError:
        raise CommandError(f"another change of {change.site} is running: try again") from None
    except WorkflowFailureError as e:
        cause = e.cause
        while getattr(cause, "cause", None) is not None:
            cause = cause.cause
        message = str(getattr(cause, "message", e)).removeprefix("site change refused: ")
        raise CommandError(f"{args.action} {args.name}: {message}") from None
    until_text = f" until {_when(done.until)} UTC" if done.until else ""
    previous = done.previous.value if done.previous else "?"
    console.print(
        f"{done.site}: {previous} -> {done.status.value}{until_text} "
        f"(idle jobs: {done.idle_jobs_edited} re-targeted, {done.idle_jobs_removed} removed)"
    )
    return 0


async def cmd_site_sync(args: argparse.Namespace, settings: Settings) -> int:
    from temporalio.common import WorkflowIDConflictPolicy

    from wms2.sites.messages import SiteSyncInput, site_sync_schedule_id
    from workflows.sites import SiteSyncWorkflow

    client = await connect(settings)
    result = await client.execute_workflow(
        SiteSyncWorkflow.run,
        SiteSyncInput(by=operator()),
        id=f"{site_sync_schedule_id(settings.task_queue)}-now",
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    console.print(
        f"{result.sites} sites from {result.source}; added {', '.join(result.added) or 'none'}"
        f"; delisted {', '.join(result.delisted) or 'none'}"
        f"; expired {', '.join(result.expired) or 'none'}"
    )
    for alert in result.alerts:
        console.print(f"ALERT {alert.message}" + (" -> banned" if alert.banned else ""))
    return 0
