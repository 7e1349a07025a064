"""Every validator of the domain models, with the message checked for field and value."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from wms2.models import (
    LumiRange,
    OutputDataset,
    ProductionStep,
    Request,
    RequestStatus,
    SplittingAlgo,
)


def make_request(**overrides: Any) -> Request:
    fields: dict[str, Any] = {
        "request_name": "pdmvserv_Run3Summer23_00042_v1_260101_120000_1234",
        "requestor": "pdmvserv",
        "input_dataset": "/QCD_Pt-15to7000/Run3Summer23-130X_v1-v2/GEN-SIM",
        "output_datasets": ["/QCD_Pt-15to7000/Run3Summer23DR-130X_v1-v2/AODSIM"],
        "cmssw_version": "CMSSW_13_0_13",
        "scram_arch": "el8_amd64_gcc11",
        "splitting_algo": SplittingAlgo.FILE_BASED,
        "splitting_params": {"files_per_job": 2},
        "priority": 100000,
    }
    fields.update(overrides)
    return Request(**fields)


def error_text(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return str(exc.value)


def test_valid_request_defaults() -> None:
    r = make_request()
    assert r.status is RequestStatus.SUBMITTED
    assert r.memory_mb == 2048 and r.urgent is False and r.production_steps == []


@pytest.mark.parametrize(
    "name", ["a", "Req_1.v2-x", "cmsunified_task_GEN-RunIII2024Summer24GS-00002__v1_T_1_2"]
)
def test_request_name_accepts_reqmgr_characters(name: str) -> None:
    assert make_request(request_name=name).request_name == name


@pytest.mark.parametrize("name", ["../etc", "a/b", "", ".hidden", "-x", "name with space", "a;b"])
def test_request_name_rejects_escapes_and_other_characters(name: str) -> None:
    with pytest.raises(ValidationError) as exc:
        make_request(request_name=name)
    assert "request_name" in error_text(exc) and repr(name) in error_text(exc)


def test_request_name_length_limit() -> None:
    make_request(request_name="a" * 255)
    with pytest.raises(ValidationError, match="request_name"):
        make_request(request_name="a" * 256)


@pytest.mark.parametrize("field", ["input_dataset", "secondary_input_dataset"])
@pytest.mark.parametrize("bad", ["QCD/Run3/AODSIM", "/QCD/Run3", "/QCD/Run3/aodsim", "/a/b/C/D"])
def test_dataset_names_checked(field: str, bad: str) -> None:
    with pytest.raises(ValidationError) as exc:
        make_request(**{field: bad})
    assert field in error_text(exc) and repr(bad) in error_text(exc)


def test_output_dataset_names_checked() -> None:
    with pytest.raises(ValidationError) as exc:
        make_request(output_datasets=["/Good/Proc-v1/AODSIM", "bad"])
    assert "output_datasets" in error_text(exc) and "'bad'" in error_text(exc)


def test_generation_request_has_no_input() -> None:
    r = make_request(input_dataset=None, splitting_algo=SplittingAlgo.EVENT_BASED)
    assert r.input_dataset is None


def test_priority_must_not_be_negative() -> None:
    with pytest.raises(ValidationError) as exc:
        make_request(priority=-1)
    assert "priority -1 is out of range" in error_text(exc)


def test_urgent_and_production_steps_are_exclusive() -> None:
    with pytest.raises(ValidationError) as exc:
        make_request(urgent=True, production_steps=[{"fraction": 0.1, "priority": 80000}])
    assert "urgent" in error_text(exc) and "production_steps" in error_text(exc)


def test_valid_production_steps() -> None:
    r = make_request(
        production_steps=[
            {"fraction": 0.1, "priority": 80000},
            {"fraction": 0.5, "priority": 50000},
        ]
    )
    assert [s.priority for s in r.production_steps] == [80000, 50000]


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5])
def test_step_fraction_strictly_inside_unit_interval(fraction: float) -> None:
    with pytest.raises(ValidationError) as exc:
        ProductionStep(fraction=fraction, priority=1)
    assert f"fraction {fraction!r}" in error_text(exc)


def test_step_fractions_strictly_increasing() -> None:
    with pytest.raises(ValidationError) as exc:
        make_request(
            production_steps=[
                {"fraction": 0.5, "priority": 80000},
                {"fraction": 0.5, "priority": 1},
            ]
        )
    assert "fractions must be strictly increasing: 0.5 follows 0.5" in error_text(exc)


def test_step_priorities_strictly_decreasing() -> None:
    with pytest.raises(ValidationError) as exc:
        make_request(
            production_steps=[
                {"fraction": 0.1, "priority": 50000},
                {"fraction": 0.5, "priority": 60000},
            ]
        )
    assert "priorities must be strictly decreasing: 60000 follows 50000" in error_text(exc)


def test_step_priority_below_request_priority() -> None:
    with pytest.raises(ValidationError) as exc:
        make_request(priority=1000, production_steps=[{"fraction": 0.1, "priority": 1000}])
    assert "priority 1000 must be below the request priority 1000" in error_text(exc)


def test_step_priority_not_negative() -> None:
    with pytest.raises(ValidationError, match="priority -5 is out of range"):
        ProductionStep(fraction=0.2, priority=-5)


def test_unknown_splitting_algo_names_field() -> None:
    with pytest.raises(ValidationError) as exc:
        make_request(splitting_algo="Automatic")
    assert "splitting_algo" in error_text(exc) and "Automatic" in error_text(exc)


def test_lumi_range_order() -> None:
    assert LumiRange(run=1, lumi_start=3, lumi_end=3).lumi_end == 3
    with pytest.raises(ValidationError, match="lumi_end 2 is before lumi_start 5 in run 7"):
        LumiRange(run=7, lumi_start=5, lumi_end=2)


def test_output_dataset_name_checked() -> None:
    import uuid

    with pytest.raises(ValidationError, match="dataset_name 'x' is not a dataset name"):
        OutputDataset(workflow_id=uuid.uuid4(), dataset_name="x", work_unit="mg_000000")


def test_terminal_statuses() -> None:
    assert {s for s in RequestStatus if s.is_terminal} == {
        RequestStatus.COMPLETED,
        RequestStatus.FAILED,
        RequestStatus.ABORTED,
    }


def test_priorities_fit_the_database_column() -> None:
    from wms2.models import PRIORITY_MAX, ProductionStep

    with pytest.raises(ValueError, match=r"priority 2147483648 is out of range"):
        ProductionStep(fraction=0.5, priority=PRIORITY_MAX + 1)
    assert ProductionStep(fraction=0.5, priority=PRIORITY_MAX).priority == 2**31 - 1
