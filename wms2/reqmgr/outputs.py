"""Which step writes each output dataset: ReqMgr2's ChainParentageMap when the document
has one (keyed Step<N>/Task<N>), else the step whose AcquisitionEra, ProcessingString and
ProcessingVersion make the dataset's processed name."""

from __future__ import annotations

from typing import Any

from wms2.models import StepSpec
from wms2.planning.lfn import dataset_parts
from wms2.reqmgr.errors import RequestImportError


def assign_outputs(
    doc: dict[str, Any], kind: str, steps: list[StepSpec], outputs: list[str]
) -> list[StepSpec]:
    """`steps` with output_datasets filled in; every output has exactly one step."""
    owner: dict[str, int] = {}
    parentage = doc.get("ChainParentageMap")
    if kind and isinstance(parentage, dict):
        for i in range(len(steps)):
            entry = parentage.get(f"{kind}{i + 1}") or {}
            for ds in entry.get("ChildDsets") or [] if isinstance(entry, dict) else []:
                if ds in outputs:
                    owner.setdefault(ds, i)
    for ds in outputs:
        if ds in owner:
            continue
        found = _matching_step(ds, steps)
        if found is None:
            raise RequestImportError(
                f"OutputDatasets {ds!r} matches no step's AcquisitionEra, ProcessingString "
                "and ProcessingVersion"
            )
        owner[ds] = found
    return [
        s.model_copy(update={"output_datasets": [d for d in outputs if owner[d] == i]})
        for i, s in enumerate(steps)
    ]


def _matching_step(dataset: str, steps: list[StepSpec]) -> int | None:
    """The last step that keeps its output and whose values name the dataset (the
    processed name is Era-[Filter-]ProcString-vN: ALCARECO adds a filter name)."""
    _, era, rest, _ = dataset_parts(dataset)
    candidates = [
        i
        for i, s in enumerate(steps)
        if (s.keep_output or i == len(steps) - 1)
        and (not s.acquisition_era or era == s.acquisition_era)
        and rest.endswith(
            f"{s.processing_string}-v{s.processing_version}"
            if s.processing_string
            else f"v{s.processing_version}"
        )
    ]
    return candidates[-1] if candidates else None
