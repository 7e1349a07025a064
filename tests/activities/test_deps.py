"""The non-retryable errors are defined once (wms2.errors): activities raise them as
non-retryable ApplicationErrors, workflows list their names in every retry policy."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from temporalio.exceptions import ApplicationError

import wms2
from activities.deps import domain_errors
from wms2.errors import NON_RETRYABLE, NON_RETRYABLE_NAMES, type_names
from wms2.messages import NON_RETRYABLE_ERRORS
from wms2.reqmgr import RequestAlreadyRan
from wms2.services.errors import NotFoundError, ServiceUnavailable
from wms2.splitting import NoUsableSite


def all_wms2_modules() -> None:
    for mod in pkgutil.walk_packages(wms2.__path__, "wms2."):
        if ".migrations" not in mod.name:  # Alembic scripts run when imported
            importlib.import_module(mod.name)


def test_workflow_retry_policies_name_every_non_retryable_error() -> None:
    assert NON_RETRYABLE_ERRORS == NON_RETRYABLE_NAMES
    # Subclasses by their own name: an ApplicationError carries the raised type's name.
    assert {"NotFoundError", "RequestAlreadyRan", "NoUsableSite"} <= set(NON_RETRYABLE_NAMES)
    # Also those defined in modules that wms2.errors does not import itself.
    all_wms2_modules()
    assert set(type_names(NON_RETRYABLE)) == set(NON_RETRYABLE_NAMES)


@pytest.mark.parametrize(
    "error", [NotFoundError("dbs", "no such dataset"), RequestAlreadyRan("ran"), NoUsableSite("x")]
)
def test_bad_input_becomes_a_non_retryable_error_named_after_its_type(error: Exception) -> None:
    with pytest.raises(ApplicationError) as raised, domain_errors():
        raise error
    assert raised.value.non_retryable and raised.value.type == type(error).__name__
    assert raised.value.type in NON_RETRYABLE_ERRORS
    assert raised.value.message == str(error)


def test_other_errors_stay_retryable() -> None:
    with pytest.raises(ServiceUnavailable), domain_errors():
        raise ServiceUnavailable("rucio", "503")
    assert "ServiceUnavailable" not in NON_RETRYABLE_ERRORS
