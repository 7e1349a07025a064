from __future__ import annotations

from sqlalchemy import Engine, inspect, text

from wms2.db.migrate import downgrade_database, upgrade_database

TABLES = {
    "requests",
    "request_transitions",
    "workflows",
    "dags",
    "dag_history",
    "output_datasets",
    "sites",
    "site_changes",
}


def _partial_index_sql(engine: Engine, name: str) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            q = text("SELECT indexdef FROM pg_indexes WHERE indexname = :n")
        else:
            q = text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :n")
        return conn.execute(q, {"n": name}).scalar_one()


def test_upgrade_creates_tables_and_indexes(bare_engine: Engine) -> None:
    upgrade_database(bare_engine)
    insp = inspect(bare_engine)
    assert set(insp.get_table_names()) >= TABLES
    request_indexes = {i["name"] for i in insp.get_indexes("requests")}
    assert {"idx_requests_status", "idx_requests_non_terminal", "idx_requests_priority"} <= (
        request_indexes
    )
    assert "WHERE" in _partial_index_sql(bare_engine, "idx_requests_non_terminal").upper()
    assert "WHERE" in _partial_index_sql(bare_engine, "idx_dags_schedd").upper()
    with bare_engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0004"
    assert "exit_code" in {c["name"] for c in insp.get_columns("dags")}
    assert {"run_number", "run_id"} <= {c["name"] for c in insp.get_columns("requests")}
    assert {"status_until", "status_reason", "status_by", "source"} <= {
        c["name"] for c in insp.get_columns("sites")
    }


def test_0004_keeps_sites_and_renames_maintenance(bare_engine: Engine) -> None:
    upgrade_database(bare_engine, "0003")
    with bare_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sites (name, status, drain_until, running_slots, pending_slots, "
                "thresholds, config_data) VALUES ('T2_CH_CERN', 'maintenance', "
                "'2026-12-01 00:00:00', 0, 0, '{}', '{}')"
            )
        )
    upgrade_database(bare_engine)
    with bare_engine.connect() as conn:
        row = conn.execute(text("SELECT status, status_until FROM sites")).one()
    assert row[0] == "disabled" and str(row[1]).startswith("2026-12-01")


def test_requests_imported_before_0003_count_as_run_once(bare_engine: Engine) -> None:
    upgrade_database(bare_engine, "0002")
    insert = text(
        "INSERT INTO requests (id, request_name, requestor, request_data, payload_config, "
        "priority, urgent, production_steps, status, cleanup_policy) VALUES (:id, :name, "
        "'me', '{}', '{}', 1, false, '[]', :status, 'keep_until_replaced')"
    )
    with bare_engine.begin() as conn:
        for n, (name, status) in enumerate([("ran", "completed"), ("made", "submitted")]):
            conn.execute(
                insert,
                {"id": f"00000000-0000-0000-0000-00000000000{n}", "name": name, "status": status},
            )
    upgrade_database(bare_engine)
    with bare_engine.connect() as conn:
        rows = dict(
            (r[0], (r[1], r[2]))
            for r in conn.execute(text("SELECT request_name, run_number, run_id FROM requests"))
        )
    # A version created but never imported has not run yet.
    assert rows == {"ran": (1, "before-0003"), "made": (0, None)}


def test_json_columns_are_jsonb_on_postgresql(bare_engine: Engine) -> None:
    upgrade_database(bare_engine)
    cols = {c["name"]: c["type"] for c in inspect(bare_engine).get_columns("requests")}
    expected = "JSONB" if bare_engine.dialect.name == "postgresql" else "JSON"
    assert type(cols["request_data"]).__name__ == expected


def test_upgrade_is_repeatable_and_downgrade_removes_everything(bare_engine: Engine) -> None:
    upgrade_database(bare_engine)
    upgrade_database(bare_engine)  # already at head: nothing to do, no error
    downgrade_database(bare_engine)
    assert not TABLES & set(inspect(bare_engine).get_table_names())
