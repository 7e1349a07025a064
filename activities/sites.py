"""Site manager activities: thin wrappers around wms2.site_manager (database, the
submit host's status file, idle jobs on the scheduler)."""

from __future__ import annotations

from temporalio import activity

from activities.deps import ActivityDeps, domain_errors
from wms2.messages import Activity
from wms2.site_manager import SiteManager
from wms2.sites.messages import SiteChanged, SiteChangeInput, SiteSyncInput, SiteSyncResult


class SiteActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    def _manager(self) -> SiteManager:
        d = self.deps
        return SiteManager(d.repo, d.backend, d.settings, d.services.sites)

    @activity.defn(name=Activity.CHANGE_SITE)
    def change_site(self, inp: SiteChangeInput) -> SiteChanged:
        with domain_errors():
            return self._manager().change(inp)

    @activity.defn(name=Activity.SYNC_SITES)
    def sync_sites(self, inp: SiteSyncInput) -> SiteSyncResult:
        with domain_errors():
            result = self._manager().sync(inp.by)
        activity.logger.info(
            "site sync from %s: %d sites, added %s, delisted %s, expired %s, %d alert(s)",
            result.source,
            result.sites,
            result.added or "none",
            result.delisted or "none",
            result.expired or "none",
            len(result.alerts),
        )
        return result
