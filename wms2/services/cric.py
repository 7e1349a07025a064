"""CRIC client: the CMS site list (cms-cric.cern.ch, the same answers WMCore reads)."""

from __future__ import annotations

from typing import Any

from wms2.services.http import ServiceClient
from wms2.sites.cric import SITE_QUERY


class CricClient:
    source = "cric"

    def __init__(self, http: ServiceClient) -> None:
        self.http = http

    def site_names(self) -> Any:
        return self.http.get_json(SITE_QUERY.format(preset="site-names"))

    def data_processing(self) -> Any:
        return self.http.get_json(SITE_QUERY.format(preset="data-processing"))
