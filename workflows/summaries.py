"""Readable one-line summaries of activity calls, as the Web UI shows them in a
workflow's event history (`check DAG attempt 2 (cluster 4101)`, `register
/P/Proc/TIER mg_000004`), instead of the activity's name and the request's name again."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from wms2.messages import Activity

A = Activity

VERBS = {
    A.IMPORT_REQUEST: "import the request document",
    A.WORKER_SETTINGS: "read the worker's settings",
    A.UPDATE_REQUEST: "update the request record",
    A.CREATE_VERSION: "create the next processing version",
    A.SUBMIT_PILOT: "submit the pilot job",
    A.READ_PILOT_METRICS: "read the pilot's measurements",
    A.PLAN_DAG: "plan the DAG",
    A.PING_BACKEND: "ping the scheduler",
    A.STAGE_INPUT: "ask Rucio to stage the input from tape",
    A.POLL_STAGING: "poll the staging rule",
    A.REGISTER_OUTPUT: "register",
    A.PROTECT_OUTPUT: "protect the source of",
    A.REQUEST_TRANSFERS: "request transfers of",
    A.POLL_TRANSFERS: "poll transfers of",
    A.RELEASE_SOURCE: "release the source of",
    A.ANNOUNCE_OUTPUT: "announce",
    A.FAIL_OUTPUT: "record the failure of",
    A.INVALIDATE_OUTPUT: "invalidate",
    A.LOAD_OUTPUTS: "load the recorded outputs of",
}


def _cluster(arg: Any) -> str:
    dag = getattr(arg, "dag", None) or getattr(arg, "handle", None)
    cluster = getattr(dag, "cluster_id", "")
    return f"cluster {cluster}" if cluster else "its DAG file"


def request_activity(name: Activity, arg: Any) -> str:
    """The summary of a request workflow's activity call."""
    if name is A.RECORD_TRANSITION:
        return f"record the move to {arg.to_status.value}"
    if name is A.ENQUEUE:
        return f"join the admission queue at priority {arg.priority}"
    if name is A.SUBMIT_DAG:
        return f"submit DAG attempt {arg.attempt}"
    if name in (A.CHECK_DAG, A.MONITOR_DAG):
        known = len(arg.known())
        return f"check DAG attempt {arg.attempt} ({_cluster(arg)}; {known} units known)"
    if name is A.REMOVE_DAG:
        return f"remove {_cluster(arg)}: {arg.reason}"
    if name is A.AWAIT_DAG_EXIT:
        return f"wait for DAGMan of {_cluster(arg)} to exit"
    if name is A.AWAIT_PILOT:
        return f"wait for the pilot ({_cluster(arg)})"
    return VERBS.get(name, name.value)


def output_activity(name: Activity, dataset: str, what: str = "") -> str:
    """The summary of an output workflow's activity call: verb, dataset, work unit."""
    return " ".join(p for p in (VERBS.get(name, name.value), dataset, what) if p)
