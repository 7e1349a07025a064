"""Failures on the local pool with the DAGs WMS2 plans: a site that fails every job, a
node that fails always. The POST ledger names the site each job ran at, the failure
report groups the real failures by cause and fits 80 columns, the rescue avoids the
failing site for the units it failed, and the node failing the same way in every round
is named for review."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.condor.dagkit import wait
from tests.condor.test_sites_reach_dags import CERN, WISC, matches, plan
from wms2.condor.local.backend import LocalBackend
from wms2.config import Settings
from wms2.dagfiles import DagLayout
from wms2.failures import build_report
from wms2.failures.render import render_report
from wms2.services.catalog import OfflineCatalog
from wms2.tracking.reconcile import ensure_rescue

ALWAYS = "proc_000002"  # fails with exit 1 (transient) wherever it runs


@pytest.fixture
def pool_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "local_sites": {CERN: 2, WISC: 2},
            "synthetic_max_seconds": 0.05,
            "local_status_interval_sec": 0.2,
        }
    )


@pytest.fixture
def backend(pool_settings: Settings) -> LocalBackend:
    s = pool_settings
    return LocalBackend(s.state_dir, s.local_site, 1, 0.2, s.local_sites)


def tries(root: Path, since: float = 0.0) -> list[dict]:
    """The POST scripts' records, each with its unit, written after `since`."""
    rows = [
        {**json.loads(line), "unit": f.parent.name}
        for f in sorted(root.glob("mg_*/node_outcomes.jsonl"))
        for line in f.read_text().splitlines()
    ]
    return [r for r in rows if r["t"] > since]


def test_report_groups_failures_and_the_rescue_avoids_the_failing_site(
    catalog: OfflineCatalog,
    pool_settings: Settings,
    backend: LocalBackend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WMS2_FAIL_SITES", WISC)  # the runner's jobs inherit them
    monkeypatch.setenv("WMS2_FAIL_NODES", ALWAYS)
    summary = plan(catalog, pool_settings)
    root, layout = Path(summary.dag_dir), DagLayout(Path(summary.dag_dir))
    assert wait(backend, backend.submit_dag(Path(summary.dag_file), "GEN"), 120).exit_code == 1

    # The ledger: every try's site is where the pool ran that job (matches.log by cluster).
    ran_at = {key: site for _, key, site, _, _ in matches(backend)}
    first = tries(root)
    assert first and all(t["site"] == ran_at[t["cluster"]] for t in first)
    site_fails = [t for t in first if t["class"] == "site"]
    assert site_fails and {t["site"] for t in site_fails} == {WISC}
    assert all(t["exit"] == 69 for t in site_fails)
    wisc_units = sorted({t["unit"] for t in site_fails})

    report = build_report(layout, summary.request_name, round_cap=2)
    by_cause = {g.cause: g for g in report.groups}
    site_group = by_cause[f"site exit 69 at {WISC}"]
    assert site_group.tries == len(site_fails)
    assert site_group.sites == {WISC: len(site_fails)}
    assert site_group.units == wisc_units[:8] and site_group.units_total == len(wisc_units)
    # Each site-failed node failed 4 tries (RETRY 3) at the elected site, and failed.
    assert site_group.tries == 4 * site_group.nodes == 4 * site_group.still_failed
    assert any("fails every job (WMS2_FAIL_SITES)" in x for x in site_group.stderr_tail)
    always = by_cause["transient exit 1"]
    assert always.example.endswith(f"/{ALWAYS}") and always.nodes == 1
    assert "failing proc_000002 on request (WMS2_FAIL_NODES)" in always.stderr_tail[-1]
    # What the failed nodes hold, from the manifest (counted by hand from the unit's).
    unit = always.example.split("/")[0]
    spec = json.loads((root / unit / "group_manifest.json").read_text())["nodes"][ALWAYS]
    assert always.events == spec["events"] and always.files == len(spec["files"])
    assert report.hopeless == []  # one round so far
    assert report.exclusions == {u: [WISC] for u in wisc_units}
    text = render_report(report, 80)
    assert max(map(len, text.splitlines())) <= 80, text
    assert f"site exit 69 at {WISC}" in text and "transient exit 1" in text

    # The rescue: each WISC unit avoids WISC; the always-failing node fails again.
    ensure_rescue(layout, set(), memory_factor=1.5)
    assert all(
        json.loads((root / u / "excluded_sites.json").read_text()) == {"sites": [WISC]}
        for u in wisc_units
    )
    resubmitted = time.time()
    assert wait(backend, backend.submit_dag(Path(summary.dag_file), "GEN"), 120).exit_code == 1
    second = tries(root, resubmitted)
    assert second and all(t["round"] == 1 for t in second)
    assert not [t for t in second if t["class"] == "site"]
    rerun = {t["unit"] for t in second if t["node"] != ALWAYS}
    assert rerun and rerun <= set(wisc_units)
    assert all(t["site"] == CERN for t in second if t["unit"] in wisc_units)
    for u in wisc_units:
        if u != unit:
            assert (root / u / "merge_output.json").exists(), u

    report = build_report(layout, summary.request_name, round_cap=2)
    assert report.hopeless == [f"{unit}/{ALWAYS}"] and report.rounds == 2
    always = {g.cause: g for g in report.groups}["transient exit 1"]
    assert always.rounds == 2 and always.tries == 8 and "review (PARTIAL)" in always.action
    site_group = {g.cause: g for g in report.groups}[f"site exit 69 at {WISC}"]
    assert site_group.still_failed == 0 and "recovered" in site_group.action
    text = render_report(report, 80)
    assert max(map(len, text.splitlines())) <= 80
