"""The operator's status table shows outputs by state, per dataset, and failed outputs."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from cli.status_view import merged_files_table, outputs_summary, render_state, request_list
from wms2.memory import ledger
from wms2.memory.ledger import MemoryBump
from wms2.messages import RequestState
from wms2.models import RequestStatus
from wms2.outputs.messages import OutputProgress


def test_outputs_by_state_per_dataset_and_failures() -> None:
    s = RequestState(request_name="req_x", status=RequestStatus.ACTIVE)
    s.outputs_by_state = {"announced": 3, "failed": 1}
    s.outputs = {
        "/A/B-v1/AODSIM": OutputProgress(
            dataset="/A/B-v1/AODSIM",
            counts={"announced": 3, "failed": 1},
            failures=["mg_000002: register_output_in_dbs refused: HTTP 400"],
        )
    }
    out = io.StringIO()
    Console(file=out, width=200).print(render_state(s))
    text = out.getvalue()
    assert "outputs announced" in text and "outputs failed" in text
    assert "/A/B-v1/AODSIM: announced 3, failed 1" in text
    assert "mg_000002: register_output_in_dbs refused: HTTP 400" in text
    assert outputs_summary({}) == "none yet"
    assert outputs_summary({"transferring": 2, "announced": 1}) == "announced 1, transferring 2"


def test_a_rerun_shows_its_run_number() -> None:
    def text_of(s: RequestState) -> str:
        out = io.StringIO()
        Console(file=out, width=200).print(render_state(s))
        return out.getvalue()

    assert "--rerun" not in text_of(RequestState(request_name="req_x"))
    assert "2 (submitted again with --rerun)" in text_of(RequestState(request_name="req_x", run=2))


def test_list_never_cuts_a_request_name_at_80_columns() -> None:
    long = "pdmvserv_task_QCD-Run3Summer23DRPremix-00042__v1_T_261120_101500_4242"
    rows = [
        (
            long,
            "active",
            "37/120",
            "110000",
            "Run3Summer23DRPremix",
            "StepChain",
            "yes",
            "2026-11-30 12:00:00",
        ),
        ("req_short", "queued", "0/8", "90000", "C", "ReReco", "", "2026-11-30 12:01:00"),
    ]
    out = io.StringIO()
    Console(file=out, width=80).print(request_list(rows, 80))
    lines = out.getvalue().splitlines()
    assert long in lines and all(len(line) <= 80 for line in lines)
    assert (
        "    active STUCK  units 37/120  priority 110000  StepChain  Run3Summer23DRPremix"
        in lines[1]
    )
    # Wide enough: a table, one row per request.
    out = io.StringIO()
    Console(file=out, width=200).print(request_list(rows, 200))
    table = out.getvalue().splitlines()
    assert sum(long in line for line in table) == 1
    assert any("37/120" in line for line in table) and "units" in table[1]
    assert "no requests match" in str(request_list([], 80))


def test_the_demos_merged_files_table_fits_80_columns() -> None:
    dataset = (
        "/MinBias_TuneCP5_13p6TeV-pythia8/RunIII2024Summer24GS-"
        "140X_mcRun3_2024_realistic_v26-v1/GEN-SIM"
    )
    directory = (
        "/store/mc/RunIII2024Summer24GS/MinBias_TuneCP5_13p6TeV-pythia8/GEN-SIM/"
        "140X_mcRun3_2024_realistic_v26-v1/000000"
    )
    rows = [
        {
            "unit": f"mg_{i:06d}",
            "dataset": dataset,
            "lfn": f"{directory}/3f2b9c1e-5d7a-5b2e-9f1c-{i:012d}.root",
            "size": 123_456_789,
            "events": 4500,
            "adler32": "0a1b2c3d",
            "state": "announced",
        }
        for i in range(3)
    ]
    name = "cmsunified_task_GEN-RunIII2024Summer24GS-00002__v1_T_261121_080000_1359"
    out = io.StringIO()
    Console(file=out, width=80).print(merged_files_table(name, rows))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    for i in range(3):
        assert f"mg_{i:06d}" in text and "3f2b9c1e…" in text
    assert "GEN-SIM" in text and "123.5" in text and "announced" in text
    # Longer than a line: folded, never cut.
    joined = "".join(line.strip() for line in text.splitlines())
    assert dataset in joined and directory in joined and name in text


def test_status_shows_the_dags_memory_raises(tmp_path: Path) -> None:
    s = RequestState(request_name="req_x", dag_file=str(tmp_path / "workflow.dag"))
    ledger.record(
        tmp_path,
        [
            MemoryBump("proc_000001", "12.0", 2000, 3000, "evicted", 2400.0, at=0),
            MemoryBump("proc_000002", "13.0", 2000, 3000, "released", None, "memory", at=0),
        ],
    )
    out = io.StringIO()
    Console(file=out, width=200).print(render_state(s))
    text = out.getvalue()
    assert "2 memory raise(s) of 2 job(s): 1 evicted, 1 released" in text
    assert "proc_000001 evicted: 2000 -> 3000 MB, used 2400 MB" in text
    assert "proc_000002 released: 2000 -> 3000 MB" in text


def test_the_merged_files_state_is_whole_for_the_longest_tier() -> None:
    """MINIAODSIM, the longest tier the demo writes, left "announc…" at 80 columns."""
    rows = [
        {"unit": "mg_000001", "dataset": "/QCD/Run3Summer23MiniAODv4-v1/MINIAODSIM",
         "lfn": "/store/mc/x/774c4d62-1111-2222-3333-444455556666.root", "size": 300_000,
         "events": 5988, "adler32": "4edcae53", "state": "announced"}
    ]  # fmt: skip
    out = io.StringIO()
    Console(file=out, width=80).print(merged_files_table("req", rows))
    row = next(line for line in out.getvalue().splitlines() if "mg_000001" in line)
    assert "MINIAODSIM" in row and "announced" in row and len(row) <= 80, row
