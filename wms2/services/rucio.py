"""Rucio client: replica lookup and replication rules, scope `cms`.

RSE names are reported as CMS site names: `_Disk`, `_Tape`, `_Test` and `_Temp` suffixes
are dropped, and tape RSEs are skipped, so a file that exists only on tape has no location.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from wms2.services.errors import ServiceRequestError
from wms2.services.protocols import Rule, RuleState

if TYPE_CHECKING:  # an annotation only: the offline catalog maps RSEs without httpx
    from wms2.services.http import ServiceClient

SCOPE = "cms"
REPLICA_BATCH = 1000
_SUFFIXES = ("_Disk", "_Tape", "_Test", "_Temp")


@functools.lru_cache(maxsize=8192)
def rse_to_site(rse: str) -> str | None:
    """CMS site name of an RSE, or None for a tape RSE."""
    if rse.endswith("_Tape") or rse.endswith("_MSS"):
        return None
    for suffix in _SUFFIXES:
        if rse.endswith(suffix):
            return rse[: -len(suffix)]
    return rse


def sites_of(rses: Any) -> list[str]:
    return list(_sites_of(tuple(rses)))


@functools.lru_cache(maxsize=8192)
def _sites_of(rses: tuple[str, ...]) -> tuple[str, ...]:
    # Files share a few replica sets: each set is mapped once, not once per file.
    return tuple(sorted({s for rse in rses if (s := rse_to_site(rse)) is not None}))


class RucioClient:
    def __init__(self, http: ServiceClient, account: str) -> None:
        self.http = http
        self.account = account
        self._token: str | None = None

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            response = self.http.request(
                "GET", "/auth/x509", headers={"X-Rucio-Account": self.account}
            )
            token = response.headers.get("X-Rucio-Auth-Token")
            if not token:
                raise ServiceRequestError("rucio", "authentication returned no token")
            self._token = token
        return {"X-Rucio-Auth-Token": self._token, "X-Rucio-Account": self.account}

    def _replica_rows(self, lfns: list[str]) -> Iterator[dict[str, Any]]:
        """POST /replicas/list in batches: one row per file with its RSEs."""
        for i in range(0, len(lfns), REPLICA_BATCH):
            batch = lfns[i : i + REPLICA_BATCH]
            response = self.http.request(
                "POST",
                "/replicas/list",
                headers={**self._headers(), "Accept": "application/x-json-stream"},
                json={"dids": [{"scope": SCOPE, "name": n} for n in batch], "all_states": False},
            )
            yield from _json_rows(response.text)

    def replicas(self, lfns: list[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {lfn: [] for lfn in lfns}
        for row in self._replica_rows(lfns):
            found[row["name"]] = sites_of((row.get("rses") or {}).keys())
        return found

    def on_tape(self, lfns: list[str]) -> set[str]:
        return {
            row["name"]
            for row in self._replica_rows(lfns)
            if any(rse_to_site(rse) is None for rse in (row.get("rses") or {}))
        }

    def create_rule(
        self,
        dids: list[str],
        rse_expression: str,
        copies: int = 1,
        grouping: str = "DATASET",
        lifetime: int | None = None,
        comment: str = "",
    ) -> str:
        payload = {
            "dids": [{"scope": SCOPE, "name": d} for d in dids],
            "copies": copies,
            "rse_expression": rse_expression,
            "grouping": grouping,
            "lifetime": lifetime,
            "account": self.account,
            "comment": comment,
        }
        try:
            ids = self.http.post_json("/rules/", payload, headers=self._headers())
        except ServiceRequestError as e:
            # A retried creation: Rucio refuses a second identical rule; reuse the first.
            existing = self._existing_rule(dids, rse_expression) if e.status_code == 409 else None
            if existing is None:
                raise
            return existing
        if not isinstance(ids, list) or not ids:
            raise ServiceRequestError("rucio", f"rule creation returned {ids!r}")
        return str(ids[0])

    def _existing_rule(self, dids: list[str], rse_expression: str) -> str | None:
        response = self.http.request(
            "GET", f"/dids/{SCOPE}/{quote_plus(dids[0])}/rules", headers=self._headers()
        )
        for row in _json_rows(response.text):
            if row.get("rse_expression") == rse_expression and row.get("account") == self.account:
                return str(row["id"])
        return None

    def destinations(self, dataset: str) -> list[str]:
        """RSE expressions of the active subscriptions whose DID pattern matches `dataset`."""
        response = self.http.request(
            "GET", f"/subscriptions/{self.account}", headers=self._headers()
        )
        found: list[str] = []
        for sub in _json_rows(response.text):
            if sub.get("state", "ACTIVE") != "ACTIVE":
                continue
            flt = _maybe_json(sub.get("filter")) or {}
            pattern = flt.get("pattern")
            if pattern and not re.search(pattern, dataset):
                continue
            for rule in _maybe_json(sub.get("replication_rules")) or []:
                expr = rule.get("rse_expression")
                if expr and expr not in found:
                    found.append(expr)
        return found

    def get_rule(self, rule_id: str) -> Rule:
        r = self.http.get_json(f"/rules/{rule_id}", headers=self._headers())
        try:
            state = RuleState(r["state"])
        except (ValueError, KeyError):
            raise ServiceRequestError(
                "rucio", f"rule {rule_id} has state {r.get('state')!r}, which WMS2 does not know"
            ) from None
        return Rule(
            id=r["id"],
            rse_expression=r["rse_expression"],
            state=state,
            dids=(r.get("name", ""),),
            locks_ok=int(r.get("locks_ok_cnt", 0)),
            locks_replicating=int(r.get("locks_replicating_cnt", 0)),
            locks_stuck=int(r.get("locks_stuck_cnt", 0)),
        )

    def delete_rule(self, rule_id: str) -> None:
        self.http.request(
            "DELETE", f"/rules/{rule_id}", headers=self._headers(), json={"purge_replicas": False}
        )


def _maybe_json(value: Any) -> Any:
    """Rucio returns subscription filters and rules as JSON text inside the JSON row."""
    return json.loads(value) if isinstance(value, str) else value


def _json_rows(text: str) -> list[dict[str, Any]]:
    """Rucio streams one JSON object per line (application/x-json-stream); some proxies
    turn it into a JSON list. Anything else is a clear, non-retryable error."""
    text = text.strip()
    if not text:
        return []
    try:
        rows = (
            json.loads(text)
            if text.startswith("[")
            else [json.loads(line) for line in text.splitlines() if line.strip()]
        )
    except ValueError as e:
        raise ServiceRequestError(
            "rucio", f"answer is not one JSON object per line: {text[:80]!r} ({e})"
        ) from None
    if not all(isinstance(r, dict) for r in rows):
        raise ServiceRequestError("rucio", f"answer rows are not JSON objects: {text[:80]!r}")
    return rows
