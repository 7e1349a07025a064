from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from wms2.config import DEFAULT_STUCK_TIMEOUTS, ExecutionBackend, Settings
from wms2.models import RequestStatus


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for var in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE"):
        monkeypatch.delenv(var, raising=False)


def test_defaults_follow_the_spec() -> None:
    s = Settings()
    assert s.database_url == "sqlite:///.wms2/wms2.db"
    assert s.temporal_address == "localhost:7233" and s.temporal_namespace == "default"
    assert s.execution_backend is ExecutionBackend.LOCAL
    assert s.max_active_dags == 300
    assert s.stuck_timeouts[RequestStatus.QUEUED] == 7 * 86400
    assert s.stuck_timeouts[RequestStatus.RESUBMITTING] == 600
    assert s.category_throttles == {
        "Processing": 5000,
        "Merge": 100,
        "Cleanup": 50,
        "MergeGroup": 10,
    }
    assert s.target_merged_size_bytes == 4_000_000_000
    assert s.transfer_poll_interval_sec == 300


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WMS2_STATE_DIR", "/var/lib/wms2")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal:7233")
    monkeypatch.setenv("WMS2_EXECUTION_BACKEND", "htcondor")
    monkeypatch.setenv("WMS2_STUCK_TIMEOUTS", '{"queued": 60}')
    monkeypatch.setenv("WMS2_CATEGORY_THROTTLES", '{"Merge": 7}')
    s = Settings()
    assert s.database_url == "sqlite:////var/lib/wms2/wms2.db"
    assert s.submit_dir == Path("/var/lib/wms2/submit")
    assert s.temporal_address == "temporal:7233"
    assert s.execution_backend is ExecutionBackend.HTCONDOR
    # Keys that are not given keep their defaults.
    assert s.stuck_timeouts[RequestStatus.QUEUED] == 60
    assert s.stuck_timeouts[RequestStatus.ACTIVE] == DEFAULT_STUCK_TIMEOUTS[RequestStatus.ACTIVE]
    assert s.category_throttles["Merge"] == 7 and s.category_throttles["Processing"] == 5000


@pytest.mark.parametrize(
    ("var", "value", "expect"),
    [
        ("WMS2_EXECUTION_BACKEND", "slurm", "execution_backend"),
        ("WMS2_STUCK_TIMEOUTS", '{"queued": 0}', "stuck_timeouts[queued] 0 must be > 0"),
        ("WMS2_STUCK_TIMEOUTS", '{"sleeping": 5}', "stuck_timeouts"),
        ("WMS2_CATEGORY_THROTTLES", '{"Merge": 0}', "category_throttles[Merge] 0 must be >= 1"),
        ("WMS2_MAX_ACTIVE_DAGS", "0", "max_active_dags"),
    ],
)
def test_bad_settings_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, expect: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError) as exc:
        Settings()
    assert expect in str(exc.value)
