"""DAG-end reconciliation on a real planned DAG directory: which work units have a usable
merge report, and which should have one but do not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import GEN
from wms2.condor.local.records import DONE, ERROR, NodeRecord, write_rescue, write_status_file
from wms2.config import Settings
from wms2.dagfiles import DagLayout
from wms2.planning import plan_request
from wms2.reconcile import done_by_dagman, planned_work_units, reconcile_work_units
from wms2.reqmgr import request_from_reqmgr
from wms2.services.catalog import OfflineCatalog


@pytest.fixture
def layout(catalog: OfflineCatalog, settings: Settings) -> DagLayout:
    plan = plan_request(request_from_reqmgr(catalog.get_request(GEN)), catalog, catalog, settings)
    return DagLayout(Path(plan.dag_dir))


def merged(layout: DagLayout, unit: str, text: str | None = None) -> None:
    report = {
        "outputs": [
            {
                "dataset": "/P/E-p-v1/GEN-SIM",
                "lfn": f"/store/{unit}.root",
                "size": 1,
                "events": 1,
                "adler32": "00000001",
                "site": "T2_CH_CERN",
            }
        ]
    }
    layout.merge_output(unit).write_text(text if text is not None else json.dumps(report))


def test_a_succeeded_dag_without_status_file_is_read_from_the_merge_reports(
    layout: DagLayout,
) -> None:
    units = planned_work_units(layout)
    assert units == [f"mg_{i:06d}" for i in range(5)]
    for u in units:
        merged(layout, u)
    merged(layout, units[3], '{"outputs": [')  # corrupt: cut off mid-write
    layout.status_file.unlink(missing_ok=True)  # deleted at the DAG's end
    r = reconcile_work_units(layout, known={units[0]}, dag_succeeded=True, wait_sec=0.01)
    assert sorted(r.reports) == [units[1], units[2], units[4]]
    assert list(r.unreported) == [units[3]] and "unusable" in r.unreported[units[3]]


def test_a_report_rewritten_between_reads_is_found_on_a_later_attempt(
    layout: DagLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    units = planned_work_units(layout)
    for u in units:
        merged(layout, u)
    merged(layout, units[2], "")
    sleeps: list[float] = []

    def fix_it(seconds: float) -> None:  # the writer finishes while we wait
        sleeps.append(seconds)
        merged(layout, units[2])

    monkeypatch.setattr("wms2.reconcile.time.sleep", fix_it)
    r = reconcile_work_units(layout, known=set(), dag_succeeded=True, wait_sec=0.5)
    assert sorted(r.reports) == units and r.unreported == {} and sleeps == [0.5]


def test_a_failed_dag_only_owes_the_units_dagman_counts_done(layout: DagLayout) -> None:
    units = planned_work_units(layout)
    merged(layout, units[0])
    # The status file says units 0 and 1 are DONE, unit 2 failed; a rescue DAG adds unit 3.
    write_status_file(
        layout.status_file,
        layout.dag_file,
        2,
        [NodeRecord(units[0], DONE), NodeRecord(units[1], DONE), NodeRecord(units[2], ERROR)],
        0,
    )
    write_rescue(layout.dag_file, [NodeRecord(units[3], DONE), NodeRecord(units[2], ERROR)])
    assert done_by_dagman(layout) == {units[0], units[1], units[3]}
    r = reconcile_work_units(layout, known=set(), dag_succeeded=False, wait_sec=0.01)
    assert list(r.reports) == [units[0]]
    assert sorted(r.unreported) == [units[1], units[3]]  # done, but no merge report
