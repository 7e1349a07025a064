"""Workflow inputs and outputs are complete pydantic models once imported: the workflow
sandbox (workflows/runner.py) decodes them where pydantic cannot look names up later."""

from __future__ import annotations

import importlib

import pydantic
import pytest

MODULES = ["wms2.messages", "wms2.outputs.messages", "wms2.models", "wms2.condor.handles"]


@pytest.mark.parametrize("name", MODULES)
def test_every_model_is_complete_at_import(name: str) -> None:
    module = importlib.import_module(name)
    models = [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, pydantic.BaseModel)
        and (v.__module__ == name or v.__module__.startswith(f"{name}."))  # wms2.messages.*
    ]
    assert models
    assert [m.__name__ for m in models if not m.__pydantic_complete__] == []


def test_worker_runner_shares_the_workflow_modules() -> None:
    from workflows.runner import workflow_runner

    restrictions = workflow_runner().restrictions
    assert "workflows" in restrictions.passthrough_modules
    assert not restrictions.passthrough_all_modules  # third-party modules stay sandboxed
