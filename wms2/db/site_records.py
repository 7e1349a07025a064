"""Site records: the site list, statuses with who/why/until, and their history.

A status change and its history row are one transaction; the sync from CRIC or the
catalog never overrides an operator's status, it only adds sites and marks the ones the
source stopped listing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select

from wms2.db.rows import Sessions, aware, column_values, one, row_dict, upsert
from wms2.db.tables import SiteChangeRow, SiteRow
from wms2.models import Site, SiteStatus, utcnow


class SiteChange(BaseModel):
    site: str
    action: str
    from_status: SiteStatus | None
    to_status: SiteStatus
    reason: str
    by: str
    until: datetime | None
    at: datetime


class SiteRecords:
    def __init__(self, session: Sessions) -> None:
        self.session = session  # Repository.session: one transaction per call

    def _model(self, row: SiteRow) -> Site:
        return Site.model_validate(row_dict(row))

    def upsert(self, site: Site) -> Site:
        with self.session() as s:
            upsert(s, SiteRow, column_values(site, SiteRow), ["name"])
        return self.get(site.name)

    def get(self, name: str) -> Site:
        with self.session() as s:
            what = f"unknown site {name!r}: not in the site list (starter.py site list)"
            row = one(s, select(SiteRow).where(SiteRow.name == name), what)
            return self._model(row)

    def list(self) -> list[Site]:
        with self.session() as s:
            return [self._model(r) for r in s.scalars(select(SiteRow).order_by(SiteRow.name))]

    def statuses(self) -> dict[str, SiteStatus]:
        with self.session() as s:
            return {n: SiteStatus(st) for n, st in s.execute(select(SiteRow.name, SiteRow.status))}

    def count_by_status(self) -> dict[str, int]:
        with self.session() as s:
            rows = s.execute(select(SiteRow.status, func.count()).group_by(SiteRow.status))
            return {status: n for status, n in rows}

    def sync(
        self, listed: Sequence[tuple[str, dict[str, Any]]], source: str, by: str
    ) -> tuple[list[str], list[str]]:
        """Add the listed sites that are new (enabled), refresh the others' details, and
        disable the sites this source listed before but lists no more. Returns (added,
        delisted)."""
        now = utcnow()
        names = {name for name, _ in listed}
        added, delisted = [], []
        with self.session() as s:
            rows = {r.name: r for r in s.scalars(select(SiteRow).with_for_update())}
            for name, details in listed:
                row = rows.get(name)
                if row is None:
                    s.add(
                        SiteRow(
                            name=name,
                            status=SiteStatus.ENABLED.value,
                            source=source,
                            config_data=details,
                            status_by=by,
                            status_reason=f"listed by {source}",
                            total_slots=details.get("slots", 0),
                            updated_at=now,
                        )
                    )
                    added.append(name)
                    continue
                # A site two sources list (CRIC and the local pool) stays the first one's:
                # only that source may delist it.
                if row.source in ("", source):
                    row.source = source
                row.config_data, row.updated_at = {**(row.config_data or {}), **details}, now
                if "slots" in details:
                    row.total_slots = details["slots"]
            for name, row in rows.items():
                if row.source == source and name not in names and row.status == "enabled":
                    self._set(s, row, SiteStatus.DISABLED, "delist",
                              f"no longer listed by {source}", by, None, now)  # fmt: skip
                    delisted.append(name)
            for name in added:
                s.add(SiteChangeRow(site=name, action="listed", from_status=None,
                                    to_status="enabled", reason=f"listed by {source}", by=by,
                                    created_at=now))  # fmt: skip
        return added, delisted

    @staticmethod
    def _set(
        s: Any,
        row: SiteRow,
        status: SiteStatus,
        action: str,
        reason: str,
        by: str,
        until: datetime | None,
        now: datetime,
    ) -> None:
        if until is not None and until.tzinfo is not None:
            until = until.astimezone(UTC)  # SQLite drops the offset and reads back UTC
        s.add(
            SiteChangeRow(
                site=row.name, action=action, from_status=row.status, to_status=status.value,
                reason=reason, by=by, until=until, created_at=now,
            )
        )  # fmt: skip
        row.status, row.status_reason, row.status_by = status.value, reason, by
        row.status_until, row.status_changed_at, row.updated_at = until, now, now

    def change(
        self,
        name: str,
        status: SiteStatus,
        action: str,
        reason: str,
        by: str,
        until: datetime | None = None,
    ) -> tuple[Site, SiteStatus]:
        """Set a site's status (RecordNotFound for an unknown site); returns the site and
        its previous status."""
        with self.session() as s:
            row = one(
                s,
                select(SiteRow).where(SiteRow.name == name).with_for_update(),
                f"unknown site {name!r}: not in the site list (starter.py site list)",
            )
            previous = SiteStatus(row.status)
            self._set(s, row, status, action, reason, by, until, utcnow())
            return self._model(row), previous

    def alert(self, name: str, reason: str, by: str) -> None:
        """A history row that changes nothing: the evidence an operator should see."""
        with self.session() as s:
            row = s.get(SiteRow, name)
            current = row.status if row is not None else "enabled"
            s.add(SiteChangeRow(site=name, action="alert", from_status=current,
                                to_status=current, reason=reason, by=by))  # fmt: skip

    def expire(self, now: datetime, by: str) -> list[str]:
        """Drains and bans whose `until` has passed end: the site is enabled again."""
        ended = []
        with self.session() as s:
            rows = s.scalars(
                select(SiteRow)
                .where(SiteRow.status_until.is_not(None), SiteRow.status_until <= now)
                .with_for_update()
            )
            for row in rows:
                until = row.status_until
                reason = f"{row.status} until {until:%Y-%m-%d %H:%M} UTC ended"
                self._set(s, row, SiteStatus.ENABLED, "expire", reason, by, None, now)
                ended.append(row.name)
        return ended

    def changes(self, name: str | None = None, limit: int = 20) -> list[SiteChange]:
        with self.session() as s:
            stmt = select(SiteChangeRow).order_by(SiteChangeRow.id.desc()).limit(limit)
            if name is not None:
                stmt = stmt.where(SiteChangeRow.site == name)
            return [
                SiteChange(
                    site=r.site, action=r.action, from_status=r.from_status,
                    to_status=r.to_status, reason=r.reason, by=r.by,
                    until=aware(r.until), at=aware(r.created_at),
                )
                for r in s.scalars(stmt)
            ][::-1]  # fmt: skip
