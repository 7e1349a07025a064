"""ReqMgr2 reader: GET <base>/data/request?name=..., answered with the envelope
{"result": [{name: {...}}]}; the work WMS2 may pick up is listed by state
(?status=assigned&...&detail=false, answered {"result": [name, ...]})."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from wms2.services.errors import NotFoundError, ServiceRequestError
from wms2.services.http import ServiceClient


class ReqMgrClient:
    def __init__(self, http: ServiceClient) -> None:
        self.http = http

    def get_request(self, request_name: str) -> dict[str, Any]:
        # The base URL already ends in /reqmgr2; paths start at /data.
        body = self.http.get_json("/data/request", params={"name": request_name})
        if not isinstance(body, dict) or not isinstance(body.get("result"), list):
            raise ServiceRequestError("reqmgr2", f"unexpected answer for {request_name!r}")
        for row in body["result"]:
            if isinstance(row, dict) and isinstance(row.get(request_name), dict):
                return row[request_name]
        raise NotFoundError("reqmgr2", f"request {request_name!r} does not exist")

    def request_names(self, statuses: Collection[str]) -> list[str]:
        """Names of the requests in any of `statuses` (WMS2_REQMGR_RUNNABLE_STATES: the
        work WMS2 may pick up), sorted; names only, each document is read on import."""
        body = self.http.get_json(
            "/data/request", params={"status": sorted(statuses), "detail": "false"}
        )
        if not isinstance(body, dict) or not isinstance(body.get("result"), list):
            raise ServiceRequestError("reqmgr2", f"unexpected answer for status {sorted(statuses)}")
        return sorted(str(n) for n in body["result"] if isinstance(n, str))
