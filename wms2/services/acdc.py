"""WMCore's ACDC server (CouchDB): the documents of one collection's fileset, read as
WMCore's DataCollectionService._getFilesetInfo reads them: the view coll_fileset_docs
with include_docs, keyed by [collection, fileset].

The server comes from the request (ACDCServer), so a client is built per server with the
worker's certificate; the database name is checked so it cannot leave the server's path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wms2.services.errors import ServiceRequestError

if TYPE_CHECKING:  # an annotation only: the offline catalog reads these without httpx
    from wms2.services.http import ServiceClient

VIEW = "_design/ACDC/_view/coll_fileset_docs"
# CouchDB database names (WMCore Lexicon.identifier for ACDCDatabase is stricter still).
_DATABASE = re.compile(r"^[a-z][a-z0-9_$()+/-]*$")
_SERVER = re.compile(r"^https?://[^\s/]+(/[^\s]*)?$")


def check_location(server: str, database: str) -> None:
    if not isinstance(server, str) or not _SERVER.match(server):
        raise ServiceRequestError("acdc", f"ACDCServer {server!r} is not an http(s) URL")
    if not isinstance(database, str) or not _DATABASE.match(database) or ".." in database:
        raise ServiceRequestError("acdc", f"ACDCDatabase {database!r} is not a database name")


def view_docs(body: Any, collection: str, fileset: str) -> list[dict[str, Any]]:
    """The documents of a view answer {"rows": [{"key", "doc"}, ...]} under the key."""
    if not isinstance(body, dict) or not isinstance(body.get("rows"), list):
        raise ServiceRequestError("acdc", f"{VIEW} answered without rows: {str(body)[:200]}")
    return [
        row["doc"]
        for row in body["rows"]
        if isinstance(row, dict)
        and row.get("key") == [collection, fileset]
        and isinstance(row.get("doc"), dict)
    ]


class ACDCClient:
    def __init__(self, build: Callable[[str], ServiceClient]) -> None:
        self._build = build
        self._clients: dict[str, ServiceClient] = {}

    def fileset_docs(
        self, server: str, database: str, collection: str, fileset: str
    ) -> list[dict[str, Any]]:
        check_location(server, database)
        client = self._clients.get(server)
        if client is None:
            client = self._clients[server] = self._build(server)
        body = client.post_json(
            f"/{database}/{VIEW}",
            {"keys": [[collection, fileset]]},
            params={"include_docs": "true", "reduce": "false"},
        )
        return view_docs(body, collection, fileset)
