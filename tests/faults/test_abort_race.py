"""An abort (a Temporal cancellation) that arrives while the request signals one of its
output workflows, on the real stack: the dev server, the real activities, local runners.

The timing is forced: a test interceptor holds the workflow at the moment it signals
(`add_work_units` right after a unit completed, or `close` at the DAG's end) until the
cancellation has reached the server, so the cancellation lands while the signal is
pending. The SDK absorbs a cancellation there and lets the workflow carry on; before the
fix the request went on to COMPLETED with its outputs announced."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    Interceptor,
    SignalExternalWorkflowInput,
    Worker,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from tests.conftest import RERECO
from tests.integration.conftest import WorkerSite
from tests.integration.test_end_to_end import start
from tests.workflows.harness import until
from wms2.config import Settings
from wms2.models import RequestStatus

S = RequestStatus


class SignalGate:
    """Armed for one outgoing signal name: the workflow thread waits there (briefly: the
    SDK's deadlock detector allows 2 s) until the test has asked for the cancellation."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self.reached = threading.Event()
        self.cancel_sent = threading.Event()

    def arm(self, signal: str) -> None:
        self.signal = signal

    def hold(self, signal: str) -> None:
        if signal != self.signal:
            return
        self.signal = None
        self.reached.set()
        self.cancel_sent.wait(1.5)


GATE = SignalGate()


class _Outbound(WorkflowOutboundInterceptor):
    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        GATE.hold(input.signal)
        return await super().signal_external_workflow(input)


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound))


class HoldSignals(Interceptor):
    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _Inbound


async def run_worker(
    dev_server: WorkflowEnvironment, site: WorkerSite, stop: asyncio.Event
) -> None:
    """The worker's workflows and activities, in this process (for the interceptor)."""
    from worker import WORKFLOWS, all_activities, build_deps, ensure_tracker

    settings = Settings()
    deps = build_deps(settings, dev_server.client)
    with ThreadPoolExecutor(max_workers=16) as pool:
        async with Worker(
            dev_server.client,
            task_queue=site.task_queue,
            workflows=WORKFLOWS,
            activities=all_activities(deps),
            activity_executor=pool,
            interceptors=[HoldSignals()],
            graceful_shutdown_timeout=timedelta(seconds=5),
        ):
            await ensure_tracker(dev_server.client, settings)
            await stop.wait()


@pytest.mark.parametrize("signal", ["add_work_units", "close"])
async def test_an_abort_while_the_request_signals_its_outputs_wins(
    dev_server: WorkflowEnvironment,
    site: WorkerSite,
    signal: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for key, value in site.env().items():
        if key.startswith(("WMS2_", "TEMPORAL_")):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    GATE.__init__()  # type: ignore[misc]
    GATE.arm(signal)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(dev_server, site, stop))
    try:
        h = await start(dev_server, site, RERECO, urgent=True)
        assert await asyncio.to_thread(GATE.reached.wait, 120), f"no {signal} signal was sent"
        await h.cancel()
        GATE.cancel_sent.set()
        with pytest.raises(WorkflowFailureError) as failure:
            await asyncio.wait_for(h.result(), 120)
        assert isinstance(failure.value.cause, CancelledError)
        s = await until(h, lambda s: s.status.is_terminal, 10)
        assert s.status is S.ABORTED, s.transitions[-1]
        assert "cancellation" in (s.abort_reason or "")
        # What was handed over before the abort stays with its output workflow: the
        # cancelled signal was not taken for an output workflow that ended.
        assert not [a for a in s.alerts if a.kind == "output_workflow_gone"], s.alerts
        assert s.output_workflows, "no output workflow was started"
        for wf_id in s.output_workflows.values():  # closed by the abort: each one ends
            await asyncio.wait_for(dev_server.client.get_workflow_handle(wf_id).result(), 60)
        # The DAG's runner is gone: nothing of the request runs on.
        if s.dag is not None and signal == "add_work_units":
            jobs = Path(os.environ["WMS2_STATE_DIR"]) / "local-condor" / "jobs"
            runner = json.loads((jobs / f"{s.dag.cluster_id}.json").read_text())["pid"]
            assert not Path(f"/proc/{runner}").exists() or _zombie(runner)
    finally:
        GATE.cancel_sent.set()
        stop.set()
        await worker


def _zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
