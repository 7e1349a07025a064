"""starter.py against a running request (fake activities, the dev server): a signal the
request ignores makes the command fail with the reason; `list` shows one row per request
and takes its status in any case."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from temporalio.testing import WorkflowEnvironment

from tests.conftest import REPO
from tests.workflows.harness import fake_world, start, wait_for_status
from wms2.messages import RequestInput, request_workflow_id
from wms2.models import RequestStatus as S
from workflows.request import RequestWorkflow


async def starter(
    env: WorkflowEnvironment, task_queue: str, *args: str
) -> subprocess.CompletedProcess[str]:
    address = env.client.service_client.config.target_host
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(REPO / "starter.py"), *args],
        env={
            **os.environ,
            "TEMPORAL_ADDRESS": address,
            "WMS2_TASK_QUEUE": task_queue,
            "COLUMNS": "200",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_an_ignored_stop_fails_with_the_reason(env: WorkflowEnvironment) -> None:
    async with fake_world(env) as w:
        w.script("sig_pilot").hang = "await_pilot"  # it stays PILOT_RUNNING
        h = await start(w, env, "sig_pilot")
        await wait_for_status(h, S.PILOT_RUNNING)
        done = await starter(env, w.task_queue, "stop", "sig_pilot", "--reason", "maintenance")
        assert done.returncode == 1
        assert done.stderr.strip() == (
            "error: stop ignored: stop (maintenance) while pilot_running: only an ACTIVE "
            "request stops"
        )
        listed = await starter(env, w.task_queue, "list", "--status", "PILOT_RUNNING")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.count("sig_pilot") == 1
        await h.signal(RequestWorkflow.abort)


async def test_a_request_without_a_worker_is_a_one_line_error(env: WorkflowEnvironment) -> None:
    # A workflow on a task queue no worker polls: its status query cannot be answered.
    await env.client.start_workflow(
        "RequestWorkflow",
        RequestInput(request_name="no_worker"),
        id=request_workflow_id("no_worker"),
        task_queue="nobody-polls-this",
    )
    address = env.client.service_client.config.target_host
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(REPO / "starter.py"), "status", "no_worker"],
        env={**os.environ, "TEMPORAL_ADDRESS": address, "WMS2_QUERY_TIMEOUT_SEC": "2"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "error: request 'no_worker' did not answer in 2 s: is a WMS2 worker running on its "
        "task queue?"
    ), done.stderr
    await env.client.get_workflow_handle(request_workflow_id("no_worker")).terminate("test over")
