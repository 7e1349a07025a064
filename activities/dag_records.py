"""Recording what a look at a DAG found (the tracker's, a check's, a monitor's)."""

from __future__ import annotations

from wms2.db import Repository
from wms2.messages import MonitorResult
from wms2.models import DAGStatus, utcnow

FINAL_STATUS = {0: DAGStatus.COMPLETED, 2: DAGStatus.REMOVED}


def record_observation(
    repo: Repository, request_name: str, attempt: int, res: MonitorResult
) -> DAGStatus | None:
    """Counts, completed units and (at DAGMan's end) the final status of this attempt's
    DAG row (never a later attempt's). The DAG's status after recording, None without a
    row."""
    wf = repo.get_workflow_by_request(request_name)
    dag = repo.dag_attempt(wf.id, attempt)
    if dag is None:
        return None
    p = res.progress
    new = [w.name for w in res.new_work_units]
    repo.update_dag(
        dag.id,
        nodes_done=p.nodes_done,
        nodes_failed=p.nodes_failed,
        nodes_running=p.nodes_running,
        completed_work_units=sorted(set(dag.completed_work_units) | set(new)),
    )
    status, extra = DAGStatus.RUNNING, {}
    if res.finished:
        status = FINAL_STATUS.get(res.exit_code, DAGStatus.FAILED)  # type: ignore[arg-type]
        extra = {"completed_at": utcnow(), "exit_code": res.exit_code}
    # A clean stop's STOPPED belongs to await_dag_exit, which may race with us.
    if not repo.set_dag_status(dag.id, status, unless=[DAGStatus.STOPPED], **extra):
        status = DAGStatus.STOPPED
    repo.update_workflow(
        wf.id, nodes_done=p.nodes_done, nodes_failed=p.nodes_failed, nodes_running=p.nodes_running
    )
    if new or res.finished:
        repo.append_dag_history(
            dag.id,
            "finished" if res.finished else "progress",
            to_status=status.value,
            nodes_done=p.nodes_done,
            nodes_failed=p.nodes_failed,
            nodes_running=p.nodes_running,
            detail={"new_work_units": new, "exit_code": res.exit_code},
        )
    return status
