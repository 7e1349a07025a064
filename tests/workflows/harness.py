"""Running RequestWorkflows against the fake world on the Temporal dev server."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.fakes import FakeWorld
from wms2.messages import (
    ADMISSION_WORKFLOW_ID,
    LifecycleConfig,
    RequestInput,
    RequestResult,
    RequestState,
    request_workflow_id,
)
from wms2.models import RequestStatus
from wms2.outputs.messages import OutputConfig, output_workflow_id
from workflows.admission import AdmissionWorkflow
from workflows.output import OutputWorkflow
from workflows.request import RequestWorkflow
from workflows.runner import workflow_runner

FAST = LifecycleConfig(
    monitor_window_sec=1,
    poll_sec=0.05,
    heartbeat_sec=10,
    dag_check_sec=0.2,
    max_active_dags=300,
    output=OutputConfig(transfer_poll_sec=0.2),
)
HISTORIES = Path(__file__).resolve().parent.parent / "histories"


@asynccontextmanager
async def fake_world(env: WorkflowEnvironment) -> AsyncIterator[FakeWorld]:
    world = FakeWorld(env.client, f"tq-{uuid.uuid4().hex[:8]}")
    async with Worker(
        env.client,
        task_queue=world.task_queue,
        workflows=[RequestWorkflow, AdmissionWorkflow, OutputWorkflow],
        activities=world.activities(),
        workflow_runner=workflow_runner(),
    ):
        try:
            yield world
        finally:
            # One admission workflow per test: it runs on this test's task queue. Output
            # workflows outlive their requests: none is left running without a worker.
            outputs = [
                output_workflow_id(name, n + 1)
                for name, sc in world.scripts.items()
                for n in range(len(sc.datasets))
            ]
            for wf_id in [ADMISSION_WORKFLOW_ID, *outputs]:
                with suppress(Exception):
                    await env.client.get_workflow_handle(wf_id).terminate("test over")


async def start(
    world: FakeWorld, env: WorkflowEnvironment, name: str, config: LifecycleConfig = FAST, **kw: Any
) -> WorkflowHandle:
    return await env.client.start_workflow(
        RequestWorkflow.run,
        RequestInput(request_name=name, config=config, **kw),
        id=request_workflow_id(name),
        task_queue=world.task_queue,
    )


async def state_of(handle: WorkflowHandle) -> RequestState:
    # A query can go unanswered while the worker is busy: retry it rather than let one
    # query hang a test.
    for attempt in range(5):
        try:
            return await asyncio.wait_for(handle.query(RequestWorkflow.status), 5)
        except (TimeoutError, RPCError):
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


async def wait_for_status(
    handle: WorkflowHandle, status: RequestStatus, timeout: float = 20
) -> RequestState:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        s = await state_of(handle)
        if s.status is status:
            return s
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{handle.id} is {s.status.value}, not {status.value}")
        await asyncio.sleep(0.05)


def failed_result(error: WorkflowFailureError) -> RequestResult:
    """A FAILED request ends its workflow Failed with a non-retryable RequestFailed error
    whose details hold the RequestResult."""
    cause = error.cause
    assert isinstance(cause, ApplicationError) and cause.type == "RequestFailed", cause
    assert cause.non_retryable
    return RequestResult.model_validate(cause.details[0])


def statuses(s: RequestState) -> list[str]:
    return [t.to_status.value for t in s.transitions]


async def keep_history(handle: WorkflowHandle, name: str) -> None:
    """With WMS2_RECORD_HISTORIES=1, store the run's history for the replay test."""
    if os.environ.get("WMS2_RECORD_HISTORIES"):
        history = await handle.fetch_history()
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{name}.json").write_text(history.to_json())


async def until(handle: WorkflowHandle, predicate: Any, timeout: float = 20) -> RequestState:
    """Poll the status query until `predicate(state)` holds (signals are asynchronous)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        s = await state_of(handle)
        if predicate(s):
            return s
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{handle.id}: condition not reached; status {s.status.value}")
        await asyncio.sleep(0.05)


async def finish(handle: WorkflowHandle, timeout: float = 60) -> Any:
    """The workflow's result (a FAILED request's comes in its failure's details), or a
    failure naming where it hangs (with its last events)."""
    try:
        return await asyncio.wait_for(handle.result(), timeout)
    except WorkflowFailureError as e:
        return failed_result(e)
    except TimeoutError:
        pass
    s = await state_of(handle)
    events = (await handle.fetch_history()).events[-6:]
    raise AssertionError(
        f"{handle.id} did not finish in {timeout} s: {s.status.value}, transitions "
        f"{[(t.to_status.value, t.reason) for t in s.transitions]}; last events "
        f"{[(e.event_id, e.WhichOneof('attributes')) for e in events]}"
    )
