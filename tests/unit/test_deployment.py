"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine): check what
can be checked without one."""

from __future__ import annotations

import os
import re

import yaml

from tests.conftest import REPO
from wms2.config import Settings
from workflows.visibility import ALL_KEYS

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_services_and_current_images() -> None:
    assert set(SERVICES) == {
        "postgresql",
        "temporal-schema",
        "temporal",
        "temporal-init",
        "temporal-ui",
        "wms2-worker",
    }
    images = [s.get("image", "") for s in SERVICES.values()]
    assert not any("auto-setup" in i for i in images)  # the retired image
    assert {i.split(":")[0] for i in images if i} == {
        "postgres",
        "temporalio/admin-tools",
        "temporalio/server",
        "temporalio/ui",
    }
    for name, service in SERVICES.items():
        for dep in service.get("depends_on", {}):
            assert dep in SERVICES, f"{name} depends on unknown {dep}"


def test_scripts_it_mounts_exist_and_register_every_search_attribute() -> None:
    for service in SERVICES.values():
        for entry in service.get("entrypoint", []):
            if entry.startswith("/deploy/"):
                assert (REPO / "deploy" / entry.removeprefix("/deploy/")).is_file()
    script = (REPO / "deploy" / "temporal-init.sh").read_text()
    kinds = {"KEYWORD": "Keyword", "INT": "Int", "BOOL": "Bool"}
    for key in ALL_KEYS:
        kind = kinds[key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")]
        assert f"{key.name}={kind}" in script


def test_worker_environment_is_what_the_code_reads() -> None:
    env = SERVICES["wms2-worker"]["environment"]
    fields = set(Settings.model_fields)
    for var in env:
        if var.startswith("WMS2_"):
            assert var.removeprefix("WMS2_").lower() in fields, f"{var} is not a WMS2 setting"
    assert env["WMS2_EXECUTION_BACKEND"] == "htcondor"
    assert env["WMS2_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    # The settings parse as the container would see them.
    values = {k: v for k, v in env.items() if not str(v).startswith("${")}
    s = Settings(
        **{k.removeprefix("WMS2_").lower(): v for k, v in values.items() if k.startswith("WMS2_")}
    )
    assert s.execution_backend.value == "htcondor" and s.service_backend.value == "cmsweb"


def test_structure_healthchecks_volumes_and_scaling() -> None:
    """What `up -d --scale wms2-worker=3` needs: no fixed host port or container name on
    the worker, a healthcheck on each long-running service, the one-shot set-up gating
    the workers, the submit directory at the same path on the host (the host schedd reads
    the DAGs by the paths WMS2 gives it)."""
    worker = SERVICES["wms2-worker"]
    assert "ports" not in worker and "container_name" not in worker
    assert worker["expose"] == ["9464"] and "--metrics-port" in worker["command"]
    for name in ("postgresql", "temporal", "wms2-worker"):
        assert SERVICES[name]["healthcheck"]["test"], name
    assert worker["depends_on"]["temporal-init"]["condition"] == ("service_completed_successfully")
    init = SERVICES["temporal-init"]
    assert init["restart"] == "no" and init["entrypoint"][-1] == "/deploy/temporal-init.sh"
    assert "/var/lib/wms2:/var/lib/wms2" in worker["volumes"]
    env = worker["environment"]
    assert env["WMS2_SUBMIT_DIR"].startswith("/var/lib/wms2/")
    # Loopback unless the operator opens them (no TLS or login as configured here).
    assert SERVICES["temporal-ui"]["ports"] == ["${TEMPORAL_UI_BIND:-127.0.0.1}:8080:8080"]
    assert SERVICES["temporal"]["ports"] == ["${TEMPORAL_BIND:-127.0.0.1}:7233:7233"]


def test_no_secret_is_written_in_the_files() -> None:
    """Passwords come from the environment or .env (deploy/env.example), required."""
    text = (REPO / "docker-compose.yml").read_text()
    assert "PASSWORD: temporal" not in text and "PWD: temporal" not in text
    assert "wms2:wms2@" not in text and "PASSWORD '" not in (REPO / "deploy/wms2-db.sh").read_text()
    for var in ("TEMPORAL_DB_PASSWORD", "WMS2_DB_PASSWORD", "WMS2_UID", "WMS2_GID"):
        assert f"${{{var}:?" in text, var
        assert f"\n{var}=" in (REPO / "deploy/env.example").read_text(), var
    assert (
        SERVICES["wms2-worker"]["user"]
        == "${WMS2_UID:?set WMS2_UID in .env}:${WMS2_GID:?set WMS2_GID in .env}"
    )


def test_images_are_the_dev_servers_versions() -> None:
    """The same Temporal server and UI as `make install`'s temporal CLI runs."""
    import subprocess
    import sys
    from pathlib import Path

    cli = Path(sys.executable).with_name("temporal")
    version = subprocess.run([cli, "--version"], capture_output=True, text=True).stdout
    server = re.search(r"Server (\S+?),", version).group(1)  # type: ignore[union-attr]
    ui = re.search(r"UI (\S+?)\)", version).group(1)  # type: ignore[union-attr]
    text = (REPO / "docker-compose.yml").read_text()
    assert text.count(f"${{TEMPORAL_VERSION:-{server}}}") == 3
    assert f"temporalio/ui:${{TEMPORAL_UI_VERSION:-{ui}}}" in text


def test_dockerfile_builds_the_same_package() -> None:
    docker = (REPO / "Dockerfile").read_text()
    copied = " ".join(re.findall(r"^COPY (.+) \S+$", docker, re.M))
    for needed in ("pyproject.toml", "wms2", "workflows", "activities", "worker.py", "starter.py"):
        assert needed in copied
    assert "pip install --no-cache-dir ." in docker
    assert SERVICES["wms2-worker"]["build"] == "."
    assert SERVICES["wms2-worker"]["command"][:3] == ["python", "-m", "worker"]
    assert "python:3.11" in docker


def test_the_demo_says_what_it_leaves_running() -> None:
    from tools.devstack import still_running

    me = os.getpid()
    text = still_running({"server": me, "worker": me})
    assert text.startswith(f"Still running: the Temporal dev server (pid {me}) and a WMS2 worker")
    assert text.endswith("Stop them with `make down`.")
    assert still_running({}) == "Nothing is left running."
