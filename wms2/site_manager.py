"""The site manager (spec 4.9): site changes and the scheduled sync, and how both reach
the work: the status file PRE scripts read, idle node jobs edited on the scheduler.

Called by thin activities; plain objects in, small models out."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from wms2.condor import Backend, IdleEdit
from wms2.condor.local.backend import LocalBackend
from wms2.config import Settings
from wms2.db import Repository
from wms2.models import SiteStatus, utcnow
from wms2.services.protocols import SiteList
from wms2.sites.availability import (
    NO_LANDING,
    NO_PINNED_WORK,
    site_status_path,
    write_site_status,
)
from wms2.sites.cric import processing_sites
from wms2.sites.health import failing_sites, ledger_path, read_outcomes, rotate_if_large
from wms2.sites.messages import (
    ACTION_STATUS,
    SiteAction,
    SiteAlert,
    SiteChanged,
    SiteChangeInput,
    SiteChangeRefused,
    SiteSyncResult,
    check_until,
)

log = logging.getLogger(__name__)
HEALTH = "site-health"  # who raises failure-driven alerts and bans
LOCAL_POOL = "local-pool"


class SiteManager:
    def __init__(
        self,
        repo: Repository,
        backend: Backend,
        settings: Settings,
        site_list: SiteList | None = None,
    ) -> None:
        self.repo, self.backend, self.settings, self.site_list = repo, backend, settings, site_list

    # ── operator changes ───────────────────────────────────────────────────

    def change(self, inp: SiteChangeInput) -> SiteChanged:
        status = ACTION_STATUS[inp.action]
        until = inp.until if inp.action in (SiteAction.DRAIN, SiteAction.BAN) else None
        current = self.repo.sites.get(inp.site).status  # RecordNotFound: an unknown site
        if inp.action is SiteAction.UNBAN and current is not SiteStatus.BANNED:
            # "enabled -> enabled" would record a change that changed nothing.
            raise SiteChangeRefused(
                f"site {inp.site!r} is {current.value}, not banned: nothing to unban"
            )
        if until is not None:
            check_until(until, utcnow())  # the temporal CLI's input is not parsed by us
        reason = inp.reason or f"{inp.action.value} by {inp.by}"
        site, previous = self.repo.sites.change(
            inp.site, status, inp.action.value, reason, inp.by, until
        )
        edit = self.publish()
        log.info("site %s: %s -> %s (%s, by %s)", inp.site, previous, status, reason, inp.by)
        return SiteChanged(
            site=site.name,
            status=site.status,
            previous=previous,
            until=site.status_until,
            idle_jobs_edited=edit.edited,
            idle_jobs_removed=edit.removed,
        )

    def publish(self) -> IdleEdit:
        """Make the current statuses reach the submit host and the scheduler: the status
        file (landings and re-elections read it), then the idle jobs' DESIRED_Sites."""
        statuses = self.repo.sites.statuses()
        write_site_status(site_status_path(self.settings.submit_dir), statuses)
        total = IdleEdit()
        # Landings avoid every site that is not enabled; pinned work only disabled and
        # banned ones (a draining site finishes what it was elected for).
        for out, landings_only in ((NO_LANDING, True), (NO_PINNED_WORK, False)):
            unavailable = {n for n, st in statuses.items() if st in out}
            if unavailable:
                e = self.backend.edit_idle_jobs(
                    None, unavailable=unavailable, landings_only=landings_only
                )
                total.edited, total.removed = total.edited + e.edited, total.removed + e.removed
        return total

    # ── the scheduled sync ─────────────────────────────────────────────────

    def sync(self, by: str, now: datetime | None = None) -> SiteSyncResult:
        """The site list from its source (and the local pool's sites), drains and bans
        whose time is up, failure-driven alerts and bans; then publish."""
        now = now or utcnow()
        source, added, delisted = "none", [], []
        names: set[str] = set()  # a site both sources list is one site
        if self.site_list is not None:
            listed = processing_sites(self.site_list.site_names(), self.site_list.data_processing())
            source = self.site_list.source
            names.update(s.name for s in listed)
            added, delisted = self.repo.sites.sync(
                [(s.name, {"pnns": s.pnns}) for s in listed], source, by
            )
        # The local pool's own sites (its default site included), as the backend has them.
        local = self.backend.sites if isinstance(self.backend, LocalBackend) else {}
        if local:
            more, _ = self.repo.sites.sync(
                [(name, {"slots": slots}) for name, slots in local.items()], LOCAL_POOL, by
            )
            added += more
            names.update(local)
        expired = self.repo.sites.expire(now, by)
        alerts = self.check_health(now)
        self.publish()
        return SiteSyncResult(
            source=source,
            sites=len(names),
            added=added,
            delisted=delisted,
            expired=expired,
            alerts=alerts,
        )

    def check_health(self, now: datetime) -> list[SiteAlert]:
        """Sites failing with site errors over the window: an alert each (once per window),
        and a ban for `site_auto_ban_sec` if set. Only outcomes since the site's last
        status change count, so a site that was just unbanned starts afresh."""
        st = self.settings
        path = ledger_path(st.submit_dir)
        rotate_if_large(path)
        window_start = now - timedelta(seconds=st.site_failure_window_sec)
        sites = {s.name: s for s in self.repo.sites.list()}
        outcomes = [
            o
            for o in read_outcomes(path, window_start.timestamp())
            if (site := sites.get(o.site)) is None
            or site.status_changed_at is None
            or o.at >= site.status_changed_at.timestamp()
        ]
        alerts = []
        for evidence in failing_sites(outcomes, st.site_failure_rate, st.site_failure_min_jobs):
            site = sites.get(evidence.site)
            if site is not None and site.status in NO_PINNED_WORK:
                continue  # already out
            if any(
                c.action == "alert" and c.at >= window_start
                for c in self.repo.sites.changes(evidence.site, limit=5)
            ):
                continue  # alerted in this window already
            message = evidence.describe(st.site_failure_window_sec)
            self.repo.sites.alert(evidence.site, message, HEALTH)
            log.warning("ALERT [site] %s", message)
            banned = False
            if st.site_auto_ban_sec > 0 and site is not None:
                until = now + timedelta(seconds=st.site_auto_ban_sec)
                self.repo.sites.change(
                    evidence.site, SiteStatus.BANNED, "ban", message, HEALTH, until
                )
                banned = True
            alerts.append(SiteAlert(site=evidence.site, message=message, banned=banned))
        return alerts
