"""Histories recorded from the workflow tests (tests/histories/*.json) must replay without
non-determinism against the current workflow code. Re-record them after an intentional,
patched change with: WMS2_RECORD_HISTORIES=1 make test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from worker import WORKFLOWS
from workflows.runner import workflow_runner

HISTORIES = sorted((Path(__file__).resolve().parent.parent / "histories").glob("*.json"))


def test_histories_are_committed() -> None:
    assert {p.stem for p in HISTORIES} >= {
        "pilot_path",
        "stop_resume",
        "partial_production",
        "admission",
        "output_polls",
        "staging",
        "dag_news",
        "search_on_change",
        "dag_tracker",
        "partial_production_in_place",
        "site_change",
        "site_sync",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(
        workflows=WORKFLOWS,  # every workflow a worker runs
        workflow_runner=workflow_runner(),  # as the worker runs them
        data_converter=pydantic_data_converter,
    )
    await replayer.replay_workflow(history)
