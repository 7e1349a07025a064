"""What activities need, built once by the worker from Settings and injected."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from wms2.condor import Backend
from wms2.condor.limits import ScheddLimitsCache, backend_reader
from wms2.condor.several import SeveralSchedds
from wms2.config import Settings
from wms2.db import Repository
from wms2.errors import NON_RETRYABLE
from wms2.services import Services


@dataclass
class ActivityDeps:
    settings: Settings
    repo: Repository
    services: Services
    backend: Backend
    client: Client | None = None  # for activities that talk to other workflows
    limits_cache: ScheddLimitsCache | None = None  # made at first use (schedd_limits)

    def schedd_limits(self) -> ScheddLimitsCache:
        """The worker's one cache of schedd limits: admission's budget and the DAG
        placement read the same, each schedd's configuration once per TTL."""
        if self.limits_cache is None:
            several = isinstance(self.backend, SeveralSchedds)
            self.limits_cache = ScheddLimitsCache(
                backend_reader(self.backend, several),
                self.settings.schedd_limits,
                self.settings.schedd_limits_ttl_sec,
            )
        return self.limits_cache

    def schedd_names(self) -> list[str]:
        """The schedds DAGs may go to ("*" for the one unnamed schedd)."""
        if isinstance(self.backend, SeveralSchedds):
            return self.backend.schedds
        return [self.settings.schedd_name or "*"]


@contextmanager
def domain_errors() -> Iterator[None]:
    """Bad input (wms2.errors) becomes a non-retryable ApplicationError named after its
    type: retrying cannot help, so the request fails with the message at once."""
    try:
        yield
    except NON_RETRYABLE as e:
        raise ApplicationError(str(e), type=type(e).__name__, non_retryable=True) from e
