"""One request's workflow seen from the CLI: its handle, its state (the `status` query,
or one line saying why it cannot be had), and signals it must not ignore."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cli.common import CommandError, connect

if TYPE_CHECKING:
    from temporalio.client import Client

    from wms2.config import Settings
    from wms2.messages import RequestState

DEFAULT_QUERY_TIMEOUT_SEC = 20.0  # Settings.query_timeout_sec's default


def request_handle(client: Client, name: str) -> Any:
    from wms2.messages import request_workflow_id
    from workflows.request import RequestWorkflow

    return client.get_workflow_handle_for(RequestWorkflow.run, request_workflow_id(name))


async def request_state(
    client: Client, name: str, timeout_sec: float = DEFAULT_QUERY_TIMEOUT_SEC
) -> RequestState:
    """The request's state (the `status` query), or one line saying why it cannot be had:
    no such request, or no worker answering (a query needs a worker, even for a request
    that ended)."""
    from datetime import timedelta

    from temporalio.client import WorkflowQueryFailedError
    from temporalio.service import RPCError, RPCStatusCode

    from workflows.request import RequestWorkflow

    try:
        return await request_handle(client, name).query(
            RequestWorkflow.status, rpc_timeout=timedelta(seconds=timeout_sec)
        )
    except RPCError as e:
        if e.status is RPCStatusCode.NOT_FOUND:
            raise CommandError(f"no request named {name!r} (workflow request-{name})") from None
        if e.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            raise CommandError(
                f"request {name!r} did not answer in {timeout_sec:g} s: is a WMS2 "
                "worker running on its task queue?"
            ) from None
        raise CommandError(f"cannot read request {name!r}: {e.message}") from None
    except WorkflowQueryFailedError as e:
        raise CommandError(f"cannot read request {name!r}: {e}") from None


async def signal_request(settings: Settings, name: str, signal: str, arg: Any) -> None:
    """Send the signal; a signal the request ignores (it lists it under "ignored" with the
    reason) is an error, so the operator's command fails with that reason."""
    client = await connect(settings)
    timeout = settings.query_timeout_sec
    s = await request_state(client, name, timeout)  # a clear error for unknown requests
    if s.status.is_terminal:
        raise CommandError(f"request {name!r} is {s.status.value}: nothing to {signal}")
    before = len(s.rejected_signals)
    handle = request_handle(client, name)
    await (handle.signal(signal) if arg is None else handle.signal(signal, arg))
    # Temporal answers a query after the workflow task that handles the signal.
    after = (await request_state(client, name, timeout)).rejected_signals
    if len(after) > before:
        raise CommandError(f"{signal} ignored: {after[-1].split(' ', 1)[1]}")
