"""The DAG tracker workflow: its input, one window's figures, its id."""

from __future__ import annotations

from pydantic import (
    BaseModel,
)


class TrackerInput(BaseModel):
    """The DAG tracker workflow's timing, from the settings of the worker that starts it,
    and which shard of the task queue's DAGs it tracks (wms2.tracking.shards.shard_of)."""

    task_queue: str
    window_sec: float = 600.0  # one track_dags call; then the workflow calls it again
    heartbeat_sec: float = 30.0
    shard: int = 0
    shards: int = 1


class TrackerWindow(BaseModel):
    cycles: int = 0
    dags: int = 0  # active DAGs at the window's end
    news_sent: int = 0
    send_failures: int = 0
    declined: bool = False  # this worker has its share: another worker should take it
    worker: str = ""  # the worker that tracked the window (its identity)


def tracker_workflow_id(task_queue: str, shard: int = 0, shards: int = 1) -> str:
    """One shard keeps the id of the single tracker that came before shards."""
    base = f"wms2-dag-tracker-{task_queue}"
    return base if shards <= 1 else f"{base}-{shard}of{shards}"


def tracker_workflow_ids(task_queue: str, shards: int) -> list[str]:
    return [tracker_workflow_id(task_queue, k, shards) for k in range(shards)]
