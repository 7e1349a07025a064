from __future__ import annotations

import pytest

from wms2.lifecycle.decisions import (
    DagOutcome,
    dag_outcome,
    next_version_name,
    production_step_reached,
)
from wms2.models import ProductionStep


@pytest.mark.parametrize(
    ("failed", "total", "exit_code", "rescues", "outcome"),
    [
        (0, 100, 0, 0, DagOutcome.COMPLETED),
        (4, 100, 1, 0, DagOutcome.RESCUE),  # 4% < 5%
        (4, 100, 1, 3, DagOutcome.PARTIAL),  # automatic rescues used up
        (5, 100, 1, 0, DagOutcome.PARTIAL),  # 5%: review
        (30, 100, 1, 0, DagOutcome.PARTIAL),  # 30%: still review
        (31, 100, 1, 0, DagOutcome.FAILED),  # > 30%
        (0, 100, 2, 0, DagOutcome.RESCUE),  # removed from outside with nothing failed
        (0, 0, -1, 0, DagOutcome.RESCUE),  # the DAG vanished: try its rescue DAG
    ],
)
def test_dag_outcome_thresholds(
    failed: int, total: int, exit_code: int, rescues: int, outcome: DagOutcome
) -> None:
    assert dag_outcome(failed, total, exit_code, rescues) is outcome


def test_production_steps() -> None:
    steps = [ProductionStep(fraction=0.1, priority=80), ProductionStep(fraction=0.5, priority=50)]
    assert production_step_reached(steps, 0, 10) is None
    assert production_step_reached(steps, 1, 10) == steps[0]
    assert production_step_reached(steps[1:], 4, 10) is None
    assert production_step_reached(steps[1:], 5, 10) == steps[1]
    assert production_step_reached([], 10, 10) is None
    assert production_step_reached(steps, 1, 0) is None


@pytest.mark.parametrize(
    ("name", "version", "expected"),
    [
        ("pdmv_task_X__v1_T_1", 1, "pdmv_task_X__v2_T_1"),
        ("pdmv_task_X__v3_T_1", 1, "pdmv_task_X__v4_T_1"),  # the name's marker wins
        ("plain_request", 2, "plain_request_v3"),
    ],
)
def test_next_version_name(name: str, version: int, expected: str) -> None:
    assert next_version_name(name, version) == expected
