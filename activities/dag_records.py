"""Recording what a look at a DAG found (the tracker's, a check's, a monitor's)."""

from __future__ import annotations

import uuid

from wms2.db import Repository
from wms2.messages import MonitorResult
from wms2.models import DAGStatus

FINAL_STATUS = {0: DAGStatus.COMPLETED, 2: DAGStatus.REMOVED}


def record_observation(
    repo: Repository,
    request_name: str,
    attempt: int,
    res: MonitorResult,
    dag_id: uuid.UUID | None = None,
) -> DAGStatus | None:
    """Counts, completed units and (at DAGMan's end) the final status of this attempt's
    DAG row (never a later attempt's; the tracker names the row), in one transaction.
    The DAG's status after recording, None without a row."""
    if dag_id is None:
        wf = repo.get_workflow_by_request(request_name)
        dag = repo.dag_attempt(wf.id, attempt)
        if dag is None:
            return None
        dag_id = dag.id
    p = res.progress
    final = None
    if res.finished:
        final = (FINAL_STATUS.get(res.exit_code, DAGStatus.FAILED), res.exit_code)  # type: ignore[arg-type]
    return repo.record_dag_observation(
        dag_id,
        {
            "nodes_done": p.nodes_done,
            "nodes_failed": p.nodes_failed,
            "nodes_running": p.nodes_running,
        },
        [w.name for w in res.new_work_units],
        final,
    )
