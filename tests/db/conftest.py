"""Database fixtures: every test that takes `engine` or `repo` runs once on SQLite and once
on PostgreSQL. PostgreSQL is used when WMS2_TEST_DATABASE_URL is set (.ci/run sets it);
if it is set and the server cannot be reached, the tests error instead of skipping."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from wms2.db import Repository, make_engine, upgrade_database

PG_URL = os.environ.get("WMS2_TEST_DATABASE_URL", "")
RAN: Counter[str] = Counter()


@pytest.fixture(params=["sqlite", "postgresql"])
def bare_engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """An empty database (no tables yet)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'wms2.db'}")
        yield engine
        engine.dispose()
        return
    if not PG_URL:
        pytest.skip("WMS2_TEST_DATABASE_URL is not set (.ci/run sets it)")
    # A private schema per test keeps tests independent on the shared server.
    schema = f"wms2_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(bare_engine: Engine) -> Engine:
    upgrade_database(bare_engine)
    return bare_engine


@pytest.fixture
def repo(engine: Engine) -> Repository:
    return Repository(engine)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    callspec = getattr(item, "callspec", None)
    if report.when == "call" and report.passed and callspec is not None:
        backend = callspec.params.get("bare_engine")
        if backend:
            RAN[backend] += 1
