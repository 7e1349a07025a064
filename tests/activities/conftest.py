"""Activity dependencies as a worker builds them: the sample catalog, a SQLite
repository, the local backend."""

from __future__ import annotations

import pytest

from activities.deps import ActivityDeps
from wms2.condor.local.backend import LocalBackend
from wms2.config import Settings
from wms2.db import Repository, make_engine, upgrade_database
from wms2.services.factory import build_services


@pytest.fixture
def deps(settings: Settings) -> ActivityDeps:
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    return ActivityDeps(
        settings=settings,
        repo=Repository(engine),
        services=build_services(settings),
        backend=LocalBackend(settings.state_dir, settings.local_site, 2),
    )
