"""Site records on SQLite and PostgreSQL: sync, status changes with their history,
expiry of drains and bans, counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from wms2.db import Repository
from wms2.db.repository import RecordNotFound
from wms2.models import Site, SiteStatus, utcnow


def test_upsert_and_missing_site(repo: Repository) -> None:
    repo.sites.upsert(Site(name="T1_US_FNAL", total_slots=100, thresholds={"Processing": 80}))
    repo.sites.upsert(Site(name="T1_US_FNAL", total_slots=200, status=SiteStatus.DRAINING))
    (site,) = repo.sites.list()
    assert site.total_slots == 200 and site.status is SiteStatus.DRAINING
    with pytest.raises(RecordNotFound, match="T0_CH_CERN"):
        repo.sites.get("T0_CH_CERN")


def test_sync_adds_keeps_operator_status_and_delists(repo: Repository) -> None:
    added, delisted = repo.sites.sync(
        [("T1_US_FNAL", {"pnns": ["T1_US_FNAL_Disk"]}), ("T2_CH_CERN", {})], "cric", "sync"
    )
    assert added == ["T1_US_FNAL", "T2_CH_CERN"] and delisted == []
    repo.sites.change("T2_CH_CERN", SiteStatus.BANNED, "ban", "SAM tests fail", "alice")
    # CRIC still lists both: the operator's ban stays, nothing is added twice.
    assert repo.sites.sync([("T1_US_FNAL", {}), ("T2_CH_CERN", {})], "cric", "sync") == ([], [])
    assert repo.sites.get("T2_CH_CERN").status is SiteStatus.BANNED
    # CRIC stops listing FNAL: it is disabled, with the reason on record.
    assert repo.sites.sync([("T2_CH_CERN", {})], "cric", "sync") == ([], ["T1_US_FNAL"])
    fnal = repo.sites.get("T1_US_FNAL")
    assert fnal.status is SiteStatus.DISABLED and fnal.status_reason == "no longer listed by cric"
    # Another source's sites are not its to delist.
    repo.sites.sync([("T2_CH_WMS2Local", {"slots": 4})], "local-pool", "sync")
    assert repo.sites.sync([("T2_CH_CERN", {})], "cric", "sync") == ([], [])
    assert repo.sites.get("T2_CH_WMS2Local").total_slots == 4
    # A site both list stays the first source's: the pool's sync does not take it over.
    repo.sites.sync([("T2_CH_CERN", {"slots": 2})], "local-pool", "sync")
    cern = repo.sites.get("T2_CH_CERN")
    assert cern.source == "cric" and cern.config_data["slots"] == 2


def test_change_records_who_why_until_and_expires(repo: Repository) -> None:
    repo.sites.sync([("T2_DE_DESY", {})], "catalog", "sync")
    until = utcnow() + timedelta(hours=2)
    site, previous = repo.sites.change(
        "T2_DE_DESY", SiteStatus.DRAINING, "drain", "downtime", "bob", until
    )
    assert previous is SiteStatus.ENABLED and site.status is SiteStatus.DRAINING
    assert site.status_by == "bob" and site.status_reason == "downtime"
    assert abs((site.status_until - until).total_seconds()) < 1
    assert repo.sites.expire(utcnow(), "expiry") == []  # not yet
    assert repo.sites.expire(until + timedelta(seconds=1), "expiry") == ["T2_DE_DESY"]
    assert repo.sites.get("T2_DE_DESY").status is SiteStatus.ENABLED
    repo.sites.alert("T2_DE_DESY", "9 of 10 jobs failed with site errors", "site-health")
    history = repo.sites.changes("T2_DE_DESY")
    assert [(c.action, c.from_status, c.to_status, c.by) for c in history] == [
        ("listed", None, SiteStatus.ENABLED, "sync"),
        ("drain", SiteStatus.ENABLED, SiteStatus.DRAINING, "bob"),
        ("expire", SiteStatus.DRAINING, SiteStatus.ENABLED, "expiry"),
        ("alert", SiteStatus.ENABLED, SiteStatus.ENABLED, "site-health"),
    ]
    assert repo.sites.count_by_status() == {"enabled": 1}
    with pytest.raises(RecordNotFound, match="T3_XX_Nowhere"):
        repo.sites.change("T3_XX_Nowhere", SiteStatus.BANNED, "ban", "", "bob")


def test_an_until_with_an_offset_is_read_back_as_the_same_instant(repo: Repository) -> None:
    """08:00+02:00 is 06:00 UTC on both databases (SQLite keeps no offset)."""
    repo.sites.sync([("T2_DE_DESY", {})], "catalog", "sync")
    until = datetime(2030, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=2)))
    repo.sites.change("T2_DE_DESY", SiteStatus.BANNED, "ban", "", "bob", until)
    stored = repo.sites.get("T2_DE_DESY").status_until
    assert stored == until and stored.astimezone(UTC).hour == 6
    assert repo.sites.changes("T2_DE_DESY")[-1].until == until
