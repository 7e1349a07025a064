from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from wms2.dagman.records import NodeRecord, write_status_file
from wms2.dagman.status import (
    DONE,
    MergeReportError,
    MetricsFileError,
    StatusFileIncomplete,
    newly_completed_work_units,
    parse_ads,
    read_merge_output,
    read_metrics,
    read_status_file,
    snapshot_from_ads,
)

os.environ.setdefault("CONDOR_CONFIG", "/dev/null")
import classad2

# Shaped like what condor_dagman writes: comments, a multi-line list, escapes, ';' in strings.
DAGMAN_TEXT = """[
  Type = "DagStatus";
  DagFiles = {
    "workflow.dag"
  };
  Timestamp = 1700000000; /* "Tue Nov 14 22:13:20 2023" */
  DagStatus = 3; /*"STATUS_SUBMITTED ()"*/
  NodesTotal = 3;
  NodesDone = 1;
  NodesPre = 0;
  NodesQueued = 1;
  NodesPost = 0;
  NodesReady = 0;
  NodesUnready = 0;
  NodesFutile = 0;
  NodesFailed = 1;
  JobProcsHeld = 0;
  JobProcsIdle = 1;
]
[
  Type = "NodeStatus";
  Node = "mg_000000";
  NodeStatus = 5; /* "STATUS_DONE" */
  StatusDetails = "";
  RetryCount = 0;
  JobProcsQueued = 0;
  JobProcsHeld = 0;
]
[
  Type = "NodeStatus";
  Node = "mg_000001";
  NodeStatus = 6; /* "STATUS_ERROR" */
  StatusDetails = "Job proc (12.0.0) failed; said \\"no\\" [sic]";
  RetryCount = 2;
  JobProcsQueued = 0;
  JobProcsHeld = 0;
]
[
  Type = "NodeStatus";
  Node = "mg_000002";
  NodeStatus = 3; /* "STATUS_SUBMITTED" */
  StatusDetails = "not_idle";
  RetryCount = 0;
  JobProcsQueued = 1;
  JobProcsHeld = 0;
]
[
  Type = "StatusEnd";
  EndTime = 1700000000; /* "Tue Nov 14 22:13:20 2023" */
  NextUpdate = 1700000060; /* "Tue Nov 14 22:14:20 2023" */
]
"""


def classad_reference(text: str) -> list[dict]:
    return [
        {k: (list(v) if isinstance(v, list) else v) for k, v in ad.items()}
        for ad in classad2.parseAds(text)
    ]


def test_reader_agrees_with_classad2_on_dagman_text() -> None:
    assert parse_ads(DAGMAN_TEXT) == classad_reference(DAGMAN_TEXT)


def test_reader_agrees_with_classad2_on_the_local_runner_output(tmp_path: Path) -> None:
    path = tmp_path / "x.status"
    nodes = [
        NodeRecord("a", DONE),
        NodeRecord("b", 6, 'failed "badly"; exit 3', 2),
        NodeRecord("c"),
    ]
    write_status_file(path, tmp_path / "x.dag", 2, nodes, 0)
    text = path.read_text()
    assert parse_ads(text) == classad_reference(text)


def test_snapshot() -> None:
    snap = snapshot_from_ads(parse_ads(DAGMAN_TEXT))
    assert snap.dag_status == 3 and snap.counts["NodesFailed"] == 1 and not snap.finished
    assert snap.nodes["mg_000001"].details == 'Job proc (12.0.0) failed; said "no" [sic]'
    assert snap.nodes["mg_000001"].retries == 2
    assert newly_completed_work_units(snap, []) == ["mg_000000"]
    assert newly_completed_work_units(snap, ["mg_000000"]) == []


def test_incomplete_and_missing_files(tmp_path: Path) -> None:
    cut = DAGMAN_TEXT[: DAGMAN_TEXT.index('Type = "StatusEnd"')]
    with pytest.raises(StatusFileIncomplete):
        snapshot_from_ads(parse_ads(cut))
    assert read_status_file(tmp_path / "none") is None
    assert read_metrics(tmp_path / "none") is None


def test_metrics_and_merge_reports(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text(
        json.dumps(
            {
                "metrics_version": 2,
                "exitcode": 1,
                "nodes": 4,
                "nodes_succeeded": 3,
                "nodes_failed": 1,
                "jobs_submitted": 5,
                "duration": 2.5,
            }
        )
    )
    m = read_metrics(tmp_path / "m.json")
    assert (m.exit_code, m.nodes_failed, m.jobs_submitted) == (1, 1, 5)
    good = {
        "work_unit": "mg_000000",
        "outputs": [
            {
                "dataset": "/A/B-v1/AOD",
                "lfn": "/store/x.root",
                "size": 1,
                "events": 2,
                "adler32": "1",
                "site": "T2_X",
            }
        ],
    }
    (tmp_path / "ok.json").write_text(json.dumps(good))
    assert read_merge_output(tmp_path / "ok.json") == good
    del good["outputs"][0]["adler32"]
    (tmp_path / "bad.json").write_text(json.dumps(good))
    with pytest.raises(MergeReportError, match="lacks adler32"):
        read_merge_output(tmp_path / "bad.json")
    with pytest.raises(MergeReportError, match="unusable"):
        read_merge_output(tmp_path / "missing.json")


def test_fast_path_agrees_with_general_reader_and_falls_back(tmp_path: Path) -> None:
    from wms2.dagman.status import _fast_snapshot

    general = snapshot_from_ads(parse_ads(DAGMAN_TEXT))
    fast = _fast_snapshot(DAGMAN_TEXT)
    assert fast is not None and fast == general
    path = tmp_path / "s.status"
    path.write_text(DAGMAN_TEXT)
    assert read_status_file(path) == general
    # Another writer, another attribute order: the fast path declines, the result stays right.
    reordered = DAGMAN_TEXT.replace(
        '  Node = "mg_000002";\n  NodeStatus = 3; /* "STATUS_SUBMITTED" */\n',
        '  NodeStatus = 3;\n  Node = "mg_000002";\n',
    )
    assert _fast_snapshot(reordered) is None
    path.write_text(reordered)
    assert read_status_file(path).nodes == general.nodes


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dagman"


def test_metrics_of_both_dagman_formats() -> None:
    v1 = read_metrics(FIXTURES / "condor_10_2.dag.metrics")  # HTCondor up to 24.1
    assert v1 is not None
    assert (v1.exit_code, v1.nodes, v1.nodes_succeeded, v1.nodes_failed) == (1, 12, 10, 2)
    assert v1.jobs_submitted == 12
    v2 = read_metrics(FIXTURES / "condor_24_2.dag.metrics")
    assert v2 is not None
    assert (v2.exit_code, v2.nodes, v2.nodes_succeeded, v2.nodes_failed) == (0, 12, 12, 0)
    assert v2.jobs_submitted == 14


def test_a_metrics_file_of_neither_format_is_named(tmp_path: Path) -> None:
    (tmp_path / "x.metrics").write_text('{"exitcode": 0, "nodes": 3}')
    with pytest.raises(MetricsFileError, match=r"x\.metrics lacks jobs, jobs_succeeded"):
        read_metrics(tmp_path / "x.metrics")
    (tmp_path / "y.metrics").write_text("not json")
    with pytest.raises(MetricsFileError, match="is not a DAGMan metrics file"):
        read_metrics(tmp_path / "y.metrics")
