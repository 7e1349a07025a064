from __future__ import annotations

from activities.deps import NON_RETRYABLE
from wms2.messages import NON_RETRYABLE_ERRORS
from wms2.services.errors import NotFoundError


def test_workflow_retry_policies_name_every_non_retryable_error() -> None:
    # Workflows list these names in their retry policies; activities raise these types.
    assert {t.__name__ for t in NON_RETRYABLE} | {NotFoundError.__name__} == set(
        NON_RETRYABLE_ERRORS
    )
