"""What an activity failure says, for workflow code: the activity's own error, its
message and its type (ActivityError wraps them; operators need the innermost)."""

from __future__ import annotations

from temporalio.exceptions import ActivityError, ApplicationError


def innermost(err: BaseException) -> BaseException:
    """What an activity failure wraps: the activity's own error."""
    while isinstance(err, ActivityError) and err.cause is not None:
        err = err.cause
    return err


def reason(err: BaseException) -> str:
    """The innermost message of an activity failure (what the operator needs to read)."""
    err = innermost(err)
    return str(err.message if isinstance(err, ApplicationError) else err) or type(err).__name__


def error_type(err: BaseException) -> str | None:
    """The type of the innermost application error of an activity failure."""
    err = innermost(err)
    return err.type if isinstance(err, ApplicationError) else None
