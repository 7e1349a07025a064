"""Site and priority changes reaching DAGs that already run, on the local pool with the
DAGs WMS2 plans (landing election, PRE/POST scripts, synthetic payload) and the site
manager as the activities call it:

- a drained site gets no new landings while its running work finishes;
- a banned site's idle work moves (idle jobs removed, PRE scripts re-elect);
- a priority raise lets a later request's jobs start before an earlier one's;
- a site whose jobs fail with site errors is alerted and banned, and the DAG completes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.condor.dagkit import wait, wait_for
from tests.conftest import GEN
from wms2.condor.local.backend import LocalBackend
from wms2.condor.local.pool import MATCH_LOG
from wms2.config import Settings
from wms2.dagfiles import DagLayout
from wms2.dagfiles.writer import write_priority_file
from wms2.db import Repository, make_engine, upgrade_database
from wms2.models import SiteStatus
from wms2.plan_dag import PlanSummary, plan_request
from wms2.reqmgr import request_from_reqmgr
from wms2.services.catalog import OfflineCatalog
from wms2.site_manager import SiteManager
from wms2.sites.messages import SiteAction, SiteChangeInput

CERN, WISC = "T2_CH_CERN", "T2_US_Wisconsin"  # the GEN request's whitelist


@pytest.fixture
def pool_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "local_sites": {CERN: 1, WISC: 1},
            # Two work units at a time: later ones land after a change made mid-run.
            "category_throttles": {"MergeGroup": 2},
            "synthetic_max_seconds": 0.3,
            "site_recheck_sec": 1.0,
            "local_status_interval_sec": 0.2,
        }
    )


@pytest.fixture
def backend(pool_settings: Settings) -> LocalBackend:
    s = pool_settings
    return LocalBackend(s.state_dir, s.local_site, 1, 0.2, s.local_sites)


@pytest.fixture
def manager(pool_settings: Settings, backend: LocalBackend, catalog: OfflineCatalog) -> SiteManager:
    engine = make_engine(pool_settings.database_url)
    upgrade_database(engine)
    m = SiteManager(Repository(engine), backend, pool_settings, catalog)
    m.sync("test")
    return m


def plan(
    catalog: OfflineCatalog, settings: Settings, name: str = GEN, **doc: object
) -> PlanSummary:
    document = {**catalog.get_request(GEN), "RequestName": name, **doc}
    return plan_request(request_from_reqmgr(document), catalog, catalog, settings)


def matches(
    backend: LocalBackend, role: str | None = None
) -> list[tuple[float, str, str, str, int]]:
    """Jobs started by the pool: (time, cluster, site, request, JobPrio)."""
    path = backend.pool.dir / MATCH_LOG
    rows = [x.split() for x in path.read_text().splitlines()] if path.exists() else []
    return [
        (float(t), key, site, req, int(prio))
        for t, key, site, req, prio, kind in rows
        if role is None or kind == role
    ]


def elected(dag_dir: Path) -> dict[str, tuple[str, float]]:
    out = {}
    for f in sorted(dag_dir.glob("mg_*/elected_site")):
        out[f.parent.name] = (f.read_text().strip(), f.stat().st_mtime)
    return out


def landed(dag_dir: Path) -> dict[str, str]:
    """Where each group's landing job ran (its own report, whatever happened after)."""
    return {
        f.parent.name: f.read_text().strip().removeprefix("site=")
        for f in sorted(dag_dir.glob("mg_*/landing.out"))
    }


def test_drained_site_gets_no_new_landings(
    catalog: OfflineCatalog, pool_settings: Settings, backend: LocalBackend, manager: SiteManager
) -> None:
    summary = plan(catalog, pool_settings)
    root = Path(summary.dag_dir)
    handle = backend.submit_dag(Path(summary.dag_file), GEN)
    wait_for(lambda: WISC in {s for s, _ in elected(root).values()}, 60)
    manager.change(SiteChangeInput(site=WISC, action=SiteAction.DRAIN, reason="downtime"))
    drained_at = time.time()
    assert wait(backend, handle, 180).exit_code == 0
    landings = matches(backend, "landing")
    late = [site for t, _, site, _, _ in landings if t > drained_at + 0.5]
    assert late and set(late) == {CERN}, landings
    # What the drained site had been elected for finished there.
    wisc_groups = [g for g, (site, _) in elected(root).items() if site == WISC]
    assert wisc_groups and all((root / g / "merge_output.json").exists() for g in wisc_groups)
    started_at_wisc = [t for t, _, site, _, _ in matches(backend) if site == WISC]
    assert max(started_at_wisc) > drained_at  # pinned work went on being started there


