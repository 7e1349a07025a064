"""The site manager from a terminal, on a dev server of its own with a worker on the
`wms2` task queue: `starter.py site ...` at 80 columns, its one-line errors, and the
README's `temporal` CLI lines for sites run as written."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.conftest import REPO
from tests.conftest import dev_server as _own_dev_server
from tests.integration.conftest import WorkerSite
from tests.integration.test_end_to_end import run_starter

dev_server = _own_dev_server  # the README's fixed ids and queue, away from other tests


def site_cli_lines() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = text.split("<!-- temporal-cli-sites:begin -->", 1)[1]
    block = block.split("<!-- temporal-cli-sites:end -->")[0]
    return [line for line in block.strip().strip("`").strip().splitlines() if line.strip()]


async def until_listed(site: WorkerSite, name: str, at_80: dict[str, str]) -> str:
    for _ in range(100):  # the worker's schedule syncs the list at once
        out = run_starter(site, "site", "list", env=at_80)
        if name in out.stdout:
            return out.stdout
        await asyncio.sleep(0.3)
    raise AssertionError(f"{name} never listed: {out.stdout}{out.stderr}")


async def test_site_commands_at_80_columns(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    site.task_queue = "wms2"
    site.start_worker()
    at_80 = {"COLUMNS": "80"}
    await until_listed(site, "T2_DE_DESY", at_80)

    banned = run_starter(
        site, "site", "ban", "T2_DE_DESY", "--reason", "SAM tests red", "--until", "2h", env=at_80
    )
    assert banned.returncode == 0, banned.stderr
    assert banned.stdout.startswith("T2_DE_DESY: enabled -> banned until ")
    listing = run_starter(site, "site", "list", env=at_80).stdout
    assert all(len(line) <= 80 for line in listing.splitlines())
    row = next(line for line in listing.splitlines() if "T2_DE_DESY" in line)
    assert "banned" in row and "(starter.py): SAM" in row
    history = run_starter(site, "site", "history", "T2_DE_DESY", env=at_80).stdout
    assert "enabled -> banned" in history and "(starter.py)" in history

    for args, message in [
        (("drain", "T3_XX_Nowhere"), "error: unknown site 'T3_XX_Nowhere': not in the site"),
        (("ban", "T2_DE_DESY", "--until", "yesterday"), "error: --until 'yesterday' is"),
        (("ban", "T2_DE_DESY", "--until", "-5m"), "error: --until '-5m' ("),
        (("ban", "T2_DE_DESY", "--until", "2020-01-01T00:00"), "error: --until '2020-01-01"),
        (("unban", "T2_CH_CERN"), "error: unban T2_CH_CERN: site 'T2_CH_CERN' is enabled, not"),
        (("disable", "not/a/site"), "error: site 'not/a/site' is not a CMS site name"),
        (("history", "T1_XX_Never"), "error: site 'T1_XX_Never' has no recorded change"),
    ]:
        out = run_starter(site, "site", *args, env=at_80)
        assert out.returncode == 1 and out.stderr.startswith(message), (args, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr

    # The mistyped name was refused before any site workflow started.
    client = dev_server.client
    nowhere = [w async for w in client.list_workflows("WorkflowId = 'wms2-site-T3_XX_Nowhere'")]
    assert nowhere == []

    # A time with an offset is the instant it names: 08:00+02:00 is 06:00 UTC.
    banned = run_starter(
        site, "site", "ban", "T1_IT_CNAF", "--until", "2030-01-01T08:00+02:00", env=at_80
    )
    assert "banned until 2030-01-01 06:00 UTC" in banned.stdout, banned.stdout + banned.stderr
    listing = run_starter(site, "site", "list", env=at_80).stdout
    assert "2030-01-01 06:00" in next(r for r in listing.splitlines() if "T1_IT_CNAF" in r)

    synced = run_starter(site, "site", "sync", env=at_80)
    assert synced.returncode == 0 and "sites from catalog" in synced.stdout
    listed = sum(1 for r in listing.splitlines() if r.strip("│ ").startswith("T"))
    assert synced.stdout.startswith(f"{listed} sites from catalog"), (listed, synced.stdout)


async def test_readme_site_lines_work_as_written(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    site.task_queue = "wms2"
    site.start_worker()
    await until_listed(site, "T2_DE_DESY", {})
    env = {**os.environ, "TEMPORAL_ADDRESS": site.address}
    venv_bin = Path(sys.executable).parent
    lines = site_cli_lines()
    assert all(line.startswith(".venv/bin/temporal ") for line in lines)

    def run(line: str) -> str:
        command = line.replace(".venv/bin/temporal", str(venv_bin / "temporal"), 1)
        done = subprocess.run(
            ["bash", "-c", command], cwd=REPO, env=env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    drain, enable, trigger, describe = lines
    assert '"status":"draining"' in run(drain)  # the workflow's result, as JSON
    listing = run_starter(site, "site", "list").stdout
    assert "draining" in next(x for x in listing.splitlines() if "T2_DE_DESY" in x)
    assert '"status":"enabled"' in run(enable)
    run(trigger)
    assert "wms2-site-sync-wms2" in run(describe)
