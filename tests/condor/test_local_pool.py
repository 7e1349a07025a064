"""The local pool (WMS2_LOCAL_SITES): sites with slots shared by every runner, jobs matched
by DESIRED_Sites in JobPrio order across DAGs, idle jobs edited and removed as on a real
pool. Matchmaking is checked on its own, then with real runner processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.condor.dagkit import max_concurrency, wait, wait_for
from wms2.condor.local.backend import LocalBackend
from wms2.condor.local.pool import negotiate

SITE_JOB = """#!/usr/bin/env python3
import os, sys, time
node, sleep = sys.argv[1], float(sys.argv[2])
ad = open(os.environ["_CONDOR_MACHINE_AD"]).read()
site = [l.split("=")[1].strip().strip('"') for l in ad.splitlines()
        if l.startswith("GLIDEIN_CMSSite")][0]
start = time.time()
time.sleep(sleep)
with open(os.path.join(os.environ["KIT"], "sites.log"), "a") as f:
    f.write(f"{node} {site} {start:.6f} {time.time():.6f}\\n")
"""


def state(sites: dict[str, int], idle: dict, running: dict | None = None, any_site=False) -> dict:
    return {"sites": sites, "any_site": any_site, "idle": idle, "running": running or {}}


def idle(priority: int, seq: int, *sites: str) -> dict:
    return {"priority": priority, "seq": seq, "sites": list(sites), "request": "r", "pid": 1}


def test_negotiation_order_sites_and_slots() -> None:
    pool = {"T2_A": 1, "T2_B": 2}
    # Highest JobPrio first, then submit order; each to a site it names with a free slot.
    got = negotiate(
        state(
            pool,
            {
                "low": idle(1, 1, "T2_A"),
                "high": idle(9, 3, "T2_A"),
                "b1": idle(5, 2, "T2_B"),
                "nowhere": idle(9, 0, "T1_XX_Gone"),
            },
            {"busy": {"site": "T2_B", "pid": 1}},
        )
    )
    assert got == {"high": "T2_A", "b1": "T2_B"}
    # Either site: the one with most free slots; no list at all: any site of the pool.
    assert negotiate(state(pool, {"j": idle(0, 1, "T2_A", "T2_B")})) == {"j": "T2_B"}
    assert negotiate(state(pool, {"j": idle(0, 1)})) == {"j": "T2_B"}
    # A removed idle job is never matched; the one-site default pool takes any list.
    removed = {**idle(9, 1, "T2_A"), "removed": True}
    assert negotiate(state(pool, {"x": removed})) == {}
    assert negotiate(state({"T2_L": 1}, {"j": idle(0, 1, "T1_X")}, any_site=True)) == {"j": "T2_L"}


@pytest.fixture
def kit(tmp_path: Path) -> Path:
    root = tmp_path / "kit"
    root.mkdir()
    (root / "site_job.py").write_text(SITE_JOB)
    (root / "site_job.py").chmod(0o755)
    (root / "site.sub").write_text(
        f"universe = vanilla\nexecutable = {root / 'site_job.py'}\n"
        "arguments = $(node) $(sleep)\n"
        f'environment = "KIT={root}"\nshould_transfer_files = NO\n'
        '+DESIRED_Sites = "$(sites)"\n+CMS_RequestName = "$(request)"\n'
        "priority = $(prio)\nqueue\n"
    )
    return root


def dag(kit: Path, name: str, nodes: list[tuple[str, float, str, int]], request: str) -> Path:
    text = "".join(
        f'JOB {n} site.sub\nVARS {n} node="{n}" sleep="{s}" sites="{sites}" '
        f'request="{request}" prio="{prio}"\n'
        for n, s, sites, prio in nodes
    )
    path = kit / f"{name}.dag"
    path.write_text(text)
    return path


def ran(kit: Path) -> dict[str, tuple[str, float, float]]:
    path = kit / "sites.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return {n: (site, float(a), float(b)) for n, site, a, b in (x.split() for x in lines)}


def test_sites_are_matched_and_slots_shared_by_dags(kit: Path, tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "state", "T2_XX_Unused", 8, 0.2, {"T2_A": 1, "T2_B": 1})
    one = dag(kit, "one", [(f"a{i}", 0.3, "T2_A", 0) for i in range(3)], "one")
    two = dag(kit, "two", [(f"b{i}", 0.3, "T2_A", 0) for i in range(2)] + [
        ("anywhere", 0.1, "T2_B", 0)], "two")  # fmt: skip
    h1, h2 = backend.submit_dag(one), backend.submit_dag(two)
    assert wait(backend, h1).exit_code == 0 and wait(backend, h2).exit_code == 0
    r = ran(kit)
    assert {n: site for n, (site, _, _) in r.items()} == {
        **{f"a{i}": "T2_A" for i in range(3)},
        **{f"b{i}": "T2_A" for i in range(2)},
        "anywhere": "T2_B",
    }
    # T2_A has one slot for both DAGs: its five jobs never overlapped.
    assert max_concurrency([(a, b) for site, a, b in r.values() if site == "T2_A"]) == 1


def test_higher_priority_jobs_of_a_later_dag_start_first(kit: Path, tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "state", "T2_XX_Unused", 8, 0.2, {"T2_A": 1})
    # e0 runs long enough for the edit to land while it holds the one slot, even on a
    # loaded machine (0.4 s was once too short: e1 had started before the edit).
    early = dag(
        kit, "early", [(f"e{i}", 3.0 if i == 0 else 0.2, "T2_A", 1) for i in range(4)], "early"
    )
    h1 = backend.submit_dag(early)
    wait_for(lambda: "e0" in ran(kit) or _running(backend) == 1)
    late = dag(kit, "late", [(f"l{i}", 0.1, "T2_A", 1) for i in range(2)], "late")
    h2 = backend.submit_dag(late)
    wait_for(lambda: len(_idle(backend)) >= 4)
    # Like condor_qedit JobPrio: the later request's idle jobs now come first.
    edited, removed = backend.pool.edit_idle("late", priority=10)
    assert (edited, removed) == (2, 0)
    assert wait(backend, h1).exit_code == 0 and wait(backend, h2).exit_code == 0
    order = [n for n, _ in sorted(ran(kit).items(), key=lambda kv: kv[1][1])]
    assert order[1:3] == ["l0", "l1"], order  # right after the job that was running


def test_idle_jobs_left_with_no_site_are_removed(kit: Path, tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "state", "T2_XX_Unused", 8, 0.2, {"T2_A": 1, "T2_B": 1})
    blocker = dag(kit, "blocker", [("hold", 1.5, "T2_A", 0)], "blocker")
    h0 = backend.submit_dag(blocker)
    wait_for(lambda: _running(backend) == 1)
    moved = dag(kit, "moved", [("x", 0.1, "T2_A,T2_B", 0), ("y", 0.1, "T2_A", 0)], "moved")
    (kit / "moved.dag").write_text((kit / "moved.dag").read_text() + "PARENT x CHILD y\n")
    h1 = backend.submit_dag(moved)
    wait_for(lambda: "x" in ran(kit))
    wait_for(lambda: len(_idle(backend)) == 1)
    assert backend.pool.edit_idle("moved", unavailable={"T2_A"}) == (0, 1)
    status = wait(backend, h1)
    assert status.exit_code == 1  # y had no retry: its removal failed the DAG
    rescue = (kit / "moved.dag.rescue001").read_text()
    assert "DONE x" in rescue and "DONE y" not in rescue
    assert wait(backend, h0).exit_code == 0


def _running(backend: LocalBackend) -> int:
    return len(backend.pool.snapshot()["running"])


def _idle(backend: LocalBackend) -> dict:
    return backend.pool.snapshot()["idle"]
