"""The CMS site list from CRIC's answers (cms-cric.cern.ch/api/cms/site/query/?json&preset=...).

CRIC answers in SiteDB's flattened form, {"desc": {"columns": [...]}, "result": [[...]]}
(WMCore's Services/CRIC unflattens it the same way):
- preset=site-names: columns type, site_name, alias; processing site names (PSNs) are the
  rows of type "psn", storage (PNNs) of type "phedex".
- preset=data-processing: columns phedex_name, psn_name: which storage each site reads.
The offline catalog keeps the same shape in catalog/sites.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wms2.sites.messages import check_site_name

SITE_QUERY = "/api/cms/site/query/?json&preset={preset}&rcsite_state=ANY"


class CricAnswerError(ValueError):
    """A CRIC answer that is not of the documented shape."""


@dataclass
class ListedSite:
    name: str
    pnns: list[str] = field(default_factory=list)


def unflatten(answer: Any, what: str) -> list[dict[str, Any]]:
    try:
        columns = answer["desc"]["columns"]
        rows = answer["result"]
        return [dict(zip(columns, row, strict=False)) for row in rows]
    except (KeyError, TypeError) as e:
        raise CricAnswerError(
            f"CRIC {what} answer is not {{desc: {{columns}}, result: [...]}}: missing {e}"
        ) from None


def processing_sites(site_names: Any, data_processing: Any | None = None) -> list[ListedSite]:
    """The PSNs of a site-names answer, each with the PNNs it reads (data-processing)."""
    names = sorted(
        {
            row["alias"]
            for row in unflatten(site_names, "site-names")
            if row.get("type") == "psn" and row.get("alias")
        }
    )
    pnns: dict[str, set[str]] = {}
    if data_processing is not None:
        for row in unflatten(data_processing, "data-processing"):
            if row.get("psn_name") and row.get("phedex_name"):
                pnns.setdefault(row["psn_name"], set()).add(row["phedex_name"])
    out = []
    for name in names:
        try:
            check_site_name(name)
        except ValueError:
            continue  # CRIC lists a few non-CMS names as aliases; they never run work
        out.append(ListedSite(name, sorted(pnns.get(name, ()))))
    if not out:
        raise CricAnswerError("CRIC site-names answer lists no processing site (type psn)")
    return out
