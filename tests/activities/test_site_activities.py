"""The site manager's activities on what a worker has: the catalog's site list (CRIC's
answer shape), SQLite, the local pool. Changes are recorded with who and why, reach the
submit host's status file and the idle jobs; the sync expires drains and bans and turns
a site's failures into an alert and, if configured, a ban."""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from activities.sites import SiteActivities
from wms2.models import SiteStatus, utcnow
from wms2.site_manager import SiteManager
from wms2.sites.availability import site_status_path
from wms2.sites.health import ledger_path
from wms2.sites.messages import SiteAction, SiteChangeInput, SiteChangeRefused, SiteSyncInput

CATALOG_SITES = {"T0_CH_CERN", "T1_IT_CNAF", "T1_US_FNAL", "T2_CH_CERN", "T2_DE_DESY"}


def statuses_on_disk(deps: ActivityDeps) -> dict[str, str]:
    return json.loads(site_status_path(deps.settings.submit_dir).read_text())["sites"]


def test_sync_lists_catalog_and_local_pool_sites(deps: ActivityDeps) -> None:
    acts = SiteActivities(deps)
    result = acts.sync_sites(SiteSyncInput())
    assert result.source == "catalog" and set(result.added) >= CATALOG_SITES
    assert deps.settings.local_site in result.added  # the local pool's own site
    fnal = deps.repo.sites.get("T1_US_FNAL")
    assert fnal.config_data["pnns"] == ["T1_US_FNAL_Disk"] and fnal.source == "catalog"
    assert set(statuses_on_disk(deps).values()) == {"enabled"}
    again = acts.sync_sites(SiteSyncInput())
    assert again.added == [] and again.delisted == []


def test_change_is_recorded_reaches_the_status_file_and_unknown_sites_fail(
    deps: ActivityDeps,
) -> None:
    acts = SiteActivities(deps)
    acts.sync_sites(SiteSyncInput())
    until = utcnow() + timedelta(hours=6)
    done = acts.change_site(
        SiteChangeInput(site="T2_DE_DESY", action=SiteAction.BAN, reason="SAM red", by="alice",
                        until=until)
    )  # fmt: skip
    assert (done.previous, done.status) == (SiteStatus.ENABLED, SiteStatus.BANNED)
    assert statuses_on_disk(deps)["T2_DE_DESY"] == "banned"
    site = deps.repo.sites.get("T2_DE_DESY")
    assert (site.status_by, site.status_reason) == ("alice", "SAM red")
    acts.change_site(SiteChangeInput(site="T2_DE_DESY", action=SiteAction.UNBAN, by="bob"))
    assert deps.repo.sites.get("T2_DE_DESY").status_until is None
    assert [c.by for c in deps.repo.sites.changes("T2_DE_DESY")][-2:] == ["alice", "bob"]
    with pytest.raises(ApplicationError, match="unknown site 'T3_XX_Nowhere'") as err:
        acts.change_site(SiteChangeInput(site="T3_XX_Nowhere", action=SiteAction.DRAIN))
    assert err.value.non_retryable
    with pytest.raises(ValueError, match="not a CMS site name"):
        SiteChangeInput(site="../etc", action=SiteAction.BAN)


def test_changes_reach_idle_jobs_of_the_pool(deps: ActivityDeps) -> None:
    """A drain re-targets idle landings only; a ban also removes idle work pinned there."""
    SiteActivities(deps).sync_sites(SiteSyncInput())
    pool = deps.backend.pool  # type: ignore[attr-defined]
    me = os.getpid()
    with pool.locked() as state:
        state["idle"] = {
            "1": {"priority": 0, "seq": 1, "sites": ["T2_DE_DESY", "T2_CH_CERN"],
                  "request": "r", "pid": me, "landing": True},
            "2": {"priority": 0, "seq": 2, "sites": ["T2_DE_DESY"], "request": "r",
                  "pid": me, "landing": False},
        }  # fmt: skip
    manager = SiteManager(deps.repo, deps.backend, deps.settings, deps.services.sites)
    drained = manager.change(SiteChangeInput(site="T2_DE_DESY", action=SiteAction.DRAIN))
    assert (drained.idle_jobs_edited, drained.idle_jobs_removed) == (1, 0)
    idle = pool.snapshot()["idle"]
    assert idle["1"]["sites"] == ["T2_CH_CERN"] and idle["2"]["sites"] == ["T2_DE_DESY"]
    banned = manager.change(SiteChangeInput(site="T2_DE_DESY", action=SiteAction.BAN))
    assert (banned.idle_jobs_edited, banned.idle_jobs_removed) == (0, 1)
    assert pool.snapshot()["idle"]["2"]["removed"] is True


