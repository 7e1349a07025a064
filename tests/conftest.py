from __future__ import annotations

from pathlib import Path

import pytest

from wms2.config import Settings
from wms2.services.catalog import OfflineCatalog

REPO = Path(__file__).resolve().parent.parent
SAMPLE_CATALOG = REPO / "catalog"
STEPCHAIN = "pdmvserv_task_QCD-Run3Summer23DRPremix-00042__v1_T_261120_101500_4242"
GEN = "cmsunified_task_GEN-RunIII2024Summer24GS-00002__v1_T_261121_080000_1359"
TASKCHAIN = "pdmvserv_task_QCD-Run3Summer23DR-00017__v1_T_261119_090000_1717"
RERECO = "pdmvserv_Run2024C_JetMET0_ReReco_v1_261118_070000_2424"


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
    )


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    from tests.db.conftest import RAN

    if RAN:
        terminalreporter.write_line(
            "database tests passed: "
            + ", ".join(f"{n} on {backend}" for backend, n in sorted(RAN.items()))
        )
