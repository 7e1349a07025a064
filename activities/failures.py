"""The failure report of a request's DAG (wms2.failures), read where the DAG directory is:
the workflow asks for it at each DAG end with failures, operators through the
`failure_report` query (or `starter.py report`, which reads the directory itself)."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity

from activities.deps import ActivityDeps, domain_errors
from wms2.dagfiles import DagLayout
from wms2.failures import FailureReport, build_report
from wms2.messages import Activity, FailureReportInput


class FailureActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @activity.defn(name=Activity.FAILURE_REPORT)
    def failure_report(self, inp: FailureReportInput) -> FailureReport:
        with domain_errors():
            report = build_report(
                DagLayout(Path(inp.dag_file).parent),
                inp.request_name,
                self.deps.settings.rescue_round_cap,
                inp.decision,
            )
        activity.logger.info("request %s: %s", inp.request_name, report.summary_line())
        return report
