"""The generated DAG directory, checked directive by directive."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest

from tests.conftest import GEN, STEPCHAIN
from wms2.config import Settings
from wms2.dagfiles import DagLayout, PathEscapeError, dag_directory
from wms2.plan_dag import PlanSummary, plan_request
from wms2.planning.lfn import dataset_parts, is_mc, merged_lfn, merged_lfn_base
from wms2.reqmgr import request_from_reqmgr
from wms2.services.catalog import OfflineCatalog

os.environ.setdefault("CONDOR_CONFIG", "/dev/null")
import htcondor2


@pytest.fixture
def gen_plan(catalog: OfflineCatalog, settings: Settings) -> PlanSummary:
    request = request_from_reqmgr(catalog.get_request(GEN))
    return plan_request(request, catalog, catalog, settings)


def lines(path: Path) -> list[str]:
    return [x for x in path.read_text().splitlines() if x and not x.startswith("#")]


def test_outer_dag(gen_plan: PlanSummary) -> None:
    root = Path(gen_plan.dag_dir)
    assert gen_plan.work_units == 5 and gen_plan.node_counts["Processing"] == 20
    outer = lines(root / "workflow.dag")
    assert outer[0] == f"CONFIG {root / 'dagman.config'}"
    assert outer[1] == f"NODE_STATUS_FILE {root / 'workflow.dag.status'} 30"
    assert outer[2] == f"JOBSTATE_LOG {root / 'workflow.dag.jobstate.log'}"
    assert outer[3] == "MAXJOBS MergeGroup 10"
    subdags = [x for x in outer if x.startswith("SUBDAG")]
    assert subdags == [
        f"SUBDAG EXTERNAL mg_{i:06d} group.dag DIR {root / f'mg_{i:06d}'}" for i in range(5)
    ]
    assert [x for x in outer if x.startswith("CATEGORY")] == [
        f"CATEGORY mg_{i:06d} MergeGroup" for i in range(5)
    ]
    assert "DAGMAN_MAX_SUBMITS_PER_INTERVAL = 100" in (root / "dagman.config").read_text()


def test_group_dag(gen_plan: PlanSummary) -> None:
    root = Path(gen_plan.dag_dir)
    g = lines(root / "mg_000001" / "group.dag")
    bin_dir = root / "bin"
    procs = [f"proc_{i:06d}" for i in range(4, 8)]
    assert g[0] == f"CONFIG {root / 'dagman.config'}"  # the same script limits as the outer
    assert g[1] == f"NODE_STATUS_FILE {root / 'mg_000001' / 'group.dag.status'} 30"
    assert g[2] == f"JOBSTATE_LOG {root / 'mg_000001' / 'group.dag.jobstate.log'}"
    assert g[3:6] == ["MAXJOBS Processing 5000", "MAXJOBS Merge 100", "MAXJOBS Cleanup 50"]
    assert f"JOB landing {root / 'landing.sub'}" in g
    status, ledger = root.parent / "site_status.json", root.parent / "site_outcomes.log"
    # The landing's candidates are read again when it runs (the manifest's sites, minus
    # what the site manager took out); with none usable the PRE script is deferred.
    assert not any(x.startswith("VARS landing") for x in g)
    assert (
        f"SCRIPT DEFER 75 300 PRE landing {bin_dir / 'landing_sites.py'} {status} "
        "group_manifest.json site.sub 75" in g
    )
    manifest = json.loads((root / "mg_000001" / "group_manifest.json").read_text())
    assert manifest["sites"] == ["T2_CH_CERN", "T2_US_Wisconsin"]
    assert (
        f"SCRIPT POST landing {bin_dir / 'elect_site.py'} landing.out elected_site site.sub $RETURN"
        in g
    )
    assert f"PARENT landing CHILD {' '.join(procs)}" in g
    for p in procs:
        assert f"JOB {p} {root / 'processing.sub'}" in g
        assert f'VARS {p} node="{p}"' in g
        assert f"RETRY {p} 3 UNLESS-EXIT 2" in g
        assert (
            f"SCRIPT DEFER 75 300 PRE {p} {bin_dir / 'pin_site.py'} elected_site site.sub "
            f"{status} group_manifest.json 75" in g
        )
        post = f"SCRIPT POST {p} {bin_dir / 'post_script.py'} $JOB $RETURN $RETRY "
        (post_line,) = [x for x in g if x.startswith(post)]
        assert post_line.endswith(f" {ledger} {gen_plan.request_name} $CLUSTERID")
        assert f"CATEGORY {p} Processing" in g
    assert f"PARENT {' '.join(procs)} CHILD merge" in g
    assert "RETRY merge 2 UNLESS-EXIT 2" in g and "CATEGORY merge Merge" in g
    assert "PARENT merge CHILD cleanup" in g and "RETRY cleanup 1" in g
    assert "CATEGORY cleanup Cleanup" in g
    # One shared submit description per role, not one per node.
    assert sorted(p.name for p in root.glob("*.sub")) == [
        "cleanup.sub",
        "landing.sub",
        "merge.sub",
        "priority.sub",
        "processing.sub",
    ]
    assert not list((root / "mg_000001").glob("*.sub"))


def test_submit_files_parse_with_htcondor_and_have_no_metacharacters(
    gen_plan: PlanSummary, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(gen_plan.dag_dir)
    (root / "mg_000000" / "site.sub").write_text('+DESIRED_Sites = "T2_CH_CERN"\n')
    monkeypatch.chdir(root / "mg_000000")  # DAGMan submits node jobs from the group directory
    proc = htcondor2.Submit((root / "processing.sub").read_text())
    assert (
        proc["arguments"]
        == "--node $(node) --manifest group_manifest.json --sandbox sandbox.tar.gz"
    )
    assert proc["MY.DESIRED_Sites"] == '"T2_CH_CERN"'  # pinned through the include
    assert proc["request_memory"] == "2000"
    # JobPrio from the DAG's priority file, read when DAGMan submits the node
    assert proc["priority"] == (root / "priority.sub").read_text().split("=")[1].strip()
    for sub in root.glob("*.sub"):
        args = htcondor2.Submit(sub.read_text()).get("arguments", "")
        assert not set(args) & set("\"'{};&|<>`")
    assert htcondor2.Submit((root / "cleanup.sub").read_text())["universe"] == "local"


def test_manifests_and_sandbox(gen_plan: PlanSummary, settings: Settings) -> None:
    root = Path(gen_plan.dag_dir)
    m = json.loads((root / "mg_000000" / "group_manifest.json").read_text())
    assert m["group"] == "mg_000000" and m["output_dir"] == str(settings.output_dir.resolve())
    assert m["nodes"]["proc_000000"] == {
        "files": [],
        "events": 1000,
        "lumis": [[1, 1, 4]],
        "first_event": 1,
        "last_event": 1000,
        "sites": ["T2_CH_CERN", "T2_US_Wisconsin"],
    }
    [out] = m["outputs"]
    assert out["lfn"].startswith(
        "/store/mc/RunIII2024Summer24GS/MinBias_TuneCP5_13p6TeV-pythia8/GEN-SIM/"
        "140X_mcRun3_2024_realistic_v26-v1/000000/"
    )
    with tarfile.open(root / "sandbox.tar.gz") as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
    assert names == ["manifest.json", "steps/step1.json"]
    assert manifest["mode"] == "synthetic" and manifest["cmssw_version"] == "CMSSW_14_0_19"
    assert manifest["global_tag"] == "140X_mcRun3_2024_realistic_v26"
    assert manifest["time_per_event_sec"] == 20.0 and manifest["size_per_event_kb"] == 900.0
    assert manifest["steps"][0]["name"] == "GEN-RunIII2024Summer24GS-00002_0"
    assert json.loads((root / "plan.json").read_text())["work_units"] == 5


def test_stepchain_plan_keeps_locality(catalog: OfflineCatalog, settings: Settings) -> None:
    summary = plan_request(
        request_from_reqmgr(catalog.get_request(STEPCHAIN)), catalog, catalog, settings
    )
    root = Path(summary.dag_dir)
    total_events = 0
    for g in range(summary.work_units):
        m = json.loads((root / f"mg_{g:06d}" / "group_manifest.json").read_text())
        assert len({tuple(n["sites"]) for n in m["nodes"].values()}) == 1
        total_events += sum(n["events"] for n in m["nodes"].values())
        assert len(m["outputs"]) == 2
    assert total_events == summary.events


def test_paths_cannot_escape_the_submit_directory(tmp_path: Path) -> None:
    assert dag_directory(tmp_path, "req_1") == (tmp_path / "req_1").resolve()
    for bad in ("..", "../x", "a/../../b", "/etc"):
        with pytest.raises(PathEscapeError, match="outside the submit directory"):
            dag_directory(tmp_path, bad)


def test_lfn_conventions() -> None:
    ds = "/QCD_Pt/Run3Summer23DRPremix-130X_v14-v1/AODSIM"
    assert dataset_parts(ds) == ("QCD_Pt", "Run3Summer23DRPremix", "130X_v14-v1", "AODSIM")
    lfn = merged_lfn(ds, 1234, "req", "/store/mc")
    assert lfn.startswith("/store/mc/Run3Summer23DRPremix/QCD_Pt/AODSIM/130X_v14-v1/000001/")
    assert (
        lfn == merged_lfn(ds, 1234, "req", "/store/mc") != merged_lfn(ds, 1235, "req", "/store/mc")
    )
    assert is_mc("/JetMET0/Run2024C-ReReco-v1/AOD", "/JetMET0/Run2024C-v1/RAW") is False
    assert is_mc("/A/B-v1/GEN-SIM", None) is True
    assert merged_lfn(ds, 7, "req", "/store/backfill/1").startswith("/store/backfill/1/")
    assert merged_lfn_base("/store/backfill/1", ds, None) == "/store/backfill/1"
    assert merged_lfn_base(None, "/A/B-v1/AOD", "/A/C-v1/RAW") == "/store/data"


def test_layout_names(tmp_path: Path) -> None:
    layout = DagLayout(tmp_path)
    assert layout.status_file.name == "workflow.dag.status"
    assert layout.merge_output("mg_000002") == tmp_path / "mg_000002" / "merge_output.json"


def test_dag_text_writer_validates_names_and_escapes_vars(tmp_path: Path) -> None:
    from wms2.dagfiles.dagtext import Script, job_lines, write_dag_file

    lines = list(
        job_lines(
            "n1",
            "/x/a.sub",
            vars={"arg": 'say "hi" \\ bye'},
            retry=3,
            unless_exit=2,
            pre=Script("/bin/pre", ("$JOB",)),
            category="Processing",
        )
    )
    assert lines == [
        "JOB n1 /x/a.sub",
        'VARS n1 arg="say \\"hi\\" \\\\ bye"',
        "RETRY n1 3 UNLESS-EXIT 2",
        "SCRIPT PRE n1 /bin/pre $JOB",
        "CATEGORY n1 Processing",
    ]
    for bad in ("a+b", "PARENT", "child", "two words", ""):
        with pytest.raises(ValueError, match="not allowed by DAGMan"):
            list(job_lines(bad, "/x.sub"))
    path = write_dag_file(tmp_path / "x.dag", lines)
    assert path.read_text().splitlines() == lines and not list(tmp_path.glob("*.tmp"))
