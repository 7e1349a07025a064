"""The README's walkthrough, run as written (bash, from the repository root, `.venv/bin/...`)
against the dev server and a worker on the `wms2` task queue, in the order written: the
`starter.py` block ("Running it by hand", `make up` played by the fixtures), then the
`temporal` CLI block; what each line did is checked before the next one runs."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from tests.conftest import REPO, RERECO, TASKCHAIN
from tests.conftest import dev_server as _own_dev_server
from tests.integration.conftest import WorkerSite
from tests.workflows.harness import until
from wms2.messages import request_workflow_id
from wms2.models import RequestStatus

README = REPO / "README.md"


def block_lines(name: str) -> list[str]:
    text = README.read_text()
    block = text.split(f"<!-- {name}:begin -->", 1)[1].split(f"<!-- {name}:end -->")[0]
    return [line for line in block.strip().strip("`").strip().splitlines() if line.strip()]


def cli_lines() -> list[str]:
    return block_lines("temporal-cli")


def starter_lines() -> list[str]:
    """The walkthrough's commands (`make up` and the commented set-up are the fixtures')."""
    return [
        line.split("  #")[0].strip()
        for line in block_lines("starter-walkthrough")
        if not line.startswith(("#", "make "))
    ]


def test_the_walkthrough_uses_requests_the_demo_does_not_run() -> None:
    """After `make demo` a request name the demo ran cannot run again: the walkthrough
    would meet the demo's runs (the CLI's start prints the old run and starts nothing)."""
    from tools.devstack import DEMO_REQUESTS

    names = {line.split()[3] for line in starter_lines() if len(line.split()) > 3}
    names.add(cli_lines()[0].removeprefix("REQ="))
    assert names == {RERECO, TASKCHAIN} and not names & set(DEMO_REQUESTS)
    assert all(line.startswith(".venv/bin/python starter.py ") for line in starter_lines())


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
    env.update({k: v for k, v in site.env().items() if k.startswith("WMS2_")})
    env["COLUMNS"] = "80"
    prelude = lines[0]
    client = dev_server.client
    h = client.get_workflow_handle(request_workflow_id(TASKCHAIN))

    def run(line: str) -> str:
        # .venv/bin/... relative to the repository root: the venv that runs the tests.
        command = line.replace(".venv/bin/temporal", str(venv_bin / "temporal"), 1)
        command = command.replace(".venv/bin/python", str(venv_bin / "python"), 1)
        done = subprocess.run(
            ["bash", "-c", f"{prelude}\n{command}"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    # "Running it by hand": submit, watch to the end, status, list, at 80 columns.
    submit, watch, status, listing_80 = starter_lines()
    assert RERECO in run(submit)
    watched = run(watch)
    assert "completed" in watched and all(len(x) <= 80 for x in watched.splitlines())
    assert "completed" in run(status)
    assert RERECO in run(listing_80)

    start, listing, query, priority, snapshot, limit, stop, restart, reason, cancel, inval = lines[
        1:
    ]
    run(start)
    await until(h, lambda s: s.status is RequestStatus.ACTIVE, 120)
    for _ in range(30):  # visibility is eventually consistent
        if request_workflow_id(TASKCHAIN) in run(listing):
            break
        await asyncio.sleep(1)
    else:
        pytest.fail("the list line never showed the active request")
    assert TASKCHAIN in run(query)
    out = run(priority)
    print(out)
    # The answer as the README shows it: JSON with the new value and the one it replaced.
    assert json.loads(out)["result"] == {"priority": 95000, "previous": 85000}, out
    assert (await until(h, lambda s: s.priority == 95000)).priority == 95000
    assert TASKCHAIN in run(snapshot)
    out = run(limit)
    print(out)
    assert json.loads(out)["result"] == {"limit": 300, "previous": 300}, out
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
    out = client.get_workflow_handle(f"output-{TASKCHAIN}-1")
    desc = await out.describe()
    assert desc.workflow_type == "OutputWorkflow"
    assert TASKCHAIN in run(query.replace("request-$REQ", "output-$REQ-1"))
    # starter.py's status agrees with the output workflow: its outputs are invalidated.
    from workflows.output import OutputWorkflow

    state = await out.query(OutputWorkflow.status)
    shown = run(".venv/bin/python starter.py status $REQ")
    if state.counts():
        assert not re.search(r"│ outputs announced\s+│", shown), shown
        assert "wrong tune" in shown, shown


# This module's dev server is its own: its fixed request names (the README's, the
# samples') must not meet the runs other modules made of them on the shared server.
dev_server = _own_dev_server
