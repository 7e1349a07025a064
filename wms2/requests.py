"""ReqMgr2 document -> validated Request.

StepChain and TaskChain keep the input dataset and the splitting parameters in Step1 /
Task1, and may give AcquisitionEra / ProcessingString as per-step dicts; ReReco and
MonteCarlo documents keep them at the top level. Everything is normalised here so the rest
of WMS2 sees one shape. Every problem is reported with the ReqMgr2 field it came from.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from wms2.models import Request, SplittingAlgo

# ReqMgr2 splitting argument -> WMS2 splitting_params key
SPLITTING_KEYS = {
    "FilesPerJob": "files_per_job",
    "EventsPerJob": "events_per_job",
    "LumisPerJob": "lumis_per_job",
    "EventsPerLumi": "events_per_lumi",
    "RequestNumEvents": "request_num_events",
    "FirstEvent": "first_event",
    "FirstLumi": "first_lumi",
    "SplitOnRun": "split_on_run",
    "RunWhitelist": "run_whitelist",
    "LumiList": "lumi_mask",
}
STEP_SETTINGS = (
    "StepName",
    "TaskName",
    "CMSSWVersion",
    "ScramArch",
    "GlobalTag",
    "ConfigCacheID",
    "KeepOutput",
    "PrimaryDataset",
    "InputStep",
    "InputTask",
    "Multicore",
    "Memory",
    "TimePerEvent",
    "SizePerEvent",
)


class RequestImportError(ValueError):
    """The ReqMgr2 document cannot become a WMS2 request; the message names the field."""


class RequestAlreadyRan(RequestImportError):
    """A new run of a request name that ran before, without `rerun`: the earlier run's
    records are left as they are."""


class RerunRefused(RequestImportError):
    """A rerun that cannot pick up where the earlier run stopped without redoing work."""


def _chain_steps(doc: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """('Step'|'Task', the chain's step dicts in order), or ('', []) for flat documents."""
    for kind in ("Step", "Task"):
        count = doc.get(f"{kind}Chain")
        if count is None:
            continue
        if not isinstance(count, int) or count < 1:
            raise RequestImportError(f"{kind}Chain {count!r} must be a positive integer")
        steps = []
        for i in range(1, count + 1):
            step = doc.get(f"{kind}{i}")
            if not isinstance(step, dict):
                raise RequestImportError(
                    f"{kind}{i} is missing or not a dict but {kind}Chain is {count}"
                )
            steps.append(step)
        return kind, steps
    return "", []


def _per_step(value: Any, kind: str, index: int) -> Any:
    """AcquisitionEra/ProcessingString may be a scalar or a {"Step1": ...} dict."""
    if isinstance(value, dict):
        return value.get(f"{kind}{index}", next(iter(value.values()), None))
    return value


def _first(*values: Any) -> Any:
    return next((v for v in values if v not in (None, "", [])), None)


def _require(doc: dict[str, Any], field: str, value: Any) -> Any:
    if value in (None, "", []):
        raise RequestImportError(f"{field} is missing from request {doc.get('RequestName')!r}")
    return value


def request_from_reqmgr(doc: dict[str, Any], expected_name: str | None = None) -> Request:
    if not isinstance(doc, dict):
        raise RequestImportError(
            f"request document must be a JSON object, not {type(doc).__name__}"
        )
    name = _require(doc, "RequestName", doc.get("RequestName"))
    if expected_name is not None and name != expected_name:
        raise RequestImportError(
            f"RequestName {name!r} does not match the requested {expected_name!r}"
        )

    kind, steps = _chain_steps(doc)
    first = steps[0] if steps else doc

    algo_name = _require(
        doc, "SplittingAlgo", _first(first.get("SplittingAlgo"), doc.get("SplittingAlgo"))
    )
    try:
        algo = SplittingAlgo(algo_name)
    except ValueError:
        allowed = ", ".join(a.value for a in SplittingAlgo)
        raise RequestImportError(
            f"SplittingAlgo {algo_name!r} is not supported (use {allowed})"
        ) from None

    splitting: dict[str, Any] = {}
    for source in (doc, first):  # the first step wins over the top level
        for reqmgr_key, key in SPLITTING_KEYS.items():
            if source.get(reqmgr_key) not in (None, "", []):
                splitting[key] = source[reqmgr_key]

    scram = _first(doc.get("ScramArch"), first.get("ScramArch"))
    if isinstance(scram, list):
        scram = scram[0] if scram else None

    payload_steps = [
        {k: s[k] for k in STEP_SETTINGS if k in s}
        | {
            "AcquisitionEra": _per_step(doc.get("AcquisitionEra"), kind, i + 1),
            "ProcessingString": _per_step(doc.get("ProcessingString"), kind, i + 1),
        }
        for i, s in enumerate(steps or [doc])
    ]
    fields: dict[str, Any] = {
        "request_name": name,
        "requestor": _require(doc, "Requestor", doc.get("Requestor")),
        "requestor_dn": doc.get("RequestorDN"),
        "group": doc.get("Group") or "",
        "request_type": doc.get("RequestType") or "",
        "input_dataset": _first(first.get("InputDataset"), doc.get("InputDataset")),
        "secondary_input_dataset": _first(
            first.get("MCPileup"), doc.get("MCPileup"), doc.get("SecondaryInputDataset")
        ),
        "output_datasets": doc.get("OutputDatasets") or [],
        "cmssw_version": _require(
            doc, "CMSSWVersion", _first(doc.get("CMSSWVersion"), first.get("CMSSWVersion"))
        ),
        "scram_arch": _require(doc, "ScramArch", scram),
        "global_tag": _first(doc.get("GlobalTag"), first.get("GlobalTag")) or "",
        "site_whitelist": doc.get("SiteWhitelist") or [],
        "site_blacklist": doc.get("SiteBlacklist") or [],
        "splitting_algo": algo,
        "splitting_params": splitting,
        "campaign": doc.get("Campaign") or "",
        "acquisition_era": _per_step(doc.get("AcquisitionEra"), kind, 1) or "",
        "processing_string": _per_step(doc.get("ProcessingString"), kind, 1) or "",
        "processing_version": doc.get("ProcessingVersion", 1),
        "priority": doc.get("RequestPriority", doc.get("Priority", 100000)),
        "payload_config": {
            "request_type": doc.get("RequestType") or "",
            "chain": kind,
            "steps": payload_steps,
            "global_tag": _first(doc.get("GlobalTag"), first.get("GlobalTag")) or "",
        },
    }
    # Resource hints: the ReqMgr2 names and units are MB, s/event and kB/event.
    for reqmgr_key, key in (
        ("Memory", "memory_mb"),
        ("TimePerEvent", "time_per_event_sec"),
        ("SizePerEvent", "size_per_event_kb"),
        ("Multicore", "multicore"),
    ):
        value = _first(doc.get(reqmgr_key), first.get(reqmgr_key))
        if value is not None:
            fields[key] = value
    for key in ("urgent", "production_steps"):  # WMS2 extensions a requestor may set
        if key in doc:
            fields[key] = doc[key]

    try:
        return Request.model_validate(fields)
    except ValidationError as e:
        raise RequestImportError(describe_validation_error(name, e)) from None


def describe_validation_error(name: str, error: ValidationError) -> str:
    problems = []
    for err in error.errors():
        where = ".".join(str(p) for p in err["loc"]) or "request"
        msg = err["msg"].removeprefix("Value error, ")
        problems.append(msg if where in msg else f"{where}: {msg} (got {err.get('input')!r})")
    return f"request {name!r} is invalid: " + "; ".join(problems)
