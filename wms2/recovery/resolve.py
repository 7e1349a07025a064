"""Read a Resubmission's failed work from the source that has it and cut the request to it.

WMS2's own records come first: when WMS2 ran the original, its DAG directory and DAG
records say exactly which work units did not finish. Otherwise the original ran under
WMCore and its failures are in the ACDC collection the request names.
"""

from __future__ import annotations

from pathlib import Path

from wms2.db.repository import Repository
from wms2.models import Request
from wms2.records import RecordNotFound
from wms2.recovery.acdc import work_from_acdc
from wms2.recovery.records import work_from_dag_dir
from wms2.recovery.work import RecoveredWork, RecoveryError, apply_recovery
from wms2.recovery_spec import SOURCE_ACDC, SOURCE_WMS2, Recovery
from wms2.services.protocols import FailedWorkSource


def _check_same_request(request: Request, original: Request) -> None:
    """The recovery writes into the original's datasets (so it appends) and reads its input."""
    foreign = sorted(set(request.output_datasets) - set(original.output_datasets))
    if foreign:
        raise RecoveryError(
            f"OutputDatasets {foreign[0]} is not an output of the original "
            f"{original.request_name}: a recovery appends to the original's datasets"
        )
    if request.input_dataset != original.input_dataset:
        raise RecoveryError(
            f"InputDataset {request.input_dataset!r} is not the original's "
            f"({original.input_dataset!r})"
        )


def _no_other_recovery(request: Request, repo: Repository, original: str) -> None:
    """Two recoveries of one original would both redo its failed units."""
    others = [(n, st) for n, st in repo.recoveries_of(original) if n != request.request_name]
    if others:
        name, status = others[-1]
        raise RecoveryError(
            f"OriginalRequestName {original!r} is already recovered by {name} ({status}): "
            f"recover {name} instead (an ACDC of the ACDC)"
        )


def _from_wms2(request: Request, original: Request, repo: Repository) -> RecoveredWork:
    rec = request.recovery
    assert rec is not None
    if not original.status.is_terminal:
        raise RecoveryError(
            f"OriginalRequestName {original.request_name!r} is still {original.status.value}: "
            "its DAG may still finish the work; recover it once it has ended"
        )
    _check_same_request(request, original)
    _no_other_recovery(request, repo, original.request_name)
    wf = repo.get_workflow_by_request(original.request_name)
    dag = repo.latest_dag(wf.id)
    if dag is None:
        raise RecoveryError(
            f"OriginalRequestName {original.request_name!r} never planned a DAG: "
            "nothing ran, submit the original again (--rerun)"
        )
    done = repo.recorded_work_units(wf.id, before_attempt=dag.attempt + 1)
    done |= {o.work_unit for o in repo.list_outputs(wf.id) if not o.invalidated}
    return work_from_dag_dir(Path(dag.submit_dir), original.request_name, done)


def _from_acdc(rec: Recovery, acdc: FailedWorkSource | None) -> RecoveredWork:
    if acdc is None:
        raise RecoveryError(
            f"OriginalRequestName {rec.original_request!r} was not run by WMS2 and this "
            "worker has no ACDC service to read its failures from"
        )
    docs = acdc.fileset_docs(rec.acdc_server, rec.acdc_database, rec.collection, rec.fileset)
    return work_from_acdc(docs, f"{rec.acdc_database}/{rec.collection} {rec.fileset}")


def resolve_recovery(request: Request, repo: Repository, acdc: FailedWorkSource | None) -> Request:
    """`request` cut to its original's failed work (unchanged when it recovers nothing)."""
    rec = request.recovery
    if rec is None:
        return request
    try:
        original = repo.get_request(rec.original_request)
    except RecordNotFound:
        original = None
    if original is not None and original.request_name == request.request_name:
        raise RecoveryError(f"OriginalRequestName {rec.original_request!r} is the request itself")
    if original is not None:
        work, source = _from_wms2(request, original, repo), SOURCE_WMS2
    else:
        work, source = _from_acdc(rec, acdc), SOURCE_ACDC
    params, counted = apply_recovery(
        request.splitting_params, rec, work, source, request.input_dataset is None
    )
    return request.model_validate(
        {**request.model_dump(), "splitting_params": params, "recovery": counted.model_dump()}
    )
