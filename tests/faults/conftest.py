"""The fault suite runs on the real stack: the dev server, worker processes, the local
backend's runners (the integration suite's fixtures)."""

from tests.integration.conftest import site

__all__ = ["site"]
