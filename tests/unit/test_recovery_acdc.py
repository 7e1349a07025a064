"""Recovery of work WMCore ran: the failed jobs read from an ACDC collection in the shapes
WMCore's CouchDB stores (view ACDC/coll_fileset_docs), over a fake httpx transport and
from the offline catalog, and what planning makes of them."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.conftest import SAMPLE_CATALOG
from wms2.models import SplittingAlgo
from wms2.planning.splitting import Resources, SplitInput, split
from wms2.recovery.acdc import work_from_acdc
from wms2.recovery.work import RecoveryError, apply_recovery
from wms2.recovery_spec import SOURCE_ACDC, Recovery
from wms2.services.acdc import ACDCClient
from wms2.services.catalog import OfflineCatalog
from wms2.services.errors import ServiceRequestError
from wms2.services.http import ServiceClient

ORIGINAL = "pdmvserv_task_GEN-Run3Summer23-00001_261101_000000_1111"
FILESET = f"/{ORIGINAL}/GEN"


def fake_file(first_event: int, events: int, lumis: list[int]) -> dict[str, Any]:
    """One MCFakeFile record as WMCore's File.json() writes it into an ACDC document."""
    return {
        "last_event": 0,
        "first_event": first_event,
        "lfn": "MCFakeFile-ef0c7d5a3b4c1e2f9a8b7c6d5e4f3a2b",
        "locations": ["T1_US_FNAL_Disk"],
        "id": None,
        "checksums": {},
        "events": events,
        "merged": "0",
        "size": 0,
        "runs": [{"run_number": 1, "lumis": lumis}],
        "parents": [],
    }


def doc(files: list[dict[str, Any]], version: int = 2) -> dict[str, Any]:
    return {
        "_id": f"d{len(files)}{version}",
        "collection_name": ORIGINAL,
        "collection_type": "ACDC.CollectionTypes.DataCollection",
        "fileset_name": FILESET,
        "files": {f["lfn"]: f for f in files},
        "acdc_version": version,
        "timestamp": 1764500000.0,
    }


def view_answer(docs: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [{"id": d["_id"], "key": [ORIGINAL, FILESET], "value": None, "doc": d} for d in docs]
    return {"total_rows": len(rows), "offset": 0, "rows": rows}


GEN_DOCS = [
    doc([fake_file(1001, 500, [3, 4])]),  # job 3 of 500-event jobs, 250 events per lumi
    doc([fake_file(1001, 500, [3, 4])]),  # uploaded twice by the ErrorHandler
    # An ACDC document from before acdc_version 2 lists the mask's upper lumi as well.
    doc([fake_file(2501, 500, [11, 12, 13])], version=1),
]


def test_the_acdc_client_asks_the_view_as_wmcore_does_and_keeps_each_failed_range() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json=view_answer(GEN_DOCS))

    def build(server: str) -> ServiceClient:
        return ServiceClient.build("acdc", server, transport=httpx.MockTransport(handler))

    acdc = ACDCClient(build)
    docs = acdc.fileset_docs("https://cmsweb.example/couchdb", "acdcserver", ORIGINAL, FILESET)
    [req] = seen
    assert req.method == "POST"
    assert req.url.path == "/couchdb/acdcserver/_design/ACDC/_view/coll_fileset_docs"
    assert dict(req.url.params) == {"include_docs": "true", "reduce": "false"}
    assert json.loads(req.content) == {"keys": [[ORIGINAL, FILESET]]}

    work = work_from_acdc(docs, "acdcserver")
    assert work.units == 3
    assert [(r.first_event, r.events, r.lumis) for r in work.ranges] == [
        (1001, 500, (3, 4)),
        (2501, 500, (11, 12)),  # the extra lumi of a version-1 document dropped
    ]
    assert (work.events, work.lumi_count, work.files) == (1000, 4, set())