def test_sync_expires_drains_and_bans(deps: ActivityDeps) -> None:
    manager = SiteManager(deps.repo, deps.backend, deps.settings, deps.services.sites)
    manager.sync("sync")
    until = utcnow() + timedelta(minutes=30)
    manager.change(
        SiteChangeInput(site="T1_US_FNAL", action=SiteAction.DRAIN, by="carol", until=until)
    )
    assert manager.sync("sync").expired == []
    later = manager.sync("sync", now=until + timedelta(seconds=1))
    assert later.expired == ["T1_US_FNAL"]
    assert deps.repo.sites.get("T1_US_FNAL").status is SiteStatus.ENABLED
    assert statuses_on_disk(deps)["T1_US_FNAL"] == "enabled"


def outcome_lines(site: str, kinds: list[str], at: float) -> str:
    return "".join(f"{at:.0f} {site} {k} req_{i % 3} proc_{i:06d}\n" for i, k in enumerate(kinds))


def test_failing_site_is_alerted_once_and_banned_for_a_while(deps: ActivityDeps) -> None:
    deps.settings.site_failure_min_jobs = 10
    deps.settings.site_failure_rate = 0.5
    deps.settings.site_auto_ban_sec = 3600
    manager = SiteManager(deps.repo, deps.backend, deps.settings, deps.services.sites)
    manager.sync("sync")
    now = time.time()
    ledger = ledger_path(deps.settings.submit_dir)
    ledger.write_text(
        outcome_lines("T2_DE_DESY", ["site"] * 8 + ["success"] * 4, now - 60)
        + outcome_lines("T2_CH_CERN", ["site"] * 2 + ["success"] * 20, now - 60)  # healthy
        + outcome_lines("T1_US_FNAL", ["site"] * 5, now - 60)  # too few jobs to judge
        + "garbage line\n"
    )
    result = manager.sync("sync")
    (alert,) = result.alerts
    assert alert.site == "T2_DE_DESY" and alert.banned
    assert "8 of 12 jobs failed with site errors (67%)" in alert.message
    assert "req_0, req_1, req_2" in alert.message
    desy = deps.repo.sites.get("T2_DE_DESY")
    assert desy.status is SiteStatus.BANNED and desy.status_by == "site-health"
    assert desy.status_until is not None
    assert [c.action for c in deps.repo.sites.changes("T2_DE_DESY")][-2:] == ["alert", "ban"]
    # The same evidence neither alerts nor bans twice; once the ban ends, only failures
    # after it count.
    assert manager.sync("sync").alerts == []
    after_ban = manager.sync("sync", now=desy.status_until + timedelta(seconds=1))
    assert after_ban.expired == ["T2_DE_DESY"] and after_ban.alerts == []


def test_alert_only_without_auto_ban(deps: ActivityDeps) -> None:
    deps.settings.site_failure_min_jobs = 4
    manager = SiteManager(deps.repo, deps.backend, deps.settings, deps.services.sites)
    manager.sync("sync")
    ledger_path(deps.settings.submit_dir).write_text(
        outcome_lines("T2_CH_CERN", ["site"] * 4, time.time() - 5)
    )
    (alert,) = manager.sync("sync").alerts
    assert not alert.banned and deps.repo.sites.get("T2_CH_CERN").status is SiteStatus.ENABLED


def test_sync_counts_each_site_once(deps: ActivityDeps) -> None:
    """The local pool's sites that the catalog lists too are one site, not two."""
    deps.backend.sites["T2_DE_DESY"] = 2  # a pool site the catalog lists as well
    result = SiteActivities(deps).sync_sites(SiteSyncInput())
    assert result.sites == len(deps.repo.sites.list())
    assert result.sites == len(set(result.added)) and "T2_DE_DESY" in result.added


def test_refused_changes_record_nothing(deps: ActivityDeps) -> None:
    manager = SiteManager(deps.repo, deps.backend, deps.settings, deps.services.sites)
    manager.sync("sync")
    before = deps.repo.sites.changes("T2_DE_DESY")
    with pytest.raises(SiteChangeRefused, match="'T2_DE_DESY' is enabled, not banned"):
        manager.change(SiteChangeInput(site="T2_DE_DESY", action=SiteAction.UNBAN))
    past = utcnow() - timedelta(minutes=5)
    with pytest.raises(SiteChangeRefused, match="is in the past"):
        manager.change(SiteChangeInput(site="T2_DE_DESY", action=SiteAction.BAN, until=past))
    assert deps.repo.sites.changes("T2_DE_DESY") == before
