"""The one place that reads and writes WMS2 records.

Every write that an activity may retry is an upsert keyed by a natural key
(request_name; workflow per request; DAG per workflow + attempt; output per workflow +
dataset + work unit; site name), done with the database's own INSERT .. ON CONFLICT so
that two concurrent callers cannot create two rows. Histories are append-only inserts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from wms2.db.rows import aware, column_values, one, row_dict, upsert
from wms2.db.site_records import SiteRecords
from wms2.db.tables import (
    Base,
    DAGHistoryRow,
    DAGRow,
    OutputDatasetRow,
    RequestRow,
    TransitionRow,
    WorkflowRow,
)
from wms2.models import (
    ACTIVE_DAG_STATUSES,
    DAG,
    DAGStatus,
    OutputDataset,
    Request,
    RequestStatus,
    StatusTransition,
    Workflow,
    utcnow,
)
from wms2.records import RecordNotFound

M = TypeVar("M", bound=BaseModel)


_LATER = ("pilot_", "dag_id", "total_nodes", "nodes_", "status")

# A DAG row in one of these has its end recorded: a later look changes only its units.
_ENDED = frozenset(
    s.value for s in (DAGStatus.COMPLETED, DAGStatus.FAILED, DAGStatus.REMOVED, DAGStatus.STOPPED)
)


class RequestRun(NamedTuple):
    """Which run of a request name its record belongs to (0: imported by no run yet)."""

    number: int
    run_id: str | None
    status: str


class TrackedDag(NamedTuple):
    """A DAG the tracker watches: submitted and not yet known to have ended."""

    dag_id: uuid.UUID
    request_name: str
    attempt: int
    dag_file: str
    cluster_id: str
    schedd: str | None


class Repository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as s:
            yield s

    # ── generic helpers ────────────────────────────────────────────────────

    def _update(self, row_cls: type[Base], where: Any, what: str, **fields: Any) -> None:
        if "updated_at" in row_cls.__table__.columns:
            fields.setdefault("updated_at", utcnow())
        with self.session() as s:
            result = s.execute(update(row_cls).where(where).values(**fields))
            if result.rowcount == 0:
                raise RecordNotFound(what)

    # ── requests ───────────────────────────────────────────────────────────

    def upsert_request(self, request: Request) -> Request:
        values = column_values(request, RequestRow)
        values["request_data"] = request.model_dump(
            mode="json", exclude={"status_transitions", "status", "created_at", "updated_at"}
        )
        values.pop("updated_at", None)
        with self.session() as s:
            # The status belongs to the state machine: a retried import must not reset it.
            upsert(s, RequestRow, values, ["request_name"], insert_only=["status"])
        return self.get_request(request.request_name)

    def request_run(self, request_name: str) -> RequestRun | None:
        with self.session() as s:
            row = s.scalars(select(RequestRow).where(RequestRow.request_name == request_name))
            found = row.first()
            return (
                None if found is None else RequestRun(found.run_number, found.run_id, found.status)
            )

    def start_run(self, request_name: str, run_id: str) -> int:
        """Count the workflow run `run_id` as the record's newest run and return its number;
        the same run id (a retried import) gets the same number."""
        with self.session() as s:
            row = one(
                s,
                select(RequestRow).where(RequestRow.request_name == request_name).with_for_update(),
                f"request {request_name!r}",
            )
            if row.run_id != run_id:
                row.run_number, row.run_id = row.run_number + 1, run_id
            return row.run_number

    def get_request(self, request_name: str) -> Request:
        with self.session() as s:
            row = one(
                s,
                select(RequestRow).where(RequestRow.request_name == request_name),
                f"request {request_name!r}",
            )
            transitions = s.scalars(
                select(TransitionRow)
                .where(TransitionRow.request_name == request_name)
                .order_by(TransitionRow.id)
            ).all()
            return self._request_model(row, transitions)

    @staticmethod
    def _request_model(row: RequestRow, transitions: Sequence[TransitionRow] = ()) -> Request:
        # Columns that change after import override the imported document.
        data = dict(row.request_data)
        data.update(
            status=row.status,
            priority=row.priority,
            urgent=row.urgent,
            production_steps=row.production_steps,
            superseded_by_request=row.superseded_by_request,
            previous_version_request=row.previous_version_request,
            cleanup_policy=row.cleanup_policy,
            created_at=aware(row.created_at),
            updated_at=aware(row.updated_at),
            status_transitions=[
                StatusTransition(
                    from_status=t.from_status,
                    to_status=t.to_status,
                    timestamp=aware(t.created_at),
                    reason=t.reason,
                )
                for t in transitions
            ],
        )
        return Request.model_validate(data)

    def list_requests(
        self,
        status: RequestStatus | None = None,
        campaign: str | None = None,
        limit: int = 1000,
    ) -> list[Request]:
        stmt = select(RequestRow).order_by(RequestRow.created_at, RequestRow.request_name)
        if status is not None:
            stmt = stmt.where(RequestRow.status == status.value)
        if campaign is not None:
            stmt = stmt.where(RequestRow.campaign == campaign)
        with self.session() as s:
            return [self._request_model(r) for r in s.scalars(stmt.limit(limit))]

    def recoveries_of(self, original: str) -> list[tuple[str, str]]:
        """(name, status) of every request recovering `original`'s failed work."""
        recovered = RequestRow.request_data["recovery"]["original_request"].as_string()
        stmt = (
            select(RequestRow.request_name, RequestRow.status)
            .where(recovered == original)
            .order_by(RequestRow.created_at, RequestRow.request_name)
        )
        with self.session() as s:
            return [(str(name), str(status)) for name, status in s.execute(stmt)]

    def update_request(self, request_name: str, **fields: Any) -> None:
        """Update mutable columns (priority, production_steps, superseded_by_request, ...)."""
        fields = {
            k: [p.model_dump() if isinstance(p, BaseModel) else p for p in v]
            if k == "production_steps"
            else (v.value if isinstance(v, Enum) else v)
            for k, v in fields.items()
        }
        self._update(
            RequestRow,
            RequestRow.request_name == request_name,
            f"request {request_name!r}",
            **fields,
        )

    def record_transition(
        self, request_name: str, to_status: RequestStatus, reason: str = ""
    ) -> StatusTransition:
        """Append a transition and set the request's status, atomically. The from-status is
        read under a row lock (PostgreSQL) / the database write lock (SQLite, whose
        transactions begin IMMEDIATE), so concurrent transitions form a consistent chain."""
        with self.session() as s:
            row = one(
                s,
                select(RequestRow).where(RequestRow.request_name == request_name).with_for_update(),
                f"request {request_name!r}",
            )
            now = utcnow()
            from_status = row.status
            s.add(
                TransitionRow(
                    request_name=request_name,
                    from_status=from_status,
                    to_status=to_status.value,
                    reason=reason,
                    created_at=now,
                )
            )
            row.status = to_status.value
            row.updated_at = now
        return StatusTransition(
            from_status=from_status, to_status=to_status, timestamp=now, reason=reason
        )

    def transitions(self, request_name: str) -> list[StatusTransition]:
        return self.get_request(request_name).status_transitions

    def queued_requests(self, limit: int = 1000) -> list[Request]:
        """QUEUED requests in admission order: priority descending, then oldest first."""
        stmt = (
            select(RequestRow)
            .where(RequestRow.status == RequestStatus.QUEUED.value)
            .order_by(RequestRow.priority.desc(), RequestRow.created_at, RequestRow.id)
            .limit(limit)
        )
        with self.session() as s:
            return [self._request_model(r) for r in s.scalars(stmt)]

    # ── workflows ──────────────────────────────────────────────────────────

    def upsert_workflow(self, workflow: Workflow) -> Workflow:
        with self.session() as s:
            # What later steps wrote (pilot, DAG, node counts) survives a re-import: a
            # rerun resumes that DAG.
            later = [c.key for c in WorkflowRow.__table__.columns if c.key.startswith(_LATER)]
            values = column_values(workflow, WorkflowRow)
            upsert(s, WorkflowRow, values, ["request_name"], insert_only=later)
        return self.get_workflow_by_request(workflow.request_name)

    def get_workflow_by_request(self, request_name: str) -> Workflow:
        with self.session() as s:
            row = one(
                s,
                select(WorkflowRow).where(WorkflowRow.request_name == request_name),
                f"workflow of request {request_name!r}",
            )
            return Workflow.model_validate(row_dict(row))

    def update_workflow(self, workflow_id: uuid.UUID, **fields: Any) -> None:
        self._update(
            WorkflowRow, WorkflowRow.id == workflow_id, f"workflow {workflow_id}", **fields
        )

    # ── DAGs ───────────────────────────────────────────────────────────────

    def upsert_dag(self, dag: DAG) -> DAG:
        with self.session() as s:
            upsert(s, DAGRow, column_values(dag, DAGRow), ["workflow_id", "attempt"])
            row = one(
                s,
                select(DAGRow).where(
                    DAGRow.workflow_id == dag.workflow_id, DAGRow.attempt == dag.attempt
                ),
                f"dag {dag.workflow_id}/{dag.attempt}",
            )
            return DAG.model_validate(row_dict(row))

    def get_dag(self, dag_id: uuid.UUID) -> DAG:
        with self.session() as s:
            row = one(s, select(DAGRow).where(DAGRow.id == dag_id), f"dag {dag_id}")
            return DAG.model_validate(row_dict(row))

    def dag_attempt(self, workflow_id: uuid.UUID, attempt: int) -> DAG | None:
        with self.session() as s:
            row = s.scalars(
                select(DAGRow).where(DAGRow.workflow_id == workflow_id, DAGRow.attempt == attempt)
            ).first()
            return None if row is None else DAG.model_validate(row_dict(row))

    def latest_dag(self, workflow_id: uuid.UUID) -> DAG | None:
        with self.session() as s:
            row = s.scalars(
                select(DAGRow)
                .where(DAGRow.workflow_id == workflow_id)
                .order_by(DAGRow.attempt.desc())
            ).first()
            return None if row is None else DAG.model_validate(row_dict(row))

    def recorded_work_units(self, workflow_id: uuid.UUID, before_attempt: int) -> set[str]:
        """Work units any DAG attempt below `before_attempt` recorded as done."""
        with self.session() as s:
            rows = s.scalars(
                select(DAGRow.completed_work_units).where(
                    DAGRow.workflow_id == workflow_id, DAGRow.attempt < before_attempt
                )
            )
            return {unit for units in rows for unit in units or []}

    def update_dag(self, dag_id: uuid.UUID, **fields: Any) -> None:
        fields = {k: v.value if isinstance(v, Enum) else v for k, v in fields.items()}
        self._update(DAGRow, DAGRow.id == dag_id, f"dag {dag_id}", **fields)

    def set_dag_status(
        self, dag_id: uuid.UUID, status: DAGStatus, unless: Sequence[DAGStatus] = (), **fields: Any
    ) -> bool:
        """Set a DAG's status atomically unless it is already in one of `unless` (a clean
        stop's STOPPED must not be overwritten by a monitor that saw DAGMan exit)."""
        fields = {k: v.value if isinstance(v, Enum) else v for k, v in fields.items()}
        with self.session() as s:
            result = s.execute(
                update(DAGRow)
                .where(DAGRow.id == dag_id, DAGRow.status.not_in([u.value for u in unless]))
                .values(status=status.value, **fields)
            )
            return result.rowcount > 0

    def count_active_dags(self) -> int:
        statuses = [s.value for s in ACTIVE_DAG_STATUSES]
        with self.session() as s:
            return s.scalar(select(func.count()).where(DAGRow.status.in_(statuses))) or 0

    def tracked_dags(self, schedd: str | None = None) -> list[TrackedDag]:
        """Submitted DAGs not yet known to have ended (one light row each), optionally of
        one schedd. Only each request's current DAG row (an earlier attempt's is over), and
        not one being removed: a stop or an abort owns the DAG's end (await_dag_exit)."""
        statuses = [DAGStatus.SUBMITTED.value, DAGStatus.RUNNING.value]
        stmt = (
            select(
                DAGRow.id,
                WorkflowRow.request_name,
                DAGRow.attempt,
                DAGRow.dag_file_path,
                DAGRow.dagman_cluster_id,
                DAGRow.schedd_name,
            )
            .join(WorkflowRow, WorkflowRow.dag_id == DAGRow.id)
            .where(
                DAGRow.status.in_(statuses),
                DAGRow.dagman_cluster_id.is_not(None),
                DAGRow.stop_requested_at.is_(None),
            )
        )
        if schedd is not None:
            stmt = stmt.where(DAGRow.schedd_name == schedd)
        with self.session() as s:
            return [TrackedDag(*row) for row in s.execute(stmt)]

    def pilot_schedds(self) -> list[tuple[str, str]]:
        """(request, its pilot's schedd) of each request between its pilot and its DAG
        (PILOT_RUNNING, PLANNING): the schedd its DAG is expected on, so placement counts
        it before the DAG is submitted."""
        between = [RequestStatus.PILOT_RUNNING.value, RequestStatus.PLANNING.value]
        stmt = (
            select(WorkflowRow.request_name, WorkflowRow.pilot_schedd)
            .join(RequestRow, RequestRow.request_name == WorkflowRow.request_name)
            .where(RequestRow.status.in_(between), WorkflowRow.pilot_schedd.is_not(None))
        )
        with self.session() as s:
            return [(name, schedd) for name, schedd in s.execute(stmt)]

    def dag_work_units(self, dag_id: uuid.UUID) -> list[str]:
        """The work units recorded as completed on a DAG row."""
        with self.session() as s:
            return list(
                s.scalar(select(DAGRow.completed_work_units).where(DAGRow.id == dag_id)) or []
            )

    def append_dag_history(
        self,
        dag_id: uuid.UUID,
        event_type: str,
        from_status: str | None = None,
        to_status: str | None = None,
        nodes_done: int | None = None,
        nodes_failed: int | None = None,
        nodes_running: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        with self.session() as s:
            s.add(
                DAGHistoryRow(
                    dag_id=dag_id,
                    event_type=event_type,
                    from_status=from_status,
                    to_status=to_status,
                    nodes_done=nodes_done,
                    nodes_failed=nodes_failed,
                    nodes_running=nodes_running,
                    detail=detail,
                    created_at=utcnow(),
                )
            )

    def record_dag_observation(
        self,
        dag_id: uuid.UUID,
        counts: dict[str, int],
        new_units: Sequence[str],
        final: tuple[DAGStatus, int | None] | None = None,
    ) -> DAGStatus | None:
        """What a look at a DAG found, in one transaction. Idempotent and never
        backwards, whoever looked (the tracker, a request's own check, a retry of either
        after the database came back): units are added to those recorded, and a history
        row names only units not recorded before; node counts (on the DAG and its
        workflow) replace the recorded ones unless they are older (fewer nodes done) or
        the DAG's end is recorded; the end (final status, exit code, one `finished` row)
        is recorded once, and never over a clean stop (await_dag_exit's). The DAG's
        status after recording; None without such a row."""
        with self.session() as s:
            row = s.execute(
                select(DAGRow).where(DAGRow.id == dag_id).with_for_update()
            ).scalar_one_or_none()
            if row is None:
                return None
            recorded = set(row.completed_work_units or [])
            added = sorted(set(new_units) - recorded)
            if added:
                row.completed_work_units = sorted(recorded | set(added))
            ended = row.status in _ENDED
            if not ended and counts.get("nodes_done", 0) >= (row.nodes_done or 0):
                for name, value in counts.items():
                    setattr(row, name, value)
                s.execute(
                    update(WorkflowRow).where(WorkflowRow.id == row.workflow_id).values(**counts)
                )
            if ended:
                status = DAGStatus(row.status)
            else:
                status = final[0] if final else DAGStatus.RUNNING
                row.status = status.value
                if final:
                    row.completed_at, row.exit_code = utcnow(), final[1]
            finished = final is not None and not ended
            if added or finished:
                s.add(
                    DAGHistoryRow(
                        dag_id=dag_id,
                        event_type="finished" if finished else "progress",
                        to_status=status.value,
                        detail={
                            "new_work_units": added,
                            "exit_code": final[1] if final else None,
                        },
                        created_at=utcnow(),
                        **counts,
                    )
                )
            return status

    def dag_history(self, dag_id: uuid.UUID) -> list[dict[str, Any]]:
        with self.session() as s:
            rows = s.scalars(
                select(DAGHistoryRow)
                .where(DAGHistoryRow.dag_id == dag_id)
                .order_by(DAGHistoryRow.id)
            )
            return [row_dict(r) for r in rows]

    # ── outputs ────────────────────────────────────────────────────────────

    def upsert_output(self, output: OutputDataset) -> OutputDataset:
        keys = ["workflow_id", "dataset_name", "work_unit"]
        with self.session() as s:
            upsert(s, OutputDatasetRow, column_values(output, OutputDatasetRow), keys)
            row = one(
                s,
                select(OutputDatasetRow).where(
                    OutputDatasetRow.workflow_id == output.workflow_id,
                    OutputDatasetRow.dataset_name == output.dataset_name,
                    OutputDatasetRow.work_unit == output.work_unit,
                ),
                f"output {output.dataset_name} {output.work_unit}",
            )
            return OutputDataset.model_validate(row_dict(row))

    def list_outputs(
        self, workflow_id: uuid.UUID, dataset: str | None = None
    ) -> list[OutputDataset]:
        query = select(OutputDatasetRow).where(OutputDatasetRow.workflow_id == workflow_id)
        if dataset is not None:
            query = query.where(OutputDatasetRow.dataset_name == dataset)
        with self.session() as s:
            rows = s.scalars(
                query.order_by(OutputDatasetRow.dataset_name, OutputDatasetRow.work_unit)
            )
            return [OutputDataset.model_validate(row_dict(r)) for r in rows]

    def get_output(
        self, workflow_id: uuid.UUID, dataset: str, work_unit: str
    ) -> OutputDataset | None:
        with self.session() as s:
            row = s.scalars(
                select(OutputDatasetRow).where(
                    OutputDatasetRow.workflow_id == workflow_id,
                    OutputDatasetRow.dataset_name == dataset,
                    OutputDatasetRow.work_unit == work_unit,
                )
            ).first()
            return OutputDataset.model_validate(row_dict(row)) if row is not None else None

    def count_requests_by_status(self) -> dict[str, int]:
        """One count per request name: the status of its current run (the record)."""
        with self.session() as s:
            rows = s.execute(select(RequestRow.status, func.count()).group_by(RequestRow.status))
            return {status: n for status, n in rows}

    def count_outputs_by_status(self) -> dict[str, int]:
        with self.session() as s:
            rows = s.execute(
                select(OutputDatasetRow.status, func.count()).group_by(OutputDatasetRow.status)
            )
            return {status: n for status, n in rows}

    def delete_output(self, output_id: uuid.UUID) -> None:
        with self.session() as s:
            s.execute(delete(OutputDatasetRow).where(OutputDatasetRow.id == output_id))

    def update_output(self, output_id: uuid.UUID, **fields: Any) -> None:
        fields = {k: v.value if isinstance(v, Enum) else v for k, v in fields.items()}
        self._update(
            OutputDatasetRow, OutputDatasetRow.id == output_id, f"output {output_id}", **fields
        )

    # ── sites: wms2.db.site_records ────────────────────────────────────────

    @property
    def sites(self) -> SiteRecords:
        return SiteRecords(self.session)
