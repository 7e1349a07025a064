"""`starter.py invalidate`: spec 6.3's rollback for every output of a request (DBS
invalidation, rule deletion), run by each dataset's OutputWorkflow."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from cli.common import CommandError, add_command, connect, console
from cli.request_handle import request_state
from wms2.status_view import outputs_summary

if TYPE_CHECKING:
    from wms2.config import Settings


def add_commands(sub: Any) -> None:
    p = add_command(
        sub, "invalidate", cmd_invalidate, "invalidate every output of a request (spec 6.3)"
    )
    p.add_argument("name")
    p.add_argument("--reason", default="operator invalidation")
    p.add_argument("--no-wait", action="store_true", help="return once it has started")


def output_config(settings: Settings) -> Any:
    """The output pipeline's settings, as a worker hands them to requests."""
    from wms2.messages import LifecycleConfig

    return LifecycleConfig.from_settings(settings).output


async def cmd_invalidate(args: argparse.Namespace, settings: Settings) -> int:
    # The same signal-with-start as the request's own invalidation activity: one actor
    # (the dataset's OutputWorkflow) owns a dataset's outputs.
    from activities.outputs import start_invalidation
    from wms2.outputs.messages import CleanupInput, OutputResult

    client = await connect(settings)
    s = await request_state(client, args.name, settings.query_timeout_sec)
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