def test_banned_sites_idle_work_moves(
    catalog: OfflineCatalog, pool_settings: Settings, backend: LocalBackend, manager: SiteManager
) -> None:
    summary = plan(catalog, pool_settings)
    root = Path(summary.dag_dir)
    handle = backend.submit_dag(Path(summary.dag_file), GEN)
    wait_for(lambda: WISC in {s for s, _ in elected(root).values()}, 60)
    done = manager.change(SiteChangeInput(site=WISC, action=SiteAction.BAN, reason="SAM red"))
    banned_at = time.time()
    assert wait(backend, handle, 180).exit_code == 0
    after = [(site, req) for t, _, site, req, _ in matches(backend) if t > banned_at + 0.5]
    assert after and {site for site, _ in after} == {CERN}
    moved = [g for g, site in landed(root).items() if site == WISC]
    assert moved and all(elected(root)[g][0] == CERN for g in moved)  # re-elected
    assert "re-elected T2_CH_CERN" in (root / moved[0] / "group.dag.scripts.log").read_text()
    assert done.status is SiteStatus.BANNED


def test_priority_raise_overtakes_an_earlier_request(
    catalog: OfflineCatalog, pool_settings: Settings, manager: SiteManager
) -> None:
    one_site = pool_settings.model_copy(update={"local_sites": {CERN: 1}})
    backend = LocalBackend(one_site.state_dir, one_site.local_site, 1, 0.2, {CERN: 1})
    early = plan(catalog, one_site)
    # Another request name, writing its merged files elsewhere.
    elsewhere = one_site.model_copy(update={"output_dir": one_site.output_dir / "late"})
    late = plan(catalog, elsewhere, name="late_request")
    h_early = backend.submit_dag(Path(early.dag_file), GEN)
    wait_for(lambda: len(matches(backend)) >= 3, 60)
    h_late = backend.submit_dag(Path(late.dag_file), "late_request")
    # What the reprioritize_dag activity does: nodes not yet submitted read the DAG's
    # priority file, idle ones are edited.
    write_priority_file(DagLayout(Path(late.dag_dir)), 999999)
    backend.edit_idle_jobs("late_request", priority=999999)
    raised_at = time.time()
    assert wait(backend, h_late, 180).exit_code == 0
    late_done = time.time()
    assert wait(backend, h_early, 180).exit_code == 0
    rows = matches(backend)
    late_rows = [r for r in rows if r[3] == "late_request"]
    assert all(prio == 999999 for *_, prio in late_rows[1:])
    early_after = [r for r in rows if r[3] == GEN and r[0] > raised_at]
    # The later request finished first; the earlier one got the slot only while the later
    # one had no idle job (between its landings and its processing).
    assert early_after and max(r[0] for r in early_after) > late_done
    assert len([r for r in early_after if r[0] < late_done]) < len(late_rows)


def test_failing_site_is_alerted_banned_and_the_dag_completes(
    catalog: OfflineCatalog,
    pool_settings: Settings,
    backend: LocalBackend,
    manager: SiteManager,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WMS2_FAIL_SITES", WISC)  # the runner's jobs inherit it
    pool_settings.site_failure_min_jobs = 2
    pool_settings.site_auto_ban_sec = 3600
    summary = plan(catalog, pool_settings)
    handle = backend.submit_dag(Path(summary.dag_file), GEN)
    alerts = []
    deadline = time.monotonic() + 90
    while not alerts and time.monotonic() < deadline:
        alerts = manager.sync("site-health-test").alerts
        time.sleep(0.2)
    (alert,) = alerts
    assert alert.site == WISC and alert.banned and "failed with site errors" in alert.message
    assert manager.repo.sites.get(WISC).status is SiteStatus.BANNED
    assert wait(backend, handle, 180).exit_code == 0
    assert len(list(Path(summary.dag_dir).glob("mg_*/merge_output.json"))) == summary.work_units
