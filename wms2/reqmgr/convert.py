"""ReqMgr2 document -> validated Request, read the way ReqMgr2 and WMCore mean it."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pydantic import ValidationError

from wms2.models import Request, check_dataset_name, kept_fraction
from wms2.reqmgr.arguments import TARGET_JOB_LENGTH_SEC, refused_fields, unset
from wms2.reqmgr.errors import RequestImportError
from wms2.reqmgr.gpu import job_gpu
from wms2.reqmgr.harvest import harvest_spec
from wms2.reqmgr.outputs import assign_outputs
from wms2.reqmgr.request_type import check_request_type, request_shape
from wms2.reqmgr.resources import job_memory_mb, job_time_per_event
from wms2.reqmgr.resubmission import recovery_of
from wms2.reqmgr.selection import block_list, lumi_list, run_list
from wms2.reqmgr.sitelists import site_list
from wms2.reqmgr.splitting import splitting
from wms2.reqmgr.states import DEFAULT_RUNNABLE_STATES, check_runnable
from wms2.reqmgr.steps import build_steps, chain_steps

# Request types that read an input dataset whatever their steps say (of those WMS2 runs).
INPUT_TYPES = {"ReReco", "DQMHarvest"}
WMCORE_PRIORITY = 8000
STEP_CONFIG = (
    "StepName",
    "TaskName",
    "ConfigCacheID",
    "InputStep",
    "InputTask",
    "InputFromOutputModule",
    "KeepOutput",
    "PrimaryDataset",
    "Seeding",
    "PrepID",
)


def _require(doc: dict[str, Any], field: str, value: Any) -> Any:
    if unset(value):
        raise RequestImportError(f"{field} is missing from request {doc.get('RequestName')!r}")
    return value


def request_from_reqmgr(
    doc: dict[str, Any],
    expected_name: str | None = None,
    target_job_length: float = TARGET_JOB_LENGTH_SEC,
    runnable_states: Collection[str] = DEFAULT_RUNNABLE_STATES,
) -> Request:
    """The WMS2 request of a ReqMgr2 document; RequestImportError (one line naming the
    field and value) when it cannot or must not run: a state WMS2 does not run requests
    in, a request type it does not build, an argument it does not implement."""
    if not isinstance(doc, dict):
        raise RequestImportError(
            f"request document must be a JSON object, not {type(doc).__name__}"
        )
    name = _require(doc, "RequestName", doc.get("RequestName"))
    if expected_name is not None and name != expected_name:
        raise RequestImportError(
            f"RequestName {name!r} does not match the requested {expected_name!r}"
        )
    check_runnable(doc, runnable_states)
    request_type = check_request_type(doc)
    kind, raw = chain_steps(doc)
    refused = refused_fields(doc, raw if kind else [])
    if refused:
        raise RequestImportError(
            f"request {name!r} sets what WMS2 does not implement: {'; '.join(refused)}"
        )
    recovery = recovery_of(doc, kind, raw)
    first = raw[0]
    where = f"{kind}1." if kind else ""
    input_dataset = first.get("InputDataset") if kind else doc.get("InputDataset")
    if unset(input_dataset):
        input_dataset = None
        shape = request_shape(doc, request_type)
        if shape in INPUT_TYPES:
            raise RequestImportError(f"InputDataset is missing ({shape} requests read a dataset)")
    outputs = doc.get("OutputDatasets")
    if request_type == "DQMHarvest" and unset(outputs):
        outputs = []  # WMCore's DQMHarvest writes no dataset: its result goes to the DQM GUI
    elif unset(outputs) or not isinstance(outputs, list):
        raise RequestImportError(f"OutputDatasets {outputs!r} must list the output datasets")
    for ds in outputs:
        try:
            check_dataset_name(ds, "OutputDatasets")
        except ValueError as e:
            raise RequestImportError(str(e)) from None
    try:
        steps = build_steps(doc, kind, raw)
        steps = assign_outputs(doc, kind, steps, [str(o) for o in outputs])
    except ValidationError as e:
        raise RequestImportError(describe_validation_error(name, e)) from None
    tpe = job_time_per_event(doc, kind, steps)
    generation = input_dataset is None
    efficiency = steps[0].filter_efficiency
    # A StepChain's FirstEvent and FirstLumi are top-level arguments (WMCore StepChain
    # passes self.firstEvent to setFirstEventAndLumi); a TaskChain's are Task1's.
    split_args = first
    if kind == "Step":
        split_args = first | {k: doc[k] for k in ("FirstEvent", "FirstLumi") if k in doc}
    algo, params = splitting(split_args, where, generation, tpe, efficiency, target_job_length)
    selection = {
        "run_whitelist": run_list(f"{where}RunWhitelist", first.get("RunWhitelist")),
        "run_blacklist": run_list(f"{where}RunBlacklist", first.get("RunBlacklist")),
        "lumi_mask": lumi_list(f"{where}LumiList", first.get("LumiList") or doc.get("LumiList")),
        "block_whitelist": block_list(
            f"{where}BlockWhitelist", first.get("BlockWhitelist"), input_dataset
        ),
        "block_blacklist": block_list(
            f"{where}BlockBlacklist", first.get("BlockBlacklist"), input_dataset
        ),
    }
    if generation and any(selection.values()):
        chosen = ", ".join(k for k, v in selection.items() if v)
        raise RequestImportError(f"{where}{chosen} select input data but there is no input")
    params.update({k: v for k, v in selection.items() if v})
    # StepChain: top-level DeterministicPileup; TaskChain: the first task's (WMCore's
    # splitting arguments of the task that reads the input); LheInputFiles per step.
    for arg, key in (("DeterministicPileup", "deterministic_pileup"),
                     ("LheInputFiles", "lhe_input_files")):  # fmt: skip
        if first.get(arg, doc.get(arg)) in (True, "True", "true"):
            params[key] = True
    parents = first.get("IncludeParents", doc.get("IncludeParents"))
    if parents in (True, "True", "true"):
        if generation:
            raise RequestImportError(f"{where}IncludeParents is true but there is no input")
        params["include_parents"] = True
    top = steps[0]
    harvest = harvest_spec(doc, request_type, first, [str(o) for o in outputs])
    requires_gpu, gpu_params = job_gpu([(s.requires_gpu, s.gpu_params) for s in steps])
    fields: dict[str, Any] = {
        "request_name": name,
        "requestor": str(doc.get("Requestor") or "unknown"),
        "requestor_dn": doc.get("RequestorDN") or None,
        "group": doc.get("Group") or "DATAOPS",
        "request_type": request_type,
        "input_dataset": input_dataset,
        "secondary_input_dataset": next(
            (s.pileup_dataset for s in steps if s.pileup_dataset), None
        ),
        "output_datasets": [str(o) for o in outputs],
        "cmssw_version": top.cmssw_version,
        "scram_arch": top.scram_arch,
        "global_tag": top.global_tag,
        # A job runs every step: its cores are the most any step uses; its memory is the
        # StepChain's one Memory, or the largest task's (wms2.reqmgr.resources).
        "memory_mb": job_memory_mb(doc, kind, steps),
        "multicore": max(s.multicore for s in steps),
        "requires_gpu": requires_gpu,
        "harvest": harvest,
        "gpu_params": gpu_params,
        "time_per_event_sec": tpe,
        # The largest output per job event sizes merge groups and disk requests.
        "size_per_event_kb": max(
            (
                s.size_per_event_kb * kept_fraction(steps, s.name)
                for s in steps
                if s.output_datasets
            ),
            default=top.size_per_event_kb,
        ),
        "site_whitelist": site_list("SiteWhitelist", doc.get("SiteWhitelist")),
        "site_blacklist": site_list("SiteBlacklist", doc.get("SiteBlacklist")),
        "trust_sitelists": doc.get("TrustSitelists") in (True, "True", "true"),
        "trust_pu_sitelists": doc.get("TrustPUSitelists") in (True, "True", "true"),
        "splitting_algo": algo,
        "splitting_params": params,
        "campaign": doc.get("Campaign") or "",
        "acquisition_era": top.acquisition_era,
        "processing_string": top.processing_string,
        "processing_version": top.processing_version,
        "priority": doc.get("RequestPriority", doc.get("Priority", WMCORE_PRIORITY)),
        "steps": steps,
        "recovery": recovery,
        "merged_lfn_base": doc.get("MergedLFNBase") or "/store/data",
        "unmerged_lfn_base": doc.get("UnmergedLFNBase") or "/store/unmerged",
        "payload_config": {
            "request_type": request_type,
            "chain": kind,
            "config_cache_url": doc.get("ConfigCacheUrl") or "https://cmsweb.cern.ch/couchdb",
            "couch_db_name": doc.get("CouchDBName") or "reqmgr_config_cache",
            # Each step's configuration: what its cmsRun needs beyond the resolved values.
            "steps": [
                {k: v for k, v in s.items() if k in STEP_CONFIG and not unset(v)} for s in raw
            ],
        },
    }
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
