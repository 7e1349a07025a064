"""Which ReqMgr2 documents WMS2 runs at all: the request's state (RequestStatus), its type
(RequestType), and ACDC arguments on a request that is not a Resubmission, each refused in one line
naming the field and the value. Documents in tests/fixtures/reqmgr are in ReqMgr2's
stored shapes."""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.deps import ActivityDeps
from activities.requests import RequestActivities
from tests.unit.test_reqmgr_semantics import fixture
from tests.unit.test_service_clients import client
from wms2.config import Settings
from wms2.db.repository import RecordNotFound
from wms2.messages import ImportInput
from wms2.reqmgr import RequestImportError, request_from_reqmgr
from wms2.reqmgr.arguments import make_list
from wms2.reqmgr.states import REQMGR_STATES
from wms2.services.reqmgr import ReqMgrClient

RUNNABLE = ("assigned", "staging", "staged")


def refusal(doc: dict[str, Any], **kwargs: Any) -> str:
    with pytest.raises(RequestImportError) as exc:
        request_from_reqmgr(doc, **kwargs)
    message = str(exc.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("state", RUNNABLE)
def test_requests_no_agent_holds_are_run(state: str) -> None:
    doc = fixture("rereco_selection")
    doc["RequestStatus"] = state
    assert request_from_reqmgr(doc).request_name == doc["RequestName"]


@pytest.mark.parametrize("state", [s for s in REQMGR_STATES if s not in RUNNABLE])
def test_every_other_state_is_refused_by_name(state: str) -> None:
    doc = fixture("rereco_selection")
    doc["RequestStatus"] = state
    assert refusal(doc) == (
        f"RequestStatus {state!r}: WMS2 runs only requests in assigned, staging, staged "
        "(WMS2_REQMGR_RUNNABLE_STATES)"
    )


def test_an_announced_request_as_reqmgr2_stores_it_is_refused() -> None:
    doc = fixture("rereco_announced")
    assert doc["RequestTransition"][-1]["Status"] == "announced"
    assert refusal(doc).startswith("RequestStatus 'announced': WMS2 runs only requests in")


def test_an_unknown_state_is_not_a_reqmgr2_state() -> None:
    doc = fixture("rereco_selection")
    doc["RequestStatus"] = "Running"
    assert refusal(doc) == "RequestStatus 'Running' is not a ReqMgr2 request state"


def test_a_document_without_state_is_taken_as_assigned() -> None:
    """The catalog's and hand-written documents have no RequestStatus; ReqMgr2's always do."""
    doc = fixture("rereco_selection")
    doc.pop("RequestStatus")
    assert request_from_reqmgr(doc).request_name == doc["RequestName"]
    doc["RequestStatus"] = None
    assert request_from_reqmgr(doc).request_name == doc["RequestName"]


def test_the_runnable_states_are_a_setting() -> None:
    doc = fixture("rereco_selection")
    doc["RequestStatus"] = "acquired"
    assert Settings().reqmgr_runnable_states == list(RUNNABLE)
    taken = Settings(reqmgr_runnable_states=["assigned", "acquired"]).reqmgr_runnable_states
    assert request_from_reqmgr(doc, runnable_states=taken).request_name == doc["RequestName"]
    doc["RequestStatus"] = "staged"
    assert refusal(doc, runnable_states=taken) == (
        "RequestStatus 'staged': WMS2 runs only requests in assigned, acquired "
        "(WMS2_REQMGR_RUNNABLE_STATES)"
    )
    with pytest.raises(ValueError, match="'running' is not a ReqMgr2 request state"):
        Settings(reqmgr_runnable_states=["running"])


def test_dqmharvest_is_run_without_outputs() -> None:
    doc = fixture("dqmharvest")
    assert doc["OutputDatasets"] == []  # what it used to be refused for, by accident
    request = request_from_reqmgr(doc)  # tests/condor/test_harvesting.py runs it
    assert request.request_type == "DQMHarvest" and request.output_datasets == []


def test_a_resubmission_is_read_as_its_original_type_with_what_it_recovers() -> None:
    doc = fixture("resubmission_stepchain")
    request = request_from_reqmgr(doc)
    assert request.request_type == "Resubmission"
    assert [s.name for s in request.steps] == ["GENSIM", "DIGIPremix", "RECO"]
    assert request.recovery is not None
    assert request.recovery.original_request == doc["OriginalRequestName"]
    assert request.recovery.task_path == doc["InitialTaskPath"]
    assert request.recovery.collection == doc["CollectionName"]
    assert (request.recovery.acdc_server, request.recovery.acdc_database) == (
        "https://cmsweb.cern.ch/couchdb",
        "acdcserver",
    )
    # The original's datasets, with the original's processing versions: outputs append.
    assert request.output_datasets == doc["OutputDatasets"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("OriginalRequestName", "wms2test_StepChain_TTbar_Premix_261129_070640_1234"),
        ("InitialTaskPath", "/wms2test_StepChain_TTbar_Premix_261129_070640_1234/GENSIM"),
        ("ACDCServer", "https://cmsweb.cern.ch/couchdb"),
        ("ACDCDatabase", "acdcserver"),
    ],
)
def test_acdc_arguments_are_never_silently_ignored(field: str, value: str) -> None:
    """On a StepChain they would mean 'redo only the failed work': running the whole
    request instead would redo everything, so they are refused."""
    doc = fixture("stepchain_gen_premix")
    doc[field] = value
    assert refusal(doc) == (
        f"{field} {value!r} is set but RequestType is 'StepChain': "
        "only a Resubmission recovers failed work"
    )


