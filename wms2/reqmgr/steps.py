"""The steps of a ReqMgr2 request and the values each one gets.

A StepChain's steps are Step1..StepN, a TaskChain's tasks Task1..TaskN; a flat request
(ReReco, MonteCarlo) is one step made of the top level. An argument ReqMgr2 allows per
step is taken from the step's own dict first, then from a top-level dict keyed by the
step's StepName/TaskName, then from a top-level plain value, then WMCore's default.
"""

from __future__ import annotations

from typing import Any

from wms2.models import StepSpec
from wms2.reqmgr.arguments import unset
from wms2.reqmgr.errors import RequestImportError
from wms2.reqmgr.gpu import step_gpu
from wms2.reqmgr.scram import arch_list, resolve_archs, scram_arch

__all__ = ["build_steps", "chain_steps", "scram_arch", "step_name", "step_value"]

# WMCore's defaults for what a step may leave unset (StdBase/StepChain create args).
STEP_DEFAULTS: dict[str, Any] = {
    "Memory": 2300.0,
    "Multicore": 1,
    "EventStreams": 0,
    "SizePerEvent": 512.0,
    "ProcessingVersion": 1,
    "FilterEfficiency": 1.0,
    "AcquisitionEra": "",
    "ProcessingString": "",
    "GlobalTag": "",
    "TimePerEvent": 12.0,
}


def chain_steps(doc: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """('Step'|'Task', the chain's step dicts in order), or ('', [doc]) for flat requests."""
    for kind in ("Step", "Task"):
        count = doc.get(f"{kind}Chain")
        if count is None:
            continue
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
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
    return "", [doc]


def step_name(kind: str, step: dict[str, Any], index: int) -> str:
    if not kind:
        return "cmsRun1"
    key = f"{kind}Name"
    name = step.get(key)
    if unset(name) or not isinstance(name, str):
        raise RequestImportError(f"{kind}{index + 1}.{key} is missing")
    return name


def step_value(doc: dict[str, Any], step: dict[str, Any], kind: str, name: str, key: str) -> Any:
    """The step's own value, else the top-level dict's entry for the step, else the
    top-level value, else WMCore's default."""
    own = step.get(key) if kind else None
    if not unset(own):
        return own
    top = doc.get(key)
    if isinstance(top, dict) and not unset(top):
        if name in top and not unset(top[name]):
            return top[name]
        raise RequestImportError(
            f"{key} is given per {'task' if kind == 'Task' else 'step'} but has no value "
            f"for {name!r} (keys: {', '.join(sorted(top))})"
        )
    if not unset(top):
        return top
    return STEP_DEFAULTS.get(key)


def _number(
    field: str, value: Any, cast: type, at_least: float | None = None, above: float | None = None
) -> Any:
    if isinstance(value, bool):
        raise RequestImportError(f"{field} {value!r} is not a number")
    try:
        number = cast(value)
    except (TypeError, ValueError):
        raise RequestImportError(f"{field} {value!r} is not a number") from None
    if (at_least is not None and number < at_least) or (above is not None and number <= above):
        raise RequestImportError(f"{field} {value!r} is out of range")
    return number


def _where(kind: str, name: str) -> str:
    return f" ({kind.lower()} {name})" if kind else ""


def step_archs(doc: dict[str, Any], kind: str, raw: list[dict[str, Any]]) -> list[str]:
    """Each step's one architecture: its ScramArch (a name or a list) resolved for the
    node that runs them all (wms2.reqmgr.scram)."""
    lists = []
    for i, step in enumerate(raw):
        name = step_name(kind, step, i)
        names = arch_list(
            f"ScramArch{_where(kind, name)}", step_value(doc, step, kind, name, "ScramArch")
        )
        if not names:
            raise RequestImportError(
                f"ScramArch is missing from request {doc.get('RequestName')!r}"
            )
        lists.append(names)
    return resolve_archs(lists)


def build_steps(doc: dict[str, Any], kind: str, raw: list[dict[str, Any]]) -> list[StepSpec]:
    steps = []
    archs = step_archs(doc, kind, raw)
    for i, step in enumerate(raw):
        name = step_name(kind, step, i)
        where = _where(kind, name)

        def value(key: str, step: dict[str, Any] = step, name: str = name) -> Any:
            return step_value(doc, step, kind, name, key)

        cmssw = value("CMSSWVersion")
        if unset(cmssw):
            raise RequestImportError(
                f"CMSSWVersion is missing from request {doc.get('RequestName')!r}"
            )
        pileup = {
            kind_: value(key)
            for kind_, key in (("mc", "MCPileup"), ("data", "DataPileup"))
            if not unset(value(key))
        }
        if len(pileup) > 1:
            raise RequestImportError(f"MCPileup and DataPileup{where} are both set")
        # A TaskChain task has its own TimePerEvent (WMCore TaskChain); a StepChain's or a
        # flat request's is one number for the whole job (wms2.reqmgr.resources).
        own_tpe = value("TimePerEvent") if kind == "Task" else None
        requires_gpu, gpu_params = step_gpu(doc, step, kind, name, where)
        steps.append(
            StepSpec(
                name=name,
                cmssw_version=str(cmssw),
                scram_arch=archs[i],
                global_tag=str(value("GlobalTag") or ""),
                config_cache_id=(step.get("ConfigCacheID") or None)
                if kind
                else (doc.get("ConfigCacheID") or None),
                acquisition_era=str(value("AcquisitionEra") or ""),
                processing_string=str(value("ProcessingString") or ""),
                processing_version=_number(
                    f"ProcessingVersion{where}", value("ProcessingVersion"), int, at_least=0
                ),
                memory_mb=int(_number(f"Memory{where}", value("Memory"), float, at_least=1)),
                multicore=_number(f"Multicore{where}", value("Multicore"), int, at_least=1),
                event_streams=_number(
                    f"EventStreams{where}", value("EventStreams") or 0, int, at_least=0
                ),
                time_per_event_sec=None
                if own_tpe is None
                else _number(f"TimePerEvent{where}", own_tpe, float, above=0),
                size_per_event_kb=_number(
                    f"SizePerEvent{where}", value("SizePerEvent"), float, above=0
                ),
                filter_efficiency=_number(
                    f"FilterEfficiency{where}",
                    step.get("FilterEfficiency", 1.0) if kind else doc.get("FilterEfficiency", 1.0),
                    float,
                    above=0,
                ),
                keep_output=_flag(step.get("KeepOutput", True)) if kind else True,
                input_step=(step.get("InputStep") or step.get("InputTask")) if kind else None,
                pileup_dataset=next(iter(pileup.values()), None),
                pileup_type=next(iter(pileup), None),
                requires_gpu=requires_gpu,
                gpu_params=gpu_params,
            )
        )
    return steps


def _flag(value: Any) -> bool:
    return value not in (False, "False", "false", 0)
