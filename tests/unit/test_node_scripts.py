"""The worker-node and DAG scripts, executed as DAGMan would run them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from tests.conftest import GEN
from wms2.config import Settings
from wms2.plan_dag import PlanSummary, plan_request, prepare_pilot
from wms2.planning.pilot import PilotReportError, parse_pilot_report, read_pilot_report
from wms2.reqmgr import request_from_reqmgr
from wms2.services.catalog import OfflineCatalog


def run(
    script: Path, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


@pytest.fixture
def plan(catalog: OfflineCatalog, settings: Settings) -> PlanSummary:
    fast = settings.model_copy(update={"synthetic_max_seconds": 0.0})
    return plan_request(request_from_reqmgr(catalog.get_request(GEN)), catalog, catalog, fast)


def scratch_for(root: Path, group: str, tmp: Path, name: str) -> Path:
    """A worker-node scratch directory with the job's transferred inputs."""
    scratch = tmp / name
    scratch.mkdir()
    shutil.copy(root / "sandbox.tar.gz", scratch)
    shutil.copy(root / group / "group_manifest.json", scratch)
    return scratch


def test_landing_elect_and_pin(plan: PlanSummary, tmp_path: Path) -> None:
    bin_dir = Path(plan.dag_dir) / "bin"
    ad = tmp_path / "machine.ad"
    ad.write_text('Name = "slot1@wn"\nGLIDEIN_CMSSite = "T2_CH_CERN"\n')
    out = run(bin_dir / "wms2_landing.py", cwd=tmp_path, env={"_CONDOR_MACHINE_AD": str(ad)})
    assert out.returncode == 0 and out.stdout.strip() == "site=T2_CH_CERN"
    no_site = run(
        bin_dir / "wms2_landing.py", cwd=tmp_path, env={"_CONDOR_MACHINE_AD": "/nonexistent"}
    )
    assert no_site.returncode == 1 and "no GLIDEIN_CMSSite" in no_site.stderr

    (tmp_path / "landing.out").write_text(out.stdout)
    assert run(bin_dir / "pin_site.py", "elected_site", "site.sub", cwd=tmp_path).returncode == 1
    assert (
        run(
            bin_dir / "elect_site.py", "landing.out", "elected_site", "site.sub", "1", cwd=tmp_path
        ).returncode
        == 1
    )
    assert (
        run(
            bin_dir / "elect_site.py", "landing.out", "elected_site", "site.sub", "0", cwd=tmp_path
        ).returncode
        == 0
    )
    assert (tmp_path / "elected_site").read_text() == "T2_CH_CERN\n"
    (tmp_path / "site.sub").unlink()
    assert run(bin_dir / "pin_site.py", "elected_site", "site.sub", cwd=tmp_path).returncode == 0
    assert (tmp_path / "site.sub").read_text() == '+DESIRED_Sites = "T2_CH_CERN"\n'


def test_landing_candidates_follow_the_site_statuses(plan: PlanSummary, tmp_path: Path) -> None:
    """The landing's PRE script reads the statuses when it runs: drained, disabled and
    banned candidates are left out; none left means DEFER (75); no file: as planned."""
    bin_dir = Path(plan.dag_dir) / "bin"
    (tmp_path / "group_manifest.json").write_text(
        json.dumps({"sites": ["T2_CH_CERN", "T2_DE_DESY", "T1_US_FNAL"]})
    )
    status = tmp_path / "site_status.json"

    def landing(statuses: dict[str, str] | None) -> subprocess.CompletedProcess[str]:
        if statuses is None:
            status.unlink(missing_ok=True)
        else:
            status.write_text(json.dumps({"sites": statuses}))
        args = (str(status), "group_manifest.json", "site.sub", "75")
        return run(bin_dir / "landing_sites.py", *args, cwd=tmp_path)

    assert landing(None).returncode == 0
    assert (tmp_path / "site.sub").read_text() == (
        '+DESIRED_Sites = "T2_CH_CERN,T2_DE_DESY,T1_US_FNAL"\n'
    )
    assert landing({"T2_DE_DESY": "draining", "T1_US_FNAL": "banned"}).returncode == 0
    assert (tmp_path / "site.sub").read_text() == '+DESIRED_Sites = "T2_CH_CERN"\n'
    out = landing({"T2_CH_CERN": "disabled", "T2_DE_DESY": "draining", "T1_US_FNAL": "banned"})
    assert out.returncode == 75 and "T2_CH_CERN disabled" in out.stderr
    # A group planned to run anywhere lands at the enabled sites.
    (tmp_path / "group_manifest.json").write_text(json.dumps({"sites": []}))
    assert landing({"T2_CH_CERN": "banned", "T2_DE_DESY": "enabled"}).returncode == 0
    assert (tmp_path / "site.sub").read_text() == '+DESIRED_Sites = "T2_DE_DESY"\n'


