"""Failures handled without tickets: the per-request failure report and what rescues
learn from failed tries (site exclusions per work unit, the round cap)."""

from wms2.failures.model import FailureGroup, FailureReport
from wms2.failures.report import build_report
from wms2.failures.rounds import EXCLUDED_SITES, hopeless_nodes, write_exclusions

__all__ = [
    "EXCLUDED_SITES",
    "FailureGroup",
    "FailureReport",
    "build_report",
    "hopeless_nodes",
    "write_exclusions",
]
