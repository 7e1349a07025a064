"""Pilot report (spec 5.2 pilot_metrics.json) -> PilotMetrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from wms2.models import PilotMetrics, StepProfile


class PilotReportError(ValueError):
    """The pilot's report is missing or malformed; the message says what is wrong."""


def parse_pilot_report(data: dict[str, Any]) -> PilotMetrics:
    try:
        iterations = data["iterations"]
        recommended = data["recommended"]
        last = iterations[-1]
        return PilotMetrics(
            time_per_event_sec=last["wall_time_sec"] / last["events"],
            memory_peak_mb=max(int(it["memory_mb"]) for it in iterations),
            output_size_per_event_kb=recommended["output_size_per_event_kb"],
            cpu_efficiency=last.get("cpu_efficiency", 0.9),
            events_processed=sum(int(it["events"]) for it in iterations),
            steps_profiled=[
                StepProfile(
                    step_name=s["step"],
                    time_per_event_sec=s["time_per_event"],
                    memory_peak_mb=s["memory_mb"],
                    output_size_per_event_kb=s.get("output_size_per_event_kb", 0),
                    threads_used=s.get("threads", 1),
                )
                for s in data.get("per_step", [])
            ],
            recommended_events_per_job=recommended["events_per_job"],
            recommended_memory_mb=recommended["memory_mb"],
            recommended_time_per_job_sec=recommended["time_per_job_sec"],
        )
    except (KeyError, IndexError, TypeError, ZeroDivisionError) as e:
        raise PilotReportError(f"pilot report lacks {e!s}") from e
    except ValidationError as e:
        raise PilotReportError(f"pilot report has bad values: {e}") from e


def read_pilot_report(path: Path) -> PilotMetrics:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise PilotReportError(f"cannot read pilot report {path}: {e}") from e
    return parse_pilot_report(data)
