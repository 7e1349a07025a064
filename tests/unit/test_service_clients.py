"""ReqMgr2, DBS and Rucio clients against mock transports shaped like the real services."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from wms2.services.dbs import DBSClient
from wms2.services.errors import NotFoundError, ServiceRequestError, ServiceUnavailable
from wms2.services.http import ServiceClient
from wms2.services.protocols import FileQuery, RuleState
from wms2.services.reqmgr import ReqMgrClient
from wms2.services.rucio import RucioClient, rse_to_site

Handler = Callable[[httpx.Request], httpx.Response]


def client(name: str, handler: Handler, retries: int = 3) -> tuple[ServiceClient, list[float]]:
    sleeps: list[float] = []
    http = ServiceClient.build(
        name,
        f"https://cmsweb.example/{name}",
        transport=httpx.MockTransport(handler),
        retries=retries,
        sleep=sleeps.append,
    )
    return http, sleeps


def test_reqmgr_unwraps_the_result_envelope() -> None:
    seen: list[httpx.URL] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req.url)
        return httpx.Response(200, json={"result": [{"req_1": {"RequestName": "req_1", "X": 1}}]})

    http, _ = client("reqmgr2", handler)
    assert ReqMgrClient(http).get_request("req_1") == {"RequestName": "req_1", "X": 1}
    assert seen[0].path == "/reqmgr2/data/request"  # no doubled /reqmgr2
    assert seen[0].params["name"] == "req_1"


def test_reqmgr_empty_result_is_not_found() -> None:
    http, _ = client("reqmgr2", lambda r: httpx.Response(200, json={"result": []}))
    with pytest.raises(NotFoundError, match="request 'ghost' does not exist"):
        ReqMgrClient(http).get_request("ghost")


def test_5xx_is_retried_with_backoff_then_succeeds() -> None:
    calls = iter([503, 502, 200])

    def handler(req: httpx.Request) -> httpx.Response:
        code = next(calls)
        return httpx.Response(code, json={"result": [{"r": {"ok": True}}]} if code == 200 else None)

    http, sleeps = client("reqmgr2", handler)
    assert ReqMgrClient(http).get_request("r") == {"ok": True}
    assert sleeps == [0.5, 1.0]


def test_transport_errors_exhaust_into_service_unavailable() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=req)

    http, sleeps = client("dbs", handler, retries=2)
    with pytest.raises(ServiceUnavailable, match=r"ConnectError.*gave up after 3 attempts"):
        DBSClient(http).list_blocks("/A/B-v1/RAW")
    assert len(sleeps) == 2


def test_4xx_is_not_retried_and_names_the_call() -> None:
    calls: list[int] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(400, text="invalid parameter 'limit'")

    http, sleeps = client("dbs", handler)
    with pytest.raises(ServiceRequestError, match=r"GET /files was refused with HTTP 400: invalid"):
        DBSClient(http).list_files(FileQuery("/A/B-v1/RAW"))
    assert calls == [1] and sleeps == []


DBS_FILES = [
    {
        "logical_file_name": "/store/b.root",
        "file_size": 2000,
        "event_count": 20,
        "adler32": "0000abcd",
        "is_file_valid": 1,
        "block_name": "/A/B-v1/RAW#2",
    },
    {
        "logical_file_name": "/store/a.root",
        "file_size": 1000,
        "event_count": 10,
        "adler32": "00001234",
        "is_file_valid": 1,
        "block_name": "/A/B-v1/RAW#1",
    },
    {
        "logical_file_name": "/store/bad.root",
        "file_size": 5,
        "event_count": 1,
        "adler32": "1",
        "is_file_valid": 0,
        "block_name": "/A/B-v1/RAW#1",
    },
]
DBS_LUMIS = [
    {"logical_file_name": "/store/a.root", "run_num": 100, "lumi_section_num": [1, 2, 3]},
    {"logical_file_name": "/store/b.root", "run_num": 101, "lumi_section_num": 7},
]


def dbs_handler(req: httpx.Request) -> httpx.Response:
    assert "limit" not in req.url.params  # DBS refuses it
    path = req.url.path.rsplit("/", 1)[-1]
    if path == "files":
        assert req.url.params["detail"] == "1"
        return httpx.Response(200, json=DBS_FILES)
    if path == "blocks":
        return httpx.Response(
            200, json=[{"block_name": "/A/B-v1/RAW#1"}, {"block_name": "/A/B-v1/RAW#2"}]
        )
    if path == "filelumis":
        block = req.url.params["block_name"]
        lfn = {"/A/B-v1/RAW#1": "/store/a.root", "/A/B-v1/RAW#2": "/store/b.root"}[block]
        return httpx.Response(200, json=[r for r in DBS_LUMIS if r["logical_file_name"] == lfn])
    return httpx.Response(404)


def test_dbs_files_sorted_valid_only_with_checksums() -> None:
    http, _ = client("dbs", dbs_handler)
    files = DBSClient(http).list_files(FileQuery("/A/B-v1/RAW"))
    assert [(f.lfn, f.size_bytes, f.events, f.checksums) for f in files] == [
        ("/store/a.root", 1000, 10, {"adler32": "00001234"}),
        ("/store/b.root", 2000, 20, {"adler32": "0000abcd"}),
    ]


def test_dbs_run_whitelist_and_lumi_mask() -> None:
    http, _ = client("dbs", dbs_handler)
    dbs = DBSClient(http)
    assert dbs.file_lumis(FileQuery("/A/B-v1/RAW", lumi_mask={"100": [[2, 3]]})) == {
        "/store/a.root": [(100, 2), (100, 3)]
    }
    only_101 = dbs.list_files(FileQuery("/A/B-v1/RAW", run_whitelist=[101]))
    assert [f.lfn for f in only_101] == ["/store/b.root"]
    not_101 = dbs.list_files(FileQuery("/A/B-v1/RAW", run_blacklist=[101]))
    assert [f.lfn for f in not_101] == ["/store/a.root"]


def test_dbs_block_lists_cut_files() -> None:
    http, _ = client("dbs", dbs_handler)
    dbs = DBSClient(http)
    files = dbs.list_files(FileQuery("/A/B-v1/RAW", block_blacklist=["/A/B-v1/RAW#1"]))
    assert [f.lfn for f in files] == ["/store/b.root"]  # b.root is in block #2
    files = dbs.list_files(FileQuery("/A/B-v1/RAW", block_whitelist=["/A/B-v1/RAW#1"]))
    assert [f.lfn for f in files] == ["/store/a.root"]


def test_dbs_file_parents_of_both_answer_shapes() -> None:
    # DBS3: one row per file, parents as a list; dbs2go: one row per (file, parent).
    answers = {
        "/store/a.root": [
            {
                "logical_file_name": "/store/a.root",
                "parent_logical_file_name": ["/store/pa1.root", "/store/pa2.root"],
            }
        ],
        "/store/b.root": [
            {"logical_file_name": "/store/b.root", "parent_logical_file_name": "/store/pb1.root"},
            {"logical_file_name": "/store/b.root", "parent_logical_file_name": "/store/pb2.root"},
        ],
        "/store/c.root": [],
    }

    def handler(req: httpx.Request) -> httpx.Response:
        assert req.url.path.endswith("/fileparents")
        return httpx.Response(200, json=answers[req.url.params["logical_file_name"]])

    http, _ = client("dbs", handler)
    assert DBSClient(http).file_parents(list(answers)) == {
        "/store/a.root": ["/store/pa1.root", "/store/pa2.root"],
        "/store/b.root": ["/store/pb1.root", "/store/pb2.root"],
        "/store/c.root": [],
    }


@pytest.mark.parametrize(
    ("rse", "site"),
    [
        ("T1_US_FNAL_Disk", "T1_US_FNAL"),
        ("T2_CH_CERN", "T2_CH_CERN"),
        ("T1_IT_CNAF_Tape", None),
        ("T2_US_MIT_Test", "T2_US_MIT"),
        ("T0_CH_CERN_Temp", "T0_CH_CERN"),
    ],
)
def test_rse_names_become_site_names(rse: str, site: str | None) -> None:
    assert rse_to_site(rse) == site


def rucio_handler(state: dict) -> Handler:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path.endswith("/auth/x509"):
            state["auth"] += 1
            assert req.headers["X-Rucio-Account"] == "wms2"
            return httpx.Response(200, headers={"X-Rucio-Auth-Token": "tok"})
        assert req.headers["X-Rucio-Auth-Token"] == "tok"
        if req.url.path.endswith("/replicas/list"):
            body = json.loads(req.content)
            lines = [
                {
                    "scope": "cms",
                    "name": d["name"],
                    "rses": {"T1_US_FNAL_Disk": ["root://x"], "T1_IT_CNAF_Tape": ["root://y"]}
                    if d["name"] != "/store/tape_only.root"
                    else {"T1_IT_CNAF_Tape": ["root://y"]},
                }
                for d in body["dids"]
            ]
            return httpx.Response(200, text="\n".join(json.dumps(x) for x in lines))
        if req.url.path.endswith("/rules/") and req.method == "POST":
            state["rule"] = json.loads(req.content)
            return httpx.Response(201, json=["rule123"])
        if req.url.path.endswith("/rules/rule123") and req.method == "GET":
            return httpx.Response(
                200,
                json={
                    "id": "rule123",
                    "state": "REPLICATING",
                    "rse_expression": "T1_US_FNAL_Disk",
                    "locks_ok_cnt": 1,
                    "locks_replicating_cnt": 2,
                    "locks_stuck_cnt": 0,
                },
            )
        if req.url.path.endswith("/rules/rule123") and req.method == "DELETE":
            state["deleted"] = True
            return httpx.Response(200)
        return httpx.Response(404, text="RuleNotFound")

    return handler


def test_rucio_replicas_rules_and_token_reuse() -> None:
    state = {"auth": 0}
    http, _ = client("rucio", rucio_handler(state))
    rucio = RucioClient(http, "wms2")
    assert rucio.replicas(["/store/a.root", "/store/tape_only.root"]) == {
        "/store/a.root": ["T1_US_FNAL"],
        "/store/tape_only.root": [],
    }
    # Both have a copy on CNAF's tape; only one has none on disk (it is staged).
    assert rucio.on_tape(["/store/a.root", "/store/tape_only.root"]) == {
        "/store/a.root",
        "/store/tape_only.root",
    }
    rule_id = rucio.create_rule(
        ["/A/B-v1/AOD#1"],
        "T1_US_FNAL_Disk",
        copies=1,
        lifetime=3600,
        comment="wms2 source protection",
    )
    assert rule_id == "rule123"
    assert state["rule"]["dids"] == [{"scope": "cms", "name": "/A/B-v1/AOD#1"}]
    assert state["rule"]["copies"] == 1 and state["rule"]["lifetime"] == 3600
    assert state["rule"]["grouping"] == "DATASET" and state["rule"]["account"] == "wms2"
    rule = rucio.get_rule("rule123")
    assert rule.state is RuleState.REPLICATING and rule.locks_replicating == 2
    rucio.delete_rule("rule123")
    assert state["deleted"] and state["auth"] == 1
    with pytest.raises(NotFoundError, match="HTTP 404: RuleNotFound"):
        rucio.get_rule("nope")


def test_rucio_duplicate_rule_reuses_the_existing_one_and_reads_subscriptions() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        path = request.url.path
        if path.endswith("/auth/x509"):
            return httpx.Response(200, headers={"X-Rucio-Auth-Token": "tok"})
        if path.endswith("/rules/") and request.method == "POST":
            return httpx.Response(409, text="DuplicateRule: a rule already exists")
        if "/dids/cms/" in path and path.endswith("/rules"):
            rows = [
                {"id": "other", "rse_expression": "T2_CH_CERN", "account": "wms2"},
                {"id": "mine", "rse_expression": "T1_US_FNAL_Disk", "account": "wms2"},
            ]
            return httpx.Response(200, text="\n".join(json.dumps(r) for r in rows))
        if path.endswith("/subscriptions/wms2"):
            subs = [
                {
                    "state": "ACTIVE",
                    "filter": json.dumps({"pattern": "/AODSIM$", "scope": ["cms"]}),
                    "replication_rules": json.dumps(
                        [{"rse_expression": "T1_US_FNAL_Disk", "copies": 1}]
                    ),
                },
                {
                    "state": "INACTIVE",
                    "filter": json.dumps({"pattern": ".*"}),
                    "replication_rules": json.dumps([{"rse_expression": "T2_CH_CERN"}]),
                },
                {
                    "state": "ACTIVE",
                    "filter": json.dumps({"pattern": "MINIAOD"}),
                    "replication_rules": json.dumps([{"rse_expression": "T2_IT_Pisa"}]),
                },
            ]
            return httpx.Response(200, text="\n".join(json.dumps(s) for s in subs))
        return httpx.Response(404, text="nope")

    http, _ = client("rucio", handler)
    rucio = RucioClient(http, "wms2")
    assert rucio.create_rule(["/A/B-v1/AODSIM#1"], "T1_US_FNAL_Disk") == "mine"
    assert rucio.destinations("/A/B-v1/AODSIM") == ["T1_US_FNAL_Disk"]
    assert rucio.destinations("/A/B-v1/MINIAODSIM") == ["T2_IT_Pisa"]


def test_dbs_writer_inserts_a_block_once_closes_and_invalidates() -> None:
    blocks: dict[str, dict] = {}
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path} {request.url.query.decode()}")
        path = request.url.path
        if path.endswith("/DBSReader/blocks"):
            name = request.url.params["block_name"]
            return httpx.Response(200, json=[{"block_name": name}] if name in blocks else [])
        if path.endswith("/bulkblocks"):
            doc = json.loads(request.content)
            blocks[doc["block"]["block_name"]] = doc
            return httpx.Response(200, json=None)
        if path.endswith("/DBSWriter/blocks") and request.method == "PUT":
            return httpx.Response(200)
        if path.endswith("/DBSWriter/files") and request.method == "PUT":
            return httpx.Response(200)
        return httpx.Response(400, text="bad call")

    def build(kind: str) -> ServiceClient:
        return ServiceClient.build(
            "dbs", f"https://cmsweb.example/dbs/prod/global/{kind}",
            transport=httpx.MockTransport(handler), retries=0, sleep=lambda s: None,
        )  # fmt: skip

    from wms2.outputs import BlockFile, bulk_block
    from wms2.services.dbs import DBSWriterClient

    writer = DBSWriterClient(build("DBSWriter"), DBSClient(build("DBSReader")))
    doc = bulk_block(
        "/Prim/Era-Proc-v1/AODSIM",
        "/Prim/Era-Proc-v1/AODSIM#abc",
        "T2_CH_CERN",
        [BlockFile("/store/mc/a.root", 10, 5, "0000abcd", [(1, 1), (1, 2)])],
    )
    assert writer.insert_block(doc) is True
    assert writer.insert_block(doc) is False  # a retry finds it and inserts nothing
    assert [c for c in calls if "bulkblocks" in c] == [
        "POST /dbs/prod/global/DBSWriter/bulkblocks "
    ]
    sent = blocks["/Prim/Era-Proc-v1/AODSIM#abc"]
    assert sent["files"][0]["file_lumi_list"] == [
        {"run_num": 1, "lumi_section_num": 1},
        {"run_num": 1, "lumi_section_num": 2},
    ]
    assert sent["dataset"]["dataset_access_type"] == "PRODUCTION"
    assert sent["primds"]["primary_ds_name"] == "Prim"
    assert sent["acquisition_era"]["acquisition_era_name"] == "Era"
    assert sent["block"]["file_count"] == 1 and sent["block"]["block_size"] == 10
    writer.close_block("/Prim/Era-Proc-v1/AODSIM#abc")
    writer.invalidate_file("/store/mc/a.root")
    assert calls[-2].startswith("PUT /dbs/prod/global/DBSWriter/blocks block_name=")
    assert "open_for_writing=0" in calls[-2]
    assert calls[-1].endswith("logical_file_name=%2Fstore%2Fmc%2Fa.root&is_file_valid=0")


def rule_answer(state: str) -> Handler:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path.endswith("/auth/x509"):
            return httpx.Response(200, headers={"X-Rucio-Auth-Token": "tok"})
        return httpx.Response(
            200, json={"id": "r1", "state": state, "rse_expression": "T2_CH_CERN", "name": "/A#1"}
        )

    return handler


@pytest.mark.parametrize(
    ("state", "attention"),
    [
        ("OK", False),
        ("REPLICATING", False),
        ("INJECT", False),
        ("STUCK", True),
        ("SUSPENDED", True),
        ("WAITING_APPROVAL", True),
    ],
)
def test_every_rucio_rule_state_is_read(state: str, attention: bool) -> None:
    http, _ = client("rucio", rule_answer(state))
    rule = RucioClient(http, "wms2").get_rule("r1")
    assert rule.state is RuleState(state) and rule.state.needs_attention is attention


def test_an_unknown_rule_state_is_a_clear_refusal() -> None:
    http, _ = client("rucio", rule_answer("BROKEN_BY_UPGRADE"))
    with pytest.raises(ServiceRequestError, match="rule r1 has state 'BROKEN_BY_UPGRADE', which"):
        RucioClient(http, "wms2").get_rule("r1")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"name": "/store/a.root", "rses": {"T2_CH_CERN": []}}\n', ["T2_CH_CERN"]),
        ('[{"name": "/store/a.root", "rses": {"T2_CH_CERN": []}}]', ["T2_CH_CERN"]),
    ],
)
def test_replicas_read_streamed_and_listed_answers(body: str, expected: list[str]) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path.endswith("/auth/x509"):
            return httpx.Response(200, headers={"X-Rucio-Auth-Token": "tok"})
        return httpx.Response(200, text=body)

    http, _ = client("rucio", handler)
    assert RucioClient(http, "wms2").replicas(["/store/a.root"]) == {"/store/a.root": expected}


@pytest.mark.parametrize("body", ["<html>proxy error</html>", '"just a string"\n', "[1, 2]"])
def test_replicas_refuse_anything_else_clearly(body: str) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path.endswith("/auth/x509"):
            return httpx.Response(200, headers={"X-Rucio-Auth-Token": "tok"})
        return httpx.Response(200, text=body)

    http, _ = client("rucio", handler)
    with pytest.raises(ServiceRequestError, match="rucio: answer"):
        RucioClient(http, "wms2").replicas(["/store/a.root"])


# dbs2go's files?detail=1 as it answers when rows are per file and run: the same file
# repeated, an unknown event count (null) and no checksum ("NOTSET").
DBS2GO_FILES = [
    {
        "adler32": "NOTSET",
        "block_id": 41,
        "block_name": "/A/B-v1/RAW#1",
        "branch_hash_id": None,
        "check_sum": "1504266448",
        "create_by": "/DC=ch/DC=cern/OU=computers/CN=tier0/vocms001.cern.ch",
        "creation_date": 1714040000,
        "dataset": "/A/B-v1/RAW",
        "dataset_id": 7,
        "event_count": None,
        "file_id": 1001,
        "file_size": 3000,
        "file_type": "EDM",
        "file_type_id": 1,
        "is_file_valid": 1,
        "last_modification_date": 1714040000,
        "last_modified_by": "/DC=ch/DC=cern/OU=computers/CN=tier0/vocms001.cern.ch",
        "logical_file_name": "/store/c.root",
        "md5": None,
        "run_num": run,
    }
    for run in (100, 101, 102)
]


def test_dbs2go_rows_per_file_and_run_are_one_file_of_unknown_events() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=DBS2GO_FILES)

    http, _ = client("dbs", handler)
    [f] = DBSClient(http).list_files(FileQuery("/A/B-v1/RAW"))
    assert (f.lfn, f.size_bytes, f.events, f.checksums) == ("/store/c.root", 3000, None, {})
    assert f.block == "/A/B-v1/RAW#1"
