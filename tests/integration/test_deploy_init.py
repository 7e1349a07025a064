"""deploy/temporal-init.sh (docker compose's one-shot set-up) run with the real temporal
CLI against the dev server: it creates the namespace and the search attributes, a second
run is fine with everything already there, and a real error fails it loudly."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.conftest import REPO

SCRIPT = REPO / "deploy" / "temporal-init.sh"


def run_init(address: str, namespace: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # .venv/bin/temporal
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_NAMESPACE": namespace,
        "TEMPORAL_RETENTION": "24h",
    }
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


async def test_namespace_and_search_attributes_once_then_again(
    dev_server: WorkflowEnvironment,
) -> None:
    address = dev_server.client.service_client.config.target_host
    namespace = f"wms2-init-{uuid.uuid4().hex[:6]}"
    first = run_init(address, namespace)
    assert first.returncode == 0, first.stderr
    assert f"namespace {namespace} and WMS2's search attributes are ready" in first.stdout
    again = run_init(address, namespace)
    assert again.returncode == 0, again.stderr
    # The namespace answers "already exists"; creating an existing search attribute of the
    # same type is accepted by the server as it is.
    assert again.stdout.count("already present") == 1
    listed = subprocess.run(
        [
            str(Path(sys.executable).parent / "temporal"),
            "operator",
            "search-attribute",
            "list",
            "--address",
            address,
            "--namespace",
            namespace,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    for name in ("WMS2Status", "WMS2Campaign", "WMS2Priority", "WMS2RequestType", "WMS2Stuck"):
        assert name in listed.stdout


def test_a_real_error_fails_loudly() -> None:
    failed = run_init("127.0.0.1:1", "default")  # nothing listens there
    assert failed.returncode != 0
    assert "FAILED: temporal operator namespace create" in failed.stderr
