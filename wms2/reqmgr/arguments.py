"""What WMS2 does with each ReqMgr2 argument: read it, default it as WMCore does, refuse
it when set (it would change which data is processed, or where, in a way WMS2 does not
implement), or ignore it (bookkeeping WMS2 has no use for).

Defaults are WMCore's own (StdBase, StepChain, TaskChain argument definitions). A value
that is present but empty ("", [], {}, null) means "not set", as in ReqMgr2. The README's
field table is checked against FIELDS by a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# WMCore StdBase.target_job_length: EventsPerJob, when not given, fills 12 h of TimePerEvent.
TARGET_JOB_LENGTH_SEC = 12 * 3600


@dataclass(frozen=True)
class Field:
    name: str
    treatment: str  # "read", "default", "refused", "ignored"
    note: str


def _f(name: str, treatment: str, note: str) -> Field:
    return Field(name, treatment, note)


FIELDS: list[Field] = [
    _f("RequestName", "read", "required; the workflow id is request-<name>"),
    _f(
        "RequestStatus",
        "read",
        "runs only in WMS2_REQMGR_RUNNABLE_STATES (assigned, staging, staged); "
        "any other state refused by name; absent: assigned",
    ),
    _f(
        "RequestType",
        "read",
        "StepChain, TaskChain, ReReco, DQMHarvest (input required), Resubmission "
        "(recovery of one of them); any other type (StoreResults, ...) refused by "
        "name; absent: by shape",
    ),
    _f("Requestor", "read", "empty or absent: recorded as 'unknown'"),
    _f("RequestorDN", "read", "empty: none"),
    _f("Group", "read", "default DATAOPS"),
    _f("Campaign", "read", "default empty"),
    _f("RequestPriority", "read", "default 8000; 0 to 999999"),
    _f("StepChain", "read", "number of Step<N> dicts"),
    _f("TaskChain", "read", "number of Task<N> dicts"),
    _f("StepName", "read", "per step; keys per-step dicts"),
    _f("TaskName", "read", "per task; keys per-task dicts"),
    _f("InputStep", "read", "per step"),
    _f("InputTask", "read", "per task"),
    _f("CMSSWVersion", "read", "required; per step or top level"),
    _f(
        "ScramArch",
        "read",
        "name or list (makeList), per step or top level; a list: the newest "
        "architecture of the newest OS every step has (getSingleScramArch)",
    ),
    _f("GlobalTag", "read", "per step or top level"),
    _f("ConfigCacheID", "read", "per step; the step's configuration reference"),
    _f("ConfigCacheUrl", "read", "default https://cmsweb.cern.ch/couchdb"),
    _f("CouchDBName", "read", "default reqmgr_config_cache"),
    _f("KeepOutput", "read", "per step; default true"),
    _f("PrimaryDataset", "read", "per step (generation output)"),
    _f("InputDataset", "read", "Step1/Task1 or top level"),
    _f("OutputDatasets", "read", "required; each is mapped to the step that writes it"),
    _f("ChainParentageMap", "read", "maps output datasets to their step"),
    _f("AcquisitionEra", "read", "value, or dict by StepName/TaskName"),
    _f("ProcessingString", "read", "value, or dict by StepName/TaskName"),
    _f("ProcessingVersion", "read", "value, or dict by StepName/TaskName; default 1"),
    _f(
        "Memory",
        "read",
        "MB; default 2300; StepChain/ReReco: the top-level number (a dict "
        "refused); TaskChain: value or dict by task, the job asks the max",
    ),
    _f("Multicore", "read", "default 1; value or dict by step; the job asks the max"),
    _f("EventStreams", "read", "default 0 (recorded per step)"),
    _f(
        "TimePerEvent",
        "read",
        "s of job wall time per event, never divided by cores; default 12; "
        "StepChain/ReReco: the top-level number (a dict refused); TaskChain: "
        "per task, summed weighted by the FilterEfficiency of the tasks before",
    ),
    _f("SizePerEvent", "read", "kB; default 512; each output uses its step's"),
    _f("FilterEfficiency", "default", "default 1.0; generation asks RequestNumEvents / eff"),
    _f("SplittingAlgo", "default", "EventBased for generation, EventAwareLumiBased otherwise"),
    _f(
        "EventsPerJob",
        "default",
        "12 h of TimePerEvent (WMCore calcEvtsPerJobLumi), a "
        "multiple of EventsPerLumi, at most RequestNumEvents",
    ),
    _f("EventsPerLumi", "default", "EventsPerJob"),
    _f("LumisPerJob", "default", "default 8"),
    _f("FilesPerJob", "default", "default 1"),
    _f("RequestNumEvents", "read", "required for generation"),
    _f("FirstEvent", "default", "default 1"),
    _f("FirstLumi", "default", "default 1"),
    _f("SplitOnRun", "read", "LumiBased"),
    _f("RunWhitelist", "read", "positive integers; applied per lumi"),
    _f("RunBlacklist", "read", "positive integers; applied per lumi"),
    _f("LumiList", "read", "{run: [[first, last], ...]}; applied per lumi"),
    _f("BlockWhitelist", "read", "block names of the input dataset; applied per file"),
    _f("BlockBlacklist", "read", "block names of the input dataset; applied per file"),
    _f("SiteWhitelist", "read", "sites jobs may run at; list or comma separated string"),
    _f("SiteBlacklist", "read", "sites jobs never run at; list or comma separated string"),
    _f(
        "TrustSitelists",
        "read",
        "false: jobs run only where a disk replica of their input "
        "is; true: anywhere in the whitelist, reading remotely",
    ),
    _f("MergedLFNBase", "read", "default /store/data (WMCore)"),
    _f("UnmergedLFNBase", "read", "default /store/unmerged (WMCore)"),
    _f(
        "IncludeParents",
        "read",
        "each input file's parents from DBS go to the job as secondary input",
    ),
    _f(
        "MCPileup",
        "read",
        "per step: the pileup files and their sites go in the sandbox; "
        "jobs run where a complete copy is",
    ),
    _f("DataPileup", "read", "as MCPileup"),
    _f("TrustPUSitelists", "read", "true: pileup read remotely, it does not restrict sites"),
    _f(
        "DeterministicPileup",
        "read",
        "Step1/Task1 or top level; each job reads its own slice of the pileup: skipEvents = "
        "its place in the request x events per job (mod the pileup's events), sequentially",
    ),
    _f(
        "LheInputFiles",
        "read",
        "Step1/Task1 or top level; generation jobs skip FirstEvent - 1 LHE events instead "
        "of setting firstEvent, and read lazily (WMCore makeJobTweak)",
    ),
    _f("OpenRunningTimeout", "refused", "refused when > 0: the input must be closed"),
    _f("AllowOpportunistic", "refused", "refused when true: only pledged sites"),
    _f(
        "RequiresGPU",
        "read",
        "forbidden (default), optional, required; per step, or a dict by TaskName; "
        "optional/required need GPUParams; the job: request_gpus and DESIRED_GPU* as WMCore",
    ),
    _f(
        "GPUParams",
        "read",
        "JSON object (GPUMemoryMB, CUDACapabilities, CUDARuntime), per step or by TaskName; "
        "the job's GPU memory, capability range and runtime requirement",
    ),
    _f("SkimConfigs", "refused", "refused when set: ReReco skims are not run"),
    _f(
        "EnableHarvesting",
        "read",
        "true in a chain: harvesting jobs of its DQMIO output after every merge "
        "(one needs to be DQMIO)",
    ),
    _f("DQMHarvestUnit", "read", "byRun (default): a harvesting job per run; multiRun: one"),
    _f("DQMConfigCacheID", "read", "the harvesting configuration; required by DQMHarvest"),
    _f("DQMUploadUrl", "read", "the DQM GUI the DQM files go to; default cmsweb dqm/dev"),
    _f("DQMSequences", "read", "recorded for the harvesting jobs (makeList)"),
    _f(
        "OriginalRequestName",
        "read",
        "Resubmission: the request whose failed work is recovered (from WMS2's records "
        "when WMS2 ran it, else the ACDC collection); set on another type: refused",
    ),
    _f("OriginalRequestType", "read", "Resubmission: StepChain, TaskChain or ReReco"),
    _f(
        "InitialTaskPath",
        "read",
        "Resubmission: /<original>/<first task>; a later task or a merge task refused "
        "(WMS2 runs all tasks of a job in one job)",
    ),
    _f("ACDCServer", "read", "Resubmission: the ACDC CouchDB; default cmsweb's"),
    _f("ACDCDatabase", "read", "Resubmission: default acdcserver"),
    _f("CollectionName", "read", "Resubmission: the ACDC collection; default the original"),
    _f(
        "IgnoredOutputModules",
        "refused",
        "refused when set: every output the original kept is written",
    ),
    _f("ResubmissionCount", "read", "Resubmission: recorded; default 1"),
    _f("urgent", "read", "WMS2 extension: skip the pilot"),
    _f("production_steps", "read", "WMS2 extension: partial production"),
]

FIELD_NAMES = {f.name for f in FIELDS}

# Refused when set to anything but these "not used" values.
REFUSED_UNLESS: dict[str, tuple[Any, ...]] = {
    "OpenRunningTimeout": (0,),
    "AllowOpportunistic": (False, "False", "false"),
    "SkimConfigs": (),
}


def unset(value: Any) -> bool:
    """ReqMgr2's "not set": absent, null, or an empty string, list or dict."""
    return value is None or (isinstance(value, str | list | dict) and len(value) == 0)


def make_list(value: Any) -> list[Any]:
    """ReqMgr2's makeList (Utils/Utilities.py): a list as it is; a string is a comma
    separated list, brackets, spaces and quotes around the items dropped ("['A', 'B']",
    "A,B" and "A" all read as ["A", "B"] or ["A"]); "" is []."""
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        items = value.lstrip(" [").rstrip(" ]").split(",")
        if items == [""]:
            return []
        return [item.strip(" '\"") for item in items]
    raise ValueError(f"{value!r} is not a list")


def refused_fields(doc: dict[str, Any], steps: list[dict[str, Any]]) -> list[str]:
    """`Field value` of every refused argument the document (or a step) sets."""
    found = []
    for where, source in [("", doc), *((f"{_step_label(s, i)}.", s) for i, s in enumerate(steps))]:
        for name, allowed in REFUSED_UNLESS.items():
            value = source.get(name)
            if not unset(value) and value not in allowed:
                found.append(f"{where}{name} {value!r}")
    return found


def _step_label(step: dict[str, Any], index: int) -> str:
    return str(step.get("StepName") or step.get("TaskName") or f"step {index + 1}")