def test_pinned_nodes_reelect_off_a_banned_site(plan: PlanSummary, tmp_path: Path) -> None:
    bin_dir = Path(plan.dag_dir) / "bin"
    (tmp_path / "group_manifest.json").write_text(
        json.dumps({"sites": ["T2_DE_DESY", "T2_CH_CERN", "T1_US_FNAL"]})
    )
    (tmp_path / "elected_site").write_text("T2_DE_DESY\n")
    status = tmp_path / "site_status.json"

    def pin(statuses: dict[str, str]) -> subprocess.CompletedProcess[str]:
        status.write_text(json.dumps({"sites": statuses}))
        args = ("elected_site", "site.sub", str(status), "group_manifest.json", "75")
        return run(bin_dir / "pin_site.py", *args, cwd=tmp_path)

    # Draining keeps the work the group was elected for.
    assert pin({"T2_DE_DESY": "draining"}).returncode == 0
    assert (tmp_path / "site.sub").read_text() == '+DESIRED_Sites = "T2_DE_DESY"\n'
    # Banned: the first usable candidate (a draining one is not), recorded for the group.
    out = pin({"T2_DE_DESY": "banned", "T2_CH_CERN": "draining"})
    assert out.returncode == 0 and "re-elected T1_US_FNAL" in out.stderr
    assert (tmp_path / "elected_site").read_text() == "T1_US_FNAL\n"
    assert (tmp_path / "site.sub").read_text() == '+DESIRED_Sites = "T1_US_FNAL"\n'
    (tmp_path / "elected_site").write_text("T2_DE_DESY\n")
    every = {"T2_DE_DESY": "banned", "T2_CH_CERN": "disabled", "T1_US_FNAL": "draining"}
    assert pin(every).returncode == 75


def test_post_script_appends_the_outcome_ledger(plan: PlanSummary, tmp_path: Path) -> None:
    bin_dir = Path(plan.dag_dir) / "bin"
    ledger = tmp_path / "site_outcomes.log"
    (tmp_path / "elected_site").write_text("T2_DE_DESY\n")
    args = ("1", "0", "0", "0", str(ledger), "req_a")
    assert run(bin_dir / "post_script.py", "proc_000001", "69", *args, cwd=tmp_path).returncode == 1
    assert run(bin_dir / "post_script.py", "proc_000002", "0", *args, cwd=tmp_path).returncode == 0
    lines = [x.split()[1:] for x in ledger.read_text().splitlines()]
    assert lines == [
        ["T2_DE_DESY", "site", "req_a", "proc_000001"],
        ["T2_DE_DESY", "success", "req_a", "proc_000002"],
    ]


def test_post_script_logs_the_site_the_job_ran_at_not_the_elected_one(
    plan: PlanSummary, tmp_path: Path
) -> None:
    """After a re-election the group's elected site is another one: the job's own execute
    event (its slot's GLIDEIN_CMSSite) says where it ran and failed."""
    bin_dir = Path(plan.dag_dir) / "bin"
    ledger = tmp_path / "site_outcomes.log"
    (tmp_path / "elected_site").write_text("T2_CH_CERN\n")  # re-elected after the job ran
    (tmp_path / "group.log").write_text(
        "000 (012.000.000) 2026-01-01 00:00:00 Job submitted from host: <local>\n...\n"
        "001 (012.000.000) 2026-01-01 00:00:01 Job executing on host: <local>\n"
        '\tSlotName: slot1@T2_US_Wisconsin.local\n\tGLIDEIN_CMSSite = "T2_US_Wisconsin"\n...\n'
        "001 (013.000.000) 2026-01-01 00:00:02 Job executing on host: <local>\n"
        '\tGLIDEIN_CMSSite = "T2_CH_CERN"\n...\n'
    )
    (tmp_path / "group.dag.jobstate.log").write_text(  # a first rescue round
        "1 INTERNAL *** DAGMAN_STARTED 7.0 ***\n1 INTERNAL *** DAGMAN_FINISHED 1 ***\n"
        "2 INTERNAL *** DAGMAN_STARTED 9.0 ***\n"
    )
    args = ("1", "0", "0", "0", str(ledger), "req_a")
    assert (
        run(bin_dir / "post_script.py", "proc_1", "69", *args, "12", cwd=tmp_path).returncode == 1
    )
    assert run(bin_dir / "post_script.py", "proc_2", "0", *args, "13", cwd=tmp_path).returncode == 0
    assert run(bin_dir / "post_script.py", "proc_3", "1", *args, "99", cwd=tmp_path).returncode == 1
    lines = [x.split()[1:3] for x in ledger.read_text().splitlines()]
    # No execute event for job 99 (it never ran): the elected site stands in.
    assert lines == [
        ["T2_US_Wisconsin", "site"],
        ["T2_CH_CERN", "success"],
        ["T2_CH_CERN", "transient"],
    ]
    records = [json.loads(x) for x in (tmp_path / "node_outcomes.jsonl").read_text().splitlines()]
    assert [(r["node"], r["exit"], r["class"], r["site"], r["elected"], r["round"], r["cluster"])
            for r in records] == [
        ("proc_1", 69, "site", "T2_US_Wisconsin", "T2_CH_CERN", 1, "12"),
        ("proc_2", 0, "success", "T2_CH_CERN", "T2_CH_CERN", 1, "13"),
        ("proc_3", 1, "transient", "T2_CH_CERN", "T2_CH_CERN", 1, "99"),
    ]  # fmt: skip


