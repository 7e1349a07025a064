"""A right-sizing round over a request's DAG directory (wms2.sizing), with the worker's
settings as targets and limits."""

from __future__ import annotations

import re
from pathlib import Path

from temporalio import activity

from activities.deps import ActivityDeps, domain_errors
from wms2.dagfiles import DagLayout
from wms2.messages import Activity, SizingInput, SizingResult
from wms2.sizing import Limits, sizing_round


def _cores(layout: DagLayout) -> int:
    """request_cpus of the DAG's processing submit description (1 if unreadable)."""
    try:
        text = (layout.root / "processing.sub").read_text()
    except OSError:
        return 1
    m = re.search(r"^request_cpus\s*=\s*(\d+)", text, re.MULTILINE)
    return int(m.group(1)) if m else 1


class SizingActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @activity.defn(name=Activity.SIZE_PENDING_UNITS)
    def size_pending_units(self, inp: SizingInput) -> SizingResult:
        st = self.deps.settings
        layout = DagLayout(Path(inp.dag_file).parent)
        limits = Limits(
            min_memory_mb=st.sizing_min_memory_mb,
            max_memory_mb=_cores(layout) * st.sizing_max_memory_per_core_mb,
            target_wall_sec=st.target_job_length_sec,
            memory_margin=st.sizing_memory_margin,
        )
        with domain_errors():
            r = sizing_round(layout, limits, st.sizing_min_finished_units)
        if r.change:
            activity.logger.info("request %s: sizing %s", inp.request_name, r.change)
        return SizingResult(
            finished_units=r.finished_units,
            measurement=r.measurement,
            resized=r.resized,
            change=r.change,
        )
