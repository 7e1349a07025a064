"""What an operator types for a site change: `--until` in any zone is stored as the UTC
instant it names, a past time or a negative duration is refused in one line, and a value
starting with "-" reaches that refusal instead of argparse's usage error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cli.main import join_dashed_values, main
from wms2.sites.messages import SiteAction, SiteChangeInput, SiteChangeRefused, parse_until

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_an_offset_is_turned_into_utc() -> None:
    when = parse_until("2030-01-01T08:00+02:00", NOW)
    assert when == datetime(2030, 1, 1, 6, 0, tzinfo=UTC) and when.utcoffset() == timedelta(0)
    assert parse_until("2030-01-01T08:00", NOW) == datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
    assert parse_until("2h", NOW) == NOW + timedelta(hours=2)


def test_the_temporal_cli_input_is_turned_into_utc_too() -> None:
    change = SiteChangeInput(
        site="T2_DE_DESY", action=SiteAction.BAN, until="2030-01-01T08:00:00+02:00"
    )
    assert change.until is not None and change.until.utcoffset() == timedelta(0)
    assert change.until.hour == 6


@pytest.mark.parametrize("value", ["-5m", "2020-01-01T00:00", "2026-12-01T13:30+02:00"])
def test_a_time_in_the_past_is_refused(value: str) -> None:
    with pytest.raises(SiteChangeRefused, match=r"--until '.*' .* is in the past"):
        parse_until(value, NOW)


def test_a_dashed_value_stays_the_options_value() -> None:
    assert join_dashed_values(["site", "ban", "T2_X", "--until", "-5m"]) == [
        "site", "ban", "T2_X", "--until=-5m"
    ]  # fmt: skip
    assert join_dashed_values(["site", "ban", "T2_X", "--until", "2h", "--reason", "r"]) == [
        "site", "ban", "T2_X", "--until", "2h", "--reason", "r"
    ]  # fmt: skip


def test_until_minus_5m_as_a_separate_word_gets_the_one_line_refusal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["site", "ban", "T2_DE_DESY", "--until", "-5m"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --until '-5m'") and "is in the past" in err
    assert "usage:" not in err and len(err.strip().splitlines()) == 1
