"""Service errors, split by what a caller should do about them."""

from __future__ import annotations


class ServiceError(Exception):
    """A CMS service call failed."""

    def __init__(self, service: str, message: str, status_code: int | None = None) -> None:
        self.service = service
        self.status_code = status_code
        super().__init__(f"{service}: {message}")


class ServiceRequestError(ServiceError):
    """The service refused the request (4xx, unknown name, malformed answer): retrying the
    same call cannot help, so workflows treat it as non-retryable."""


class NotFoundError(ServiceRequestError):
    """The named request, dataset or rule does not exist."""


class ServiceUnavailable(ServiceError):
    """Transport errors or 5xx that outlasted the client's bounded retries: worth retrying
    later (Temporal's activity retry policy does that)."""
