"""The fault suite runs on the real stack: the dev server, worker processes, the local
backend's runners (the integration suite's fixtures). Its dev server is its own: the
integration suite checks namespace-wide gauges (requests by status) that these requests
would change."""

from tests.conftest import dev_server
from tests.integration.conftest import site

__all__ = ["dev_server", "site"]
