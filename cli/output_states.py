"""The outputs as they are now, not as the request last heard of them.

An output workflow outlives its request (an invalidation after the request ended starts it
again), and a closed request's own state cannot change: `status` and `watch` therefore ask
each dataset's OutputWorkflow (its latest run) and show its counts."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from temporalio.client import Client

    from wms2.messages import RequestState
    from wms2.outputs.messages import OutputState


async def output_state(client: Client, wf_id: str, timeout_sec: float) -> OutputState | None:
    """The output workflow's state, or None when it never started or does not answer."""
    from temporalio.client import WorkflowQueryFailedError
    from temporalio.service import RPCError

    from workflows.output import OutputWorkflow

    try:
        return await client.get_workflow_handle_for(OutputWorkflow.run, wf_id).query(
            OutputWorkflow.status, rpc_timeout=timedelta(seconds=timeout_sec)
        )
    except (RPCError, WorkflowQueryFailedError):
        return None


async def with_current_outputs(
    client: Client, s: RequestState, timeout_sec: float
) -> tuple[RequestState, dict[str, str]]:
    """A copy of `s` whose output counts are the output workflows' own, and the datasets
    invalidated with their reason."""
    from wms2.outputs.messages import OutputProgress, output_workflow_id

    ids = {
        d: s.output_workflows.get(d) or output_workflow_id(s.request_name, i, s.run)
        for i, d in enumerate(s.output_datasets, start=1)
    }
    states = await asyncio.gather(*(output_state(client, i, timeout_sec) for i in ids.values()))
    outputs = dict(s.outputs)
    invalidated: dict[str, str] = {}
    for dataset, state in zip(ids, states, strict=True):
        if state is None or (not state.counts() and dataset not in outputs):
            continue
        before = outputs.get(dataset, OutputProgress(dataset=dataset))
        outputs[dataset] = before.model_copy(update={"counts": state.counts()})
        if state.invalidate_reason is not None:
            invalidated[dataset] = state.invalidate_reason
    totals: dict[str, int] = {}
    for prog in outputs.values():
        for k, n in prog.counts.items():
            totals[k] = totals.get(k, 0) + n
    return s.model_copy(update={"outputs": outputs, "outputs_by_state": totals}), invalidated
