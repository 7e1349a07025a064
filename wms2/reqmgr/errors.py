"""Why a ReqMgr2 request cannot be imported (or run again)."""

from __future__ import annotations


class RequestImportError(ValueError):
    """The ReqMgr2 document cannot become a WMS2 request; the message names the field."""


class RequestAlreadyRan(RequestImportError):
    """A new run of a request name that ran before, without `rerun`: the earlier run's
    records are left as they are."""


class RerunRefused(RequestImportError):
    """A rerun that cannot pick up where the earlier run stopped without redoing work."""
