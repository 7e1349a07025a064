"""The errors that mean bad input, defined once, as types.

Retrying cannot help them: an activity raises them as non-retryable ApplicationErrors named
after the raised type (activities/deps.py), the workflows' retry policies list those names
(NON_RETRYABLE_NAMES, in workflows/options.py), and the CLI reports them as one line. No Temporal
import here: wms2 is the domain library."""

from __future__ import annotations

from collections.abc import Iterable

from wms2.dagfiles.layout import DagDirectoryInUse, ManifestError, PathEscapeError
from wms2.dagman.dagfile import DagSyntaxError
from wms2.planning.inputs import InputOnTape
from wms2.planning.pilot import PilotReportError
from wms2.planning.splitting import SplittingError
from wms2.records import RecordNotFound
from wms2.recovery.work import RecoveryError
from wms2.reqmgr.errors import RequestImportError
from wms2.services.errors import ServiceRequestError
from wms2.sites.cric import CricAnswerError
from wms2.sites.messages import SiteChangeRefused

# Subclasses are covered too (RequestAlreadyRan, NoUsableSite, NotFoundError, ...).
NON_RETRYABLE: tuple[type[Exception], ...] = (
    RequestImportError,
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
    SiteChangeRefused,
)
# Subclasses count by their own name (type_names); those defined in modules nothing above
# imports are listed here so that their names are in the list.
SUBCLASSES_ELSEWHERE: tuple[type[Exception], ...] = (RecoveryError,)


def type_names(types: Iterable[type[BaseException]]) -> list[str]:
    """The names of `types` and of all their subclasses, each once, in a stable order: an
    ApplicationError carries the name of the type actually raised (NotFoundError for a
    ServiceRequestError), so a retry policy must list every subclass by name."""
    names: list[str] = []
    pending = list(types)
    while pending:
        t = pending.pop(0)
        if t.__name__ not in names:
            names.append(t.__name__)
        pending.extend(t.__subclasses__())
    return names


NON_RETRYABLE_NAMES: list[str] = type_names(NON_RETRYABLE)
