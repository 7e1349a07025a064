"""Lifecycle settings belong to the worker: a request started by `starter.py` from a shell
with other settings, or by the `temporal` CLI with no settings at all, runs with the
worker's (README "Settings")."""

from __future__ import annotations

import json
import subprocess

from temporalio.testing import WorkflowEnvironment

from tests.conftest import GEN, RERECO
from tests.conftest import dev_server as _own_dev_server
from tests.integration.conftest import WorkerSite
from tests.integration.test_end_to_end import run_starter
from tests.workflows.harness import until
from wms2.binaries import find_binary
from wms2.messages import request_workflow_id
from wms2.models import RequestStatus
from workflows.request import RequestWorkflow

WORKER = {"WMS2_DAG_CHECK_SEC": "777", "WMS2_TRANSFER_POLL_INTERVAL_SEC": "0.5"}
OPERATOR_SHELL = {"WMS2_DAG_CHECK_SEC": "5", "WMS2_TRANSFER_POLL_INTERVAL_SEC": "300"}


async def test_starter_and_the_temporal_cli_get_the_workers_settings(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    site.start_worker(env=WORKER)
    done = run_starter(site, "submit", RERECO, "--urgent", env=OPERATOR_SHELL)
    assert done.returncode == 0, done.stderr
    cli = subprocess.run(
        [
            str(find_binary("temporal")),
            "workflow",
            "start",
            "--address",
            site.address,
            "--task-queue",
            site.task_queue,
            "--type",
            "RequestWorkflow",
            "--workflow-id",
            request_workflow_id(GEN),
            "--input",
            json.dumps({"request_name": GEN, "urgent": True}),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    for name in (RERECO, GEN):
        h = dev_server.client.get_workflow_handle(request_workflow_id(name))
        s = await until(h, lambda s: s.status is RequestStatus.ACTIVE, 120)
        assert s.config is not None
        assert s.config.dag_check_sec == 777
        assert s.config.output.transfer_poll_sec == 0.5
    for name in (RERECO, GEN):
        assert run_starter(site, "abort", name, "--reason", "test over").returncode == 0
        h = dev_server.client.get_workflow_handle(request_workflow_id(name))
        await until(h, lambda s: s.status is RequestStatus.ABORTED, 120)
        assert (await h.query(RequestWorkflow.status)).status is RequestStatus.ABORTED


# This module's dev server is its own: its fixed request names (the README's, the
# samples') must not meet the runs other modules made of them on the shared server.
dev_server = _own_dev_server
