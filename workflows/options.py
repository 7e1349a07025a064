"""Activity call options (every call has explicit timeouts and a retry policy; errors of
bad input are non-retryable by type) and when a long-lived workflow continues as new."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from wms2.errors import NON_RETRYABLE_NAMES as NON_RETRYABLE_TYPES

# Short database/bookkeeping calls: retried until they work (the database may restart).
RECORD = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(minutes=1),
        non_retryable_error_types=NON_RETRYABLE_TYPES,
    ),
}

# Calls to services and the scheduler: bounded retries with backoff.
SERVICE = {
    "start_to_close_timeout": timedelta(minutes=5),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=2),
        maximum_attempts=10,
        non_retryable_error_types=NON_RETRYABLE_TYPES,
    ),
}

# One look at a DAG (seconds; reconciling a finished 100k-node DAG is the long case).
CHECK = {
    "start_to_close_timeout": timedelta(minutes=2),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=2),
        maximum_interval=timedelta(minutes=1),
        non_retryable_error_types=NON_RETRYABLE_TYPES,
    ),
}

PROBE = {
    "start_to_close_timeout": timedelta(seconds=60),
    "retry_policy": RetryPolicy(maximum_attempts=2, non_retryable_error_types=NON_RETRYABLE_TYPES),
}


def long_running(window_sec: float, heartbeat_sec: float) -> dict[str, Any]:
    """Monitoring calls: they return within `window_sec`; a worker that dies is noticed
    after `heartbeat_sec` without a heartbeat and the call is retried on another worker."""
    return {
        "start_to_close_timeout": timedelta(seconds=window_sec + 120),
        "heartbeat_timeout": timedelta(seconds=heartbeat_sec),
        # A cancelled monitor (stop, abort) has stopped before the workflow moves on: no
        # monitor outlives the status it watched.
        "cancellation_type": ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        "retry_policy": RetryPolicy(
            initial_interval=timedelta(seconds=1),
            maximum_interval=timedelta(seconds=30),
            non_retryable_error_types=NON_RETRYABLE_TYPES,
        ),
    }


# Output pipeline steps: DBS and Rucio outages are waited out (the output must not be
# lost), with backoff up to 10 minutes; only a refusal (non-retryable) fails the output.
# A step is a few HTTP calls (30 s timeout, 3 retries by default): 150 s bounds one
# attempt; steps heartbeat, so one whose worker died is retried after 20 s.
OUTPUT_STEP = {
    "start_to_close_timeout": timedelta(seconds=150),
    "heartbeat_timeout": timedelta(seconds=20),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=5),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=10),
        non_retryable_error_types=NON_RETRYABLE_TYPES,
    ),
}

# DQM GUI uploads after a harvesting DAG: files are sent one by one, heartbeating, so a
# worker that died is noticed in 30 s and the retry sends only what the ledger lacks. A
# GUI outage is waited out for about an hour; a refusal (non-retryable) at once.
DQM_UPLOAD = {
    "start_to_close_timeout": timedelta(minutes=30),
    "heartbeat_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=10),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=10),
        maximum_attempts=10,
        non_retryable_error_types=NON_RETRYABLE_TYPES,
    ),
}


def continue_as_new_due(after_events: int | None) -> bool:
    """When the server suggests it, or (tests) once the history reaches `after_events`."""
    info = workflow.info()
    if after_events is not None and info.get_current_history_length() >= after_events:
        return True
    return info.is_continue_as_new_suggested()
