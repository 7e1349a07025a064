"""`starter.py submit` refuses, before it starts any workflow, a request name outside the
naming rules or unknown to the request source and to WMS2's records: one line naming the
value, exit code 1, nothing left in the Web UI's FAILED list."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from tests.conftest import GEN, REPO, SAMPLE_CATALOG
from wms2.db import open_repository
from wms2.messages import request_workflow_id
from wms2.reqmgr import request_from_reqmgr
from wms2.services.catalog import OfflineCatalog


async def submit(
    env: WorkflowEnvironment, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(REPO / "starter.py"), "submit", *args],
        env={
            **os.environ,
            "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
            "WMS2_TASK_QUEUE": "nobody-polls-this",  # a started request would wait here
            "WMS2_DATABASE_URL": f"sqlite:///{tmp_path / 'wms2.db'}",
            "WMS2_CATALOG_DIR": str(SAMPLE_CATALOG),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


async def started(env: WorkflowEnvironment, name: str) -> bool:
    try:
        await env.client.get_workflow_handle(request_workflow_id(name)).describe()
    except RPCError as e:
        assert e.status is RPCStatusCode.NOT_FOUND
        return False
    return True


@pytest.mark.parametrize("name", ["../x", "a/b"])
async def test_a_bad_request_name_starts_nothing(
    env: WorkflowEnvironment, tmp_path: Path, name: str
) -> None:
    done = await submit(env, tmp_path, name)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: request name {name!r} is invalid: use 1-255 letters, digits, '_', '-' or "
        "'.', not starting with '.' or '-': nothing submitted"
    )
    assert not await started(env, name)


async def test_an_unknown_request_starts_nothing(env: WorkflowEnvironment, tmp_path: Path) -> None:
    name = f"no_such_request_{uuid.uuid4().hex[:8]}"
    done = await submit(env, tmp_path, name)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: no request named {name!r} in the offline catalog ({SAMPLE_CATALOG}): "
        "nothing submitted"
    )
    assert not await started(env, name)


async def test_a_request_only_wms2_records_know_is_submitted(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # A version increment: WMS2 wrote its record, the request source never saw the name.
    name = f"recorded_only_{uuid.uuid4().hex[:8]}"
    doc = {**OfflineCatalog(SAMPLE_CATALOG, tmp_path).get_request(GEN), "RequestName": name}
    open_repository(f"sqlite:///{tmp_path / 'wms2.db'}").upsert_request(
        request_from_reqmgr(doc, name, 28800)
    )
    done = await submit(env, tmp_path, name)
    assert done.returncode == 0, done.stderr
    assert await started(env, name)
    await env.client.get_workflow_handle(request_workflow_id(name)).terminate("test over")
