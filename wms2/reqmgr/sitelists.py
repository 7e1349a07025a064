"""SiteWhitelist and SiteBlacklist read as ReqMgr2 reads them: makeList (a list, or a
comma separated string such as "T1_US_FNAL,T2_CH_CERN"), every name a CMS site name
(WMCore Lexicon.cmsname). A bad name is one line naming the field and the value."""

from __future__ import annotations

import re
from typing import Any

from wms2.reqmgr.arguments import make_list, unset
from wms2.reqmgr.errors import RequestImportError

# Lexicon.cmsname: T<tier>_<country>_<name>[_<more>], trailing underscores ignored.
_CMS_NAME = re.compile(r"^T[0-3]_[A-Z]{2}((_[A-Za-z0-9]+)+)$")


def site_list(field: str, value: Any) -> list[str]:
    if unset(value):
        return []
    try:
        names = make_list(value)
    except ValueError:
        raise RequestImportError(f"{field} {value!r} is not a list of site names") from None
    for name in names:
        if not isinstance(name, str) or not _CMS_NAME.match(name.rstrip("_")):
            raise RequestImportError(f"{field} {name!r} is not a CMS site name (T2_CH_CERN)")
    return list(dict.fromkeys(names))