@pytest.mark.parametrize(
    ("request_type", "message"),
    [
        ("MonteCarlo", "RequestType 'MonteCarlo' is not supported (WMCore retired MonteCarlo"),
        ("StoreResults", "RequestType 'StoreResults' is not supported"),
        ("PromptReco", "RequestType 'PromptReco' is not supported (Tier-0 types"),
        ("Reco", "RequestType 'Reco' is not a request type WMS2 runs (StepChain, TaskChain, "),
        ("TaskChain", "RequestType 'TaskChain' but the document has no TaskChain count"),
    ],
)
def test_other_request_types_are_refused_by_name(request_type: str, message: str) -> None:
    doc = fixture("rereco_selection")
    doc["RequestType"] = request_type
    assert refusal(doc).startswith(message)


def test_a_type_that_contradicts_the_chain_is_refused() -> None:
    doc = fixture("stepchain_gen_premix")
    doc["RequestType"] = "ReReco"
    assert refusal(doc) == "RequestType 'ReReco' but the document has StepChain 3"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["T1_US_FNAL", "T2_CH_CERN"], ["T1_US_FNAL", "T2_CH_CERN"]),
        ("T1_US_FNAL", ["T1_US_FNAL"]),
        ("T1_US_FNAL,T2_CH_CERN", ["T1_US_FNAL", "T2_CH_CERN"]),
        ("['T1_US_FNAL', 'T2_CH_CERN']", ["T1_US_FNAL", "T2_CH_CERN"]),
        (' [ "T1_US_FNAL" , "T2_CH_CERN" ] ', ["T1_US_FNAL", "T2_CH_CERN"]),
    ],
)
def test_a_site_whitelist_string_is_read_as_reqmgr2s_makelist(
    value: Any, expected: list[str]
) -> None:
    doc = fixture("rereco_selection")
    doc["SiteWhitelist"] = value
    doc["SiteBlacklist"] = "T2_CH_CSCS"
    r = request_from_reqmgr(doc)
    assert r.site_whitelist == expected and r.site_blacklist == ["T2_CH_CSCS"]
    assert make_list(value) == expected  # the helper is ReqMgr2's makeList
    assert make_list("") == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("SiteWhitelist", "T1_US_FNAL;T2_CH_CERN", "SiteWhitelist 'T1_US_FNAL;T2_CH_CERN' is"),
        ("SiteWhitelist", ["T2_CH"], "SiteWhitelist 'T2_CH' is not a CMS site name"),
        ("SiteBlacklist", {"T2_CH_CERN": 1}, "SiteBlacklist {'T2_CH_CERN': 1} is not a list"),
        ("RequestStatus", 3, "RequestStatus 3 is not a ReqMgr2 request state"),
    ],
)
def test_bad_values_are_one_line_naming_field_and_value(
    field: str, value: Any, message: str
) -> None:
    doc = copy.deepcopy(fixture("rereco_selection"))
    doc[field] = value
    assert re.match(re.escape(message), refusal(doc))


def test_the_import_activity_refuses_a_completed_request_and_reads_the_setting(
    deps: ActivityDeps,
) -> None:
    doc = fixture("rereco_selection")
    doc["RequestStatus"] = "completed"
    inp = ImportInput(request_name=doc["RequestName"], request_document=doc)
    with pytest.raises(ApplicationError) as exc:
        ActivityEnvironment().run(RequestActivities(deps).import_request, inp)
    assert exc.value.non_retryable and exc.value.type == "RequestImportError"
    assert exc.value.message.startswith("RequestStatus 'completed': WMS2 runs only requests in")
    with pytest.raises(RecordNotFound):
        deps.repo.get_request(doc["RequestName"])  # nothing recorded
    settings = deps.settings.model_copy(update={"reqmgr_runnable_states": ["completed"]})
    widened = dataclasses.replace(deps, settings=settings)
    res = ActivityEnvironment().run(RequestActivities(widened).import_request, inp)
    assert res.request_name == doc["RequestName"]


def test_the_reqmgr2_client_lists_the_requests_of_the_runnable_states() -> None:
    seen: list[httpx.URL] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req.url)
        return httpx.Response(200, json={"result": ["req_b", "req_a"]})

    http, _ = client("reqmgr2", handler)
    assert ReqMgrClient(http).request_names(RUNNABLE) == ["req_a", "req_b"]
    assert seen[0].path == "/reqmgr2/data/request"
    assert seen[0].params.get_list("status") == ["assigned", "staged", "staging"]
    assert seen[0].params["detail"] == "false"  # names only, as ReqMgr2's API answers them
