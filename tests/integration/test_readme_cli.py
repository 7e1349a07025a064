"""The README's `temporal` CLI lines, run as written (bash, from the repository root,
`.venv/bin/temporal`) against the dev server and a worker on the `wms2` task queue; what
each line did is checked before the next one runs."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from tests.conftest import GEN, REPO
from tests.conftest import dev_server as _own_dev_server
from tests.integration.conftest import WorkerSite
from tests.workflows.harness import until
from wms2.messages import request_workflow_id
from wms2.models import RequestStatus

README = REPO / "README.md"


def cli_lines() -> list[str]:
    text = README.read_text()
    block = text.split("<!-- temporal-cli:begin -->", 1)[1].split("<!-- temporal-cli:end -->")[0]
    return [line for line in block.strip().strip("`").strip().splitlines() if line.strip()]


def test_the_block_uses_the_bundled_binary() -> None:
    lines = cli_lines()
    assert lines[0].startswith("REQ=") and all(
        line.startswith(".venv/bin/temporal ") for line in lines[1:]
    )
    assert Path(sys.executable).with_name("temporal").exists()  # what make install puts there


async def test_each_readme_cli_line_works_as_written(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    site.task_queue = "wms2"  # the README's lines use the default queue
    site.start_worker()
    lines = cli_lines()
    env = {**os.environ, "TEMPORAL_ADDRESS": site.address}
    venv_bin = Path(sys.executable).parent
    env["PATH"] = f"{venv_bin}:{env['PATH']}"
    prelude = lines[0]
    client = dev_server.client
    h = client.get_workflow_handle(request_workflow_id(GEN))

    def run(line: str) -> str:
        # .venv/bin/temporal relative to the repository root: the venv that runs the tests.
        command = line.replace(".venv/bin/temporal", str(venv_bin / "temporal"), 1)
        done = subprocess.run(
            ["bash", "-c", f"{prelude}\n{command}"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    start, listing, query, priority, snapshot, limit, stop, restart, reason, cancel, inval = lines[
        1:
    ]
    run(start)
    await until(h, lambda s: s.status is RequestStatus.ACTIVE, 120)
    for _ in range(30):  # visibility is eventually consistent
        if request_workflow_id(GEN) in run(listing):
            break
        await asyncio.sleep(1)
    else:
        pytest.fail("the list line never showed the active request")
    assert GEN in run(query)
    out = run(priority)
    assert "95000" in out and "90000" in out, out  # the new value and the one it replaced
    assert (await until(h, lambda s: s.priority == 95000)).priority == 95000
    assert GEN in run(snapshot)
    assert "300" in run(limit)
    run(stop)
    await until(h, lambda s: "stopping" in [t.to_status.value for t in s.transitions], 60)
    run(restart)
    await until(h, lambda s: any("restart" in r for r in s.rejected_signals), 60)
    run(reason)
    run(cancel)
    s = await until(h, lambda s: s.status is RequestStatus.ABORTED, 120)
    assert s.transitions[-1].reason == "wrong tune"
    for _ in range(60):
        if (await h.describe()).status is WorkflowExecutionStatus.CANCELED:
            break
        await asyncio.sleep(0.5)
    assert (await h.describe()).status is WorkflowExecutionStatus.CANCELED
    run(inval)
    out = client.get_workflow_handle(f"output-{GEN}-1")
    desc = await out.describe()
    assert desc.workflow_type == "OutputWorkflow"
    assert GEN in run(query.replace("request-$REQ", "output-$REQ-1"))


# This module's dev server is its own: its fixed request names (the README's, the
# samples') must not meet the runs other modules made of them on the shared server.
dev_server = _own_dev_server
