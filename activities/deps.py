"""What activities need, built once by the worker from Settings and injected."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from wms2.condor import Backend, DagSyntaxError
from wms2.config import Settings
from wms2.dagfiles import PathEscapeError
from wms2.dagfiles.layout import DagDirectoryInUse, ManifestError
from wms2.db import Repository
from wms2.db.repository import RecordNotFound
from wms2.pilot import PilotReportError
from wms2.planning_input import InputOnTape
from wms2.reqmgr import RequestAlreadyRan, RequestImportError, RerunRefused
from wms2.services import ServiceRequestError, Services
from wms2.sites.cric import CricAnswerError
from wms2.splitting import SplittingError


@dataclass
class ActivityDeps:
    settings: Settings
    repo: Repository
    services: Services
    backend: Backend
    client: Client | None = None  # for activities that talk to other workflows


# Bad input: retrying cannot help, so the request fails with the message at once.
NON_RETRYABLE: tuple[type[Exception], ...] = (
    RequestImportError,
    RequestAlreadyRan,
    RerunRefused,
    SplittingError,
    InputOnTape,
    PathEscapeError,
    ServiceRequestError,
    DagSyntaxError,
    PilotReportError,
    RecordNotFound,
    ManifestError,
    DagDirectoryInUse,
    CricAnswerError,
)


@contextmanager
def domain_errors() -> Iterator[None]:
    try:
        yield
    except NON_RETRYABLE as e:
        raise ApplicationError(str(e), type=type(e).__name__, non_retryable=True) from e
