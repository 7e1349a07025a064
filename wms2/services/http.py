"""One HTTPS client setup for every cmsweb/Rucio call: X.509 client certificate, the grid
CA directory, a timeout, and bounded retries with backoff on transport errors and 5xx.
A 4xx is never retried: it becomes a ServiceRequestError naming the call."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from wms2.services.errors import NotFoundError, ServiceRequestError, ServiceUnavailable


def ssl_context(cert: Path | None, key: Path | None, ca_dir: Path | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if ca_dir is not None and Path(ca_dir).is_dir():
        ctx.load_verify_locations(capath=str(ca_dir))
    if cert is not None:
        ctx.load_cert_chain(certfile=str(cert), keyfile=str(key) if key else None)
    return ctx


class ServiceClient:
    def __init__(
        self,
        service: str,
        client: httpx.Client,
        retries: int = 3,
        backoff_sec: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.service = service
        self.client = client
        self.retries = retries
        self.backoff_sec = backoff_sec
        self._sleep = sleep

    @classmethod
    def build(
        cls,
        service: str,
        base_url: str,
        *,
        cert: Path | None = None,
        key: Path | None = None,
        ca_dir: Path | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> ServiceClient:
        verify: ssl.SSLContext | bool = (
            True if transport is not None else ssl_context(cert, key, ca_dir)
        )
        client = httpx.Client(
            base_url=base_url.rstrip("/"),
            verify=verify,
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "wms2"},
        )
        return cls(service, client, retries=retries, sleep=sleep)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        what = f"{method} {path}"
        for attempt in range(self.retries + 1):
            try:
                response = self.client.request(method, path, **kwargs)
            except httpx.TransportError as e:
                problem = f"{what}: {type(e).__name__}: {e}"
            else:
                if response.status_code < 400:
                    return response
                body = response.text[:300].strip()
                if response.status_code < 500:
                    cls = NotFoundError if response.status_code == 404 else ServiceRequestError
                    raise cls(
                        self.service,
                        f"{what} was refused with HTTP {response.status_code}: {body}",
                        response.status_code,
                    )
                problem = f"{what} answered HTTP {response.status_code}: {body}"
            if attempt < self.retries:
                self._sleep(self.backoff_sec * 2**attempt)
        raise ServiceUnavailable(
            self.service, f"{problem} (gave up after {self.retries + 1} attempts)"
        )

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self._json(self.request("GET", path, **kwargs), f"GET {path}")

    def post_json(self, path: str, payload: Any, **kwargs: Any) -> Any:
        return self._json(self.request("POST", path, json=payload, **kwargs), f"POST {path}")

    def _json(self, response: httpx.Response, what: str) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as e:
            raise ServiceRequestError(self.service, f"{what} did not return JSON: {e}") from e

    def close(self) -> None:
        self.client.close()
