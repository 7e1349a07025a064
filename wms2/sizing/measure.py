"""What finished jobs measured, from the job report line the payload prints on stdout
(`WMS2_JOB_REPORT {...}` in each processing node's .out): events, wall time, the
synthetic time scale, peak RSS."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

MARK = "WMS2_JOB_REPORT "


@dataclass(frozen=True)
class Measurement:
    jobs: int  # job reports read
    timed_jobs: int  # of which told the time per event (not capped)
    time_per_event_sec: float | None  # unscaled, over the timed jobs' events
    peak_rss_mb: float | None  # the highest

    def describe(self) -> str:
        tpe = f"{self.time_per_event_sec:.3g} s/event" if self.time_per_event_sec else "no timing"
        rss = f"peak RSS {self.peak_rss_mb:.0f} MB" if self.peak_rss_mb is not None else "no RSS"
        return f"{self.jobs} job(s): {tpe} ({self.timed_jobs} timed), {rss}"


def job_reports(group_dir: Path) -> list[dict]:
    """The unit's processing jobs' reports (the last one of each node's .out)."""
    reports = []
    for out in sorted(group_dir.glob("proc_*.out")):
        last = None
        try:
            for line in out.read_text(errors="replace").splitlines():
                if line.startswith(MARK):
                    last = line[len(MARK) :]
            if last is not None:
                reports.append(json.loads(last))
        except (OSError, ValueError):
            continue
    return reports


def measure(group_dirs: list[Path]) -> Measurement:
    reports = [r for d in group_dirs for r in job_reports(d)]
    timed = [
        r
        for r in reports
        if not r.get("capped") and r.get("time_scale", 0) > 0 and r.get("events", 0) > 0
    ]
    tpe = None
    if timed:
        # Total time over total events: long jobs weigh what they cost.
        unscaled = sum(r["wall_sec"] / r["time_scale"] for r in timed)
        tpe = unscaled / sum(r["events"] for r in timed)
    rss = [float(r["peak_rss_mb"]) for r in reports if "peak_rss_mb" in r]
    return Measurement(len(reports), len(timed), tpe, max(rss) if rss else None)
