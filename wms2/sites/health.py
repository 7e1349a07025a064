"""Failure-driven site alerts (spec section 12, "DAG-level failure pattern detection").

Every POST script appends one line per classified job to the submit host's outcome ledger
(`<submit_dir>/site_outcomes.log`): `<unix time> <site> <class> <request> <node>`, class
one of success, transient, site, permanent. A site whose share of `site` failures over a
window passes a threshold, with enough jobs to judge, gets an alert (and, if configured,
a ban for a while).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

OUTCOME_LEDGER = "site_outcomes.log"
READ_AT_MOST = 8 * 1024 * 1024  # the newest bytes are all a window needs
ROTATE_AT = 64 * 1024 * 1024


def ledger_path(submit_dir: Path) -> Path:
    return Path(submit_dir).resolve() / OUTCOME_LEDGER


@dataclass(frozen=True)
class Outcome:
    at: float
    site: str
    kind: str
    request: str


@dataclass(frozen=True)
class SiteEvidence:
    site: str
    jobs: int
    site_failures: int
    requests: tuple[str, ...]

    @property
    def rate(self) -> float:
        return self.site_failures / self.jobs if self.jobs else 0.0

    def describe(self, window_sec: float) -> str:
        names = ", ".join(self.requests[:3]) + (" ..." if len(self.requests) > 3 else "")
        return (
            f"{self.site}: {self.site_failures} of {self.jobs} jobs failed with site errors "
            f"({self.rate:.0%}) in the last {window_sec / 60:g} min (requests {names})"
        )


def read_outcomes(path: Path, since: float) -> list[Outcome]:
    """Outcomes at or after `since` (lines that do not parse are skipped: a POST script
    killed mid-write leaves at most one)."""
    try:
        size = path.stat().st_size
    except OSError:
        return []
    with open(path, "rb") as f:
        if size > READ_AT_MOST:
            f.seek(size - READ_AT_MOST)
            f.readline()  # a partial line
        data = f.read().decode(errors="replace")
    out = []
    for line in data.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        try:
            at = float(parts[0])
        except ValueError:
            continue
        if at >= since and parts[1] != "-":
            out.append(Outcome(at, parts[1], parts[2], parts[3]))
    return out


def rotate_if_large(path: Path) -> None:
    """Keep one older generation; POST scripts that still append to the renamed file
    lose nothing a window needs."""
    try:
        if path.stat().st_size > ROTATE_AT:
            os.replace(path, path.with_name(path.name + ".1"))
    except OSError:
        pass


def failing_sites(outcomes: list[Outcome], threshold: float, min_jobs: int) -> list[SiteEvidence]:
    """Sites whose site-error share reaches `threshold` over at least `min_jobs` jobs."""
    jobs: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    requests: dict[str, set[str]] = {}
    for o in outcomes:
        jobs[o.site] += 1
        if o.kind == "site":
            failures[o.site] += 1
            requests.setdefault(o.site, set()).add(o.request)
    out = []
    for site, n in sorted(jobs.items()):
        if n >= min_jobs and failures[site] / n >= threshold:
            out.append(SiteEvidence(site, n, failures[site], tuple(sorted(requests[site]))))
    return out
