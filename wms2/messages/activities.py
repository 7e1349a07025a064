"""Activity names: workflows call activities by name, tests fake them by name."""

from __future__ import annotations

from enum import StrEnum


class Activity(StrEnum):
    """Activity names: workflows call activities by name, tests fake them by name."""

    IMPORT_REQUEST = "import_request"
    RECORD_TRANSITION = "record_transition"
    WORKER_SETTINGS = "worker_settings"
    UPDATE_REQUEST = "update_request"
    CREATE_VERSION = "create_version_increment"
    ENQUEUE = "enqueue_for_admission"
    ENDED_REQUESTS = "find_ended_requests"
    SUBMIT_PILOT = "submit_pilot"
    AWAIT_PILOT = "await_pilot"
    READ_PILOT_METRICS = "read_pilot_metrics"
    PLAN_DAG = "plan_dag"
    SUBMIT_DAG = "submit_dag"
    MONITOR_DAG = "monitor_dag"  # before the tracker: kept for recorded histories
    CHECK_DAG = "check_dag"
    TRACK_DAGS = "track_dags"
    REMOVE_DAG = "remove_dag"
    AWAIT_DAG_EXIT = "await_dag_exit"
    QUERY_JOB = "query_job"
    PING_BACKEND = "ping_backend"
    # output pipeline: one activity per transition of a work unit's output
    REGISTER_OUTPUT = "register_output_in_dbs"
    PROTECT_OUTPUT = "protect_output_source"
    REQUEST_TRANSFERS = "request_output_transfers"
    POLL_TRANSFERS = "poll_output_transfers"
    RELEASE_SOURCE = "release_output_source"
    ANNOUNCE_OUTPUT = "announce_output"
    FAIL_OUTPUT = "record_output_failure"
    INVALIDATE_OUTPUT = "invalidate_output"
    LOAD_OUTPUTS = "load_outputs"
    INVALIDATE_REQUEST_OUTPUTS = "invalidate_request_outputs"
    RETRY_OUTPUTS = "retry_failed_outputs"
    # input on tape only: staged to disk by a Rucio rule before planning
    STAGE_INPUT = "stage_input"
    POLL_STAGING = "poll_staging"
    CHANGE_SITE = "change_site"
    SYNC_SITES = "sync_sites"
    REPRIORITIZE_DAG = "reprioritize_dag"
    UPLOAD_DQM = "upload_dqm_files"  # harvesting: DQM files to the DQM GUI after the DAG
    FAILURE_REPORT = "failure_report"
    SIZE_PENDING_UNITS = "size_pending_units"