def test_recovered_generation_keeps_its_first_events_and_lumis_when_cut_smaller() -> None:
    recovery = Recovery(
        original_request=ORIGINAL, original_type="StepChain", task_path=FILESET, collection=ORIGINAL
    )
    work = work_from_acdc(GEN_DOCS, "acdcserver")
    params = {"request_num_events": 50000, "events_per_job": 250, "events_per_lumi": 250}
    params, counted = apply_recovery(params, recovery, work, SOURCE_ACDC, generation=True)
    assert counted.describe() == (
        f"recovery of {ORIGINAL} from ACDC acdcserver/{ORIGINAL}: "
        "3 failed job record(s), 1000 event(s), 4 lumi(s)"
    )
    res = Resources(time_per_event_sec=1.0, size_per_event_kb=10.0, memory_mb=2000)
    nodes = split(SplitInput(SplittingAlgo.EVENT_BASED, params, [], {}, res, generation=True)).nodes
    # 250 events per job now: each range is cut at its lumis, every event keeps its lumi.
    assert [(n.first_event, n.last_event, n.lumis) for n in nodes] == [
        (1001, 1250, [(1, 3)]),
        (1251, 1500, [(1, 4)]),
        (2501, 2750, [(1, 11)]),
        (2751, 3000, [(1, 12)]),
    ]


def test_data_records_merge_per_file_and_become_a_lumi_mask() -> None:
    answer = json.loads(
        (
            SAMPLE_CATALOG
            / "acdc/acdcserver/pdmvserv_Run2024C_JetMET0_ReReco_v1_261118_070000_2424.json"
        ).read_text()
    )
    work = work_from_acdc([r["doc"] for r in answer["rows"]], "acdcserver")
    base = "/store/data/Run2024C/JetMET0/RAW/v1/000000/"
    assert work.files == {base + "00000001.root", base + "00000003.root", base + "00000004.root"}
    assert work.lumi_mask() == {"379415": [[4, 6], [10, 11], [13, 13]]}
    assert work.lumi_count == 6


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            [{"lfn": "/store/unmerged/x.root", "runs": [{"run_number": 1, "lumis": [1]}]}],
            "records unmerged file /store/unmerged/x.root (a failed merge)",
        ),
        ([{"lfn": "/store/data/x.root", "runs": []}], "ACDC file '/store/data/x.root' has no runs"),
        (
            [
                fake_file(1, 10, [1]),
                {"lfn": "/store/data/y.root", "runs": [{"run_number": 5, "lumis": [1]}]},
            ],
            "mixes generated event ranges and input files",
        ),
    ],
)
def test_collections_wms2_cannot_rerun_are_refused_in_one_line(
    files: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(RecoveryError, match=re.escape(message)):
        work_from_acdc([doc(files)], "acdcserver/c")


def test_the_offline_catalog_serves_collections_and_checks_the_database(
    catalog: OfflineCatalog,
) -> None:
    name = "pdmvserv_Run2024C_JetMET0_ReReco_v1_261118_070000_2424"
    docs = catalog.fileset_docs("https://x/couchdb", "acdcserver", name, f"/{name}/DataProcessing")
    assert len(docs) == 3 and all(d["collection_name"] == name for d in docs)
    assert catalog.fileset_docs("https://x/couchdb", "acdcserver", name, f"/{name}/Other") == []
    with pytest.raises(
        ServiceRequestError, match=re.escape("ACDCDatabase '../etc' is not a database name")
    ):
        catalog.fileset_docs("https://x/couchdb", "../etc", name, "/x/y")
    with pytest.raises(ServiceRequestError, match="ACDC collection 'nope' is not in acdcserver"):
        catalog.fileset_docs("https://x/couchdb", "acdcserver", "nope", "/nope/y")


def test_the_status_screens_say_which_request_is_recovered_and_how_much() -> None:
    from rich.console import Console

    from cli.status_view import render_state
    from wms2.messages import RequestState
    from workflows.visibility import details

    line = f"recovery of {ORIGINAL} from ACDC acdcserver/{ORIGINAL}: 3 failed job record(s)"
    s = RequestState(request_name="acdc_1", request_type="Resubmission", recovery=line)
    assert line in details(s).splitlines()
    console = Console(width=300, record=True)
    console.print(render_state(s))
    assert f"recovers {line}" in " ".join(console.export_text().replace("│", " ").split())