def test_payload_fails_with_a_site_error_at_a_broken_site(
    plan: PlanSummary, tmp_path: Path
) -> None:
    root = Path(plan.dag_dir)
    scratch = scratch_for(root, "mg_000000", tmp_path, "wn")
    ad = tmp_path / "machine.ad"
    ad.write_text('GLIDEIN_CMSSite = "T2_XX_Broken"\n')
    env = {"_CONDOR_MACHINE_AD": str(ad), "WMS2_FAIL_SITES": "T2_XX_Broken"}
    args = ("--node", "proc_000000", "--manifest", "group_manifest.json")
    args += ("--sandbox", "sandbox.tar.gz")
    out = run(root / "bin" / "wms2_payload.py", *args, cwd=scratch, env=env)
    assert out.returncode == 69 and "T2_XX_Broken fails every job" in out.stderr


def test_payload_merge_cleanup(plan: PlanSummary, tmp_path: Path) -> None:
    root = Path(plan.dag_dir)
    bin_dir = root / "bin"
    group = root / "mg_000000"
    manifest = json.loads((group / "group_manifest.json").read_text())
    nodes = sorted(manifest["nodes"])
    for node in nodes:  # run each node in its own scratch, transfer `unmerged` back
        scratch = scratch_for(root, "mg_000000", tmp_path, node)
        res = run(
            bin_dir / "wms2_payload.py",
            "--node",
            node,
            "--manifest",
            "group_manifest.json",
            "--sandbox",
            "sandbox.tar.gz",
            cwd=scratch,
        )
        assert res.returncode == 0, res.stderr
        shutil.copytree(scratch / "unmerged", group / "unmerged", dirs_exist_ok=True)
    # 1000 events * 900 kB * 1e-4 scale = 92,160 bytes per node
    assert (group / "unmerged" / "proc_000000.out0.root").stat().st_size == 92160
    (group / "elected_site").write_text("T2_CH_CERN\n")

    res = run(bin_dir / "wms2_merge.py", "--manifest", "group_manifest.json", cwd=group)
    assert res.returncode == 0, res.stderr
    report = json.loads((group / "merge_output.json").read_text())
    [out] = report["outputs"]
    merged = Path(manifest["output_dir"]) / out["lfn"].lstrip("/")
    data = merged.read_bytes()
    expected = b"".join((group / "unmerged" / f"{n}.out0.root").read_bytes() for n in nodes)
    assert data == expected
    assert out["adler32"] == f"{zlib.adler32(data) & 0xFFFFFFFF:08x}"
    assert out["size"] == len(data) and out["events"] == 4000 and out["site"] == "T2_CH_CERN"
    assert report["work_unit"] == "mg_000000" and out["pfn"] == str(merged)

    res = run(bin_dir / "wms2_cleanup.py", "--manifest", "group_manifest.json", cwd=group)
    assert res.returncode == 0 and "removed 8 unmerged files" in res.stdout
    assert not (group / "unmerged").exists()
    again = run(bin_dir / "wms2_merge.py", "--manifest", "group_manifest.json", cwd=group)
    assert again.returncode == 65 and "unmerged inputs missing" in again.stderr


def test_payload_failures(plan: PlanSummary, tmp_path: Path) -> None:
    root = Path(plan.dag_dir)
    scratch = scratch_for(root, "mg_000000", tmp_path, "s")
    payload = root / "bin" / "wms2_payload.py"
    args = ("--manifest", "group_manifest.json", "--sandbox", "sandbox.tar.gz")
    assert run(payload, "--node", "proc_999999", *args, cwd=scratch).returncode == 78
    injected = run(
        payload, "--node", "proc_000001", *args, cwd=scratch, env={"WMS2_FAIL_NODES": "proc_000001"}
    )
    assert injected.returncode == 1
    assert (
        run(payload, "--node", "proc_000001", "--sandbox", "missing.tgz", cwd=scratch).returncode
        == 78
    )


