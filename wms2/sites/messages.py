"""Inputs and outputs of the site manager's workflows and activities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator

from wms2.models import SiteStatus

SITE_NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


def site_workflow_id(site: str) -> str:
    """One change at a time per site: a second one while the first runs is refused."""
    return f"wms2-site-{site}"


def site_sync_schedule_id(task_queue: str) -> str:
    """The scheduled sync of a deployment (its task queue), like the DAG tracker's id."""
    return f"wms2-site-sync-{task_queue}"


class SiteAction(StrEnum):
    DRAIN = "drain"
    ENABLE = "enable"
    DISABLE = "disable"
    BAN = "ban"
    UNBAN = "unban"


# The status each action leads to.
ACTION_STATUS = {
    SiteAction.DRAIN: SiteStatus.DRAINING,
    SiteAction.ENABLE: SiteStatus.ENABLED,
    SiteAction.DISABLE: SiteStatus.DISABLED,
    SiteAction.BAN: SiteStatus.BANNED,
    SiteAction.UNBAN: SiteStatus.ENABLED,
}


def check_site_name(value: str, field: str = "site") -> str:
    """CMS site names: T0-T3, a country code, a name (T2_CH_CERN)."""
    if (
        not isinstance(value, str)
        or not 4 <= len(value) <= 100
        or value[:1] != "T"
        or set(value) - set(SITE_NAME_CHARS)
    ):
        raise ValueError(f"{field} {value!r} is not a CMS site name such as T2_CH_CERN")
    return value


class SiteChangeRefused(ValueError):
    """A site change that makes no sense now (an unban of a site that is not banned, an
    `until` already past): refused with one line, nothing recorded."""


def as_utc(when: datetime) -> datetime:
    """UTC, whatever zone the operator wrote: SQLite keeps no offset (it reads every time
    back as UTC), so a time must be UTC before it is stored."""
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def parse_until(value: str, now: datetime) -> datetime:
    """`--until`: an ISO time (UTC unless it says otherwise) or a duration such as 30m,
    12h, 2d, in UTC. One-line error naming the value otherwise, or when it is past."""
    text = value.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number = text[:-1].removeprefix("-")
    if text[-1:] in units and number.replace(".", "", 1).isdigit():
        when = now + timedelta(seconds=float(text[:-1]) * units[text[-1]])
    else:
        try:
            when = as_utc(datetime.fromisoformat(text))
        except ValueError:
            raise ValueError(
                f"--until {value!r} is neither an ISO time (2026-12-01T08:00) nor a duration "
                "(30m, 12h, 2d)"
            ) from None
    check_until(when, now, value)
    return when


def check_until(when: datetime, now: datetime, written: object = None) -> None:
    if when <= now:
        shown = (
            f"{written!r} ({when:%Y-%m-%d %H:%M} UTC)" if written else f"{when:%Y-%m-%d %H:%M} UTC"
        )
        raise SiteChangeRefused(f"--until {shown} is in the past: give a later time")


class SiteChangeInput(BaseModel):
    """One operator (or WMS2) decision about a site."""

    site: str
    action: SiteAction
    reason: str = ""
    by: str = "operator"
    until: datetime | None = None

    @field_validator("site")
    @classmethod
    def _site(cls, v: str) -> str:
        return check_site_name(v)

    @field_validator("until")
    @classmethod
    def _until(cls, v: datetime | None) -> datetime | None:
        return None if v is None else as_utc(v)


class SiteChanged(BaseModel):
    site: str
    status: SiteStatus
    previous: SiteStatus | None
    until: datetime | None = None
    # What reached running DAGs: idle jobs re-targeted or removed for re-election.
    idle_jobs_edited: int = 0
    idle_jobs_removed: int = 0


class SiteSyncInput(BaseModel):
    """One run of the scheduled site sync; settings come from the worker."""

    by: str = "site-sync"


class SiteAlert(BaseModel):
    site: str
    message: str
    banned: bool = False


class SiteSyncResult(BaseModel):
    source: str
    sites: int
    added: list[str] = Field(default_factory=list)
    delisted: list[str] = Field(default_factory=list)
    expired: list[str] = Field(default_factory=list)
    alerts: list[SiteAlert] = Field(default_factory=list)