def test_pilot_writes_valid_metrics(
    catalog: OfflineCatalog, settings: Settings, tmp_path: Path
) -> None:
    request = request_from_reqmgr(catalog.get_request(GEN))
    sub = prepare_pilot(request, settings)
    root = sub.parent.parent
    assert "--pilot" in sub.read_text()
    scratch = tmp_path / "pilot"
    scratch.mkdir()
    shutil.copy(root / "sandbox.tar.gz", scratch)
    res = run(
        root / "bin" / "wms2_payload.py",
        "--pilot",
        "--sandbox",
        "sandbox.tar.gz",
        "--pilot-events",
        "5",
        cwd=scratch,
    )
    assert res.returncode == 0, res.stderr
    report = json.loads((scratch / "pilot_metrics.json").read_text())
    assert [it["events"] for it in report["iterations"]] == [5, 10, 20]
    metrics = read_pilot_report(scratch / "pilot_metrics.json")
    assert metrics.events_processed == 35
    assert metrics.recommended_events_per_job >= 1 and metrics.recommended_memory_mb >= 2000
    assert metrics.output_size_per_event_kb == pytest.approx(900.0, rel=0.01)
    assert metrics.steps_profiled[0].step_name == "GEN-RunIII2024Summer24GS-00002_0"


def test_bad_pilot_reports_are_clear(tmp_path: Path) -> None:
    with pytest.raises(PilotReportError, match="lacks 'recommended'"):
        parse_pilot_report({"iterations": [{"events": 1, "wall_time_sec": 1, "memory_mb": 1}]})
    with pytest.raises(PilotReportError, match="cannot read pilot report"):
        read_pilot_report(tmp_path / "none.json")


@pytest.mark.parametrize(
    ("code", "exit_code", "kind"),
    [
        ("0", 0, "success"),
        ("1", 1, "transient"),
        ("-9", 1, "transient"),
        ("-1002", 1, "transient"),
        ("78", 2, "permanent"),
        ("65", 2, "permanent"),
        ("2", 2, "permanent"),
        ("69", 1, "site"),
        ("74", 1, "site"),
        ("137", 1, "transient"),
    ],
)
def test_post_script_classification(
    plan: PlanSummary, tmp_path: Path, code: str, exit_code: int, kind: str
) -> None:
    res = run(Path(plan.dag_dir) / "bin" / "post_script.py", "proc_000003", code, cwd=tmp_path)
    assert res.returncode == exit_code
    assert f"proc_000003 exit={code} class={kind}" in (tmp_path / "post_script.log").read_text()


def test_post_script_bad_arguments(plan: PlanSummary, tmp_path: Path) -> None:
    script = Path(plan.dag_dir) / "bin" / "post_script.py"
    assert run(script, "proc_1", "oops", cwd=tmp_path).returncode == 1
    assert run(script, cwd=tmp_path).returncode == 1


@pytest.mark.parametrize(
    ("code", "retry", "expected"),
    [("1", "0", 0.4), ("1", "2", 1.6), ("1", "5", 2.0), ("69", "3", 1.0), ("65", "0", 0.0)],
)
def test_post_script_cools_off_before_a_retry(
    plan: PlanSummary, tmp_path: Path, code: str, retry: str, expected: float
) -> None:
    """Spec 6.4 at 1/150 scale: transient 0.4 s * 2**retry (60 s in production), a site
    problem 1 s (300 s), capped at 2 s; a permanent failure does not wait."""
    script = Path(plan.dag_dir) / "bin" / "post_script.py"
    start = time.monotonic()
    res = run(script, "proc_000001", code, retry, "0.4", "1", "2", cwd=tmp_path)
    waited = time.monotonic() - start
    assert res.returncode == (2 if code == "65" else 1)
    assert f"retry={retry} cooloff={expected:g}s" in (tmp_path / "post_script.log").read_text()
    assert expected <= waited < expected + 1.5


def test_the_dag_passes_the_cooloff_and_limits_post_scripts(plan: PlanSummary) -> None:
    root = Path(plan.dag_dir)
    group = (root / "mg_000000" / "group.dag").read_text()
    # The plan fixture's settings scale the cool-off down (tests/conftest.py).
    assert "post_script.py $JOB $RETURN $RETRY 0.01 0.05 0.2" in group
    assert f"CONFIG {root / 'dagman.config'}" in group
    assert "DAGMAN_MAX_POST_SCRIPTS = 20" in (root / "dagman.config").read_text()
