"""The estimates a request's arguments make, as WMCore and the spec mean them, each number
computed by hand: job wall time and +MaxWallTimeMins (events x TimePerEvent, never
divided by cores), a TaskChain job's time per event (each task's, weighted by the filter
efficiencies before it), StepChain memory (the top-level Memory), ScramArch lists
(getSingleScramArch for the node that runs every step)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_reqmgr_planning import nodes, submit_value
from tests.unit.test_reqmgr_semantics import fixture
from wms2.config import Settings
from wms2.models import InputFile, SplittingAlgo
from wms2.plan_dag import plan_request
from wms2.planning.splitting import Resources, SplitInput, split
from wms2.reqmgr import RequestImportError, request_from_reqmgr
from wms2.reqmgr.scram import resolve_archs, scram_arch
from wms2.services.catalog import OfflineCatalog

# ── Wall time ────────────────────────────────────────────────────────────────────────


def test_a_multicore_jobs_wall_time_is_events_times_time_per_event() -> None:
    """WMCore EventBased: jobTime = eventsPerJob * timePerEvent; SimpleCondorPlugin's
    MaxWallTimeMins is that (its single-core figure is it times the cores)."""
    f = InputFile(lfn="/store/data/a.root", size_bytes=2048, events=1000, locations=["T1_US_FNAL"])
    res = Resources(time_per_event_sec=3.0, size_per_event_kb=10.0, memory_mb=15900, cores=8)
    inp = SplitInput(SplittingAlgo.EVENT_BASED, {"events_per_job": 400}, [f], {}, res)
    assert [(n.events, n.est_time_sec) for n in split(inp).nodes] == [
        (400, 1200),  # 400 events * 3 s, not / 8 cores (150 s)
        (400, 1200),
        (200, 600),  # 200 * 3
    ]


def test_planned_max_wall_time_mins_of_a_4_core_taskchain(
    catalog: OfflineCatalog, settings: Settings
) -> None:
    r = request_from_reqmgr(fixture("taskchain_gen_filtered"))
    summary = plan_request(r, catalog, catalog, settings)
    planned = nodes(summary)
    # 100000 kept at GEN's 10% = int(100000 / 0.1) = 1000000 generated, 13090 per job
    # (below): 76 full jobs (994840 events) and one of 1000000 - 994840 = 5160.
    assert len(planned) == 77 and sum(n["events"] for n in planned) == 1_000_000
    assert sorted({n["events"] for n in planned}) == [5160, 13090]
    assert submit_value(summary, "request_cpus") == "4"
    assert submit_value(summary, "request_memory") == "8000"
    # Longest job: 13090 events * 3.3 s = 43197 s; 43197 // 60 + 1 = 720 minutes (spec
    # +MaxWallTimeMins = estimated_time_sec // 60 + 1). Divided by 4 cores it was 180.
    assert submit_value(summary, r"\+MaxWallTimeMins") == "720"


# ── TaskChain time per event ─────────────────────────────────────────────────────────


def test_taskchain_time_per_event_sums_the_tasks_weighted_by_the_filters_before() -> None:
    r = request_from_reqmgr(fixture("taskchain_gen_filtered"))
    assert [s.name for s in r.steps] == ["GEN", "SIM", "DIGIRECO"]
    assert [s.time_per_event_sec for s in r.steps] == [0.5, 20.0, 8.0]
    # Per generated event: GEN 0.5 s; SIM sees 10% of them (GEN's filter): 0.1 * 20 s;
    # DIGIRECO reads SIM (which keeps all): 0.1 * 1.0 * 8 s. 0.5 + 2.0 + 0.8 = 3.3 s.
    # The top-level 15.0 s is only the default of a task without its own.
    assert r.time_per_event_sec == pytest.approx(3.3)
    # EventsPerJob fills 12 h of the whole job: int(43200 / 3.3) = 13090 (with GEN's
    # 0.5 s alone it would be 86400, a 79 h job).
    assert r.splitting_params["events_per_job"] == 13090
    assert r.splitting_params["request_num_events"] == 1_000_000
    # The job asks for the largest task: GEN 2000 MB/1 core, SIM the top level's 6000 MB
    # and 4 cores, DIGIRECO 8000 MB.
    assert (r.memory_mb, r.multicore) == (8000, 4)


def _taskchain(**changes: Any) -> dict[str, Any]:
    doc = fixture("taskchain_gen_filtered")
    for path, value in changes.items():
        task, key = path.split("__")
        if value is None:
            doc[task].pop(key)
        else:
            doc[task][key] = value
    return doc


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # SIM keeps half: DIGIRECO sees 0.1 * 0.5 of the events: 0.5 + 0.1*20 + 0.05*8.
        ({"Task2__FilterEfficiency": 0.5}, 0.5 + 2.0 + 0.4),
        # DIGIRECO reads GEN's output directly: only GEN's filter is before it.
        (
            {"Task2__FilterEfficiency": 0.5, "Task3__InputTask": "GEN"},
            0.5 + 2.0 + 0.1 * 8.0,
        ),
        # No task has its own: each takes the top-level 15 s: 15 + 0.1*15 + 0.1*15 = 18.
        (
            {"Task1__TimePerEvent": None, "Task2__TimePerEvent": None, "Task3__TimePerEvent": None},
            18.0,
        ),
    ],
)
def test_taskchain_weights_follow_input_task(changes: dict[str, Any], expected: float) -> None:
    assert request_from_reqmgr(_taskchain(**changes)).time_per_event_sec == pytest.approx(expected)


def test_taskchain_time_per_event_by_taskname_dict() -> None:
    doc = _taskchain(Task1__TimePerEvent=None, Task2__TimePerEvent=None)
    doc["TimePerEvent"] = {"GEN": 1.0, "SIM": 30.0, "DIGIRECO": 99.0}
    # GEN 1.0 and SIM 30.0 from the dict; DIGIRECO's own 8.0 wins: 1 + 0.1*30 + 0.1*8 = 4.8.
    assert request_from_reqmgr(doc).time_per_event_sec == pytest.approx(4.8)


# ── StepChain memory and time per event ──────────────────────────────────────────────


def test_stepchain_memory_is_the_top_level_memory() -> None:
    r = request_from_reqmgr(fixture("stepchain_scramarch_lists"))
    # Memory 9000 at the top level; Step2's own 16000 is not read by WMCore's StepChain.
    assert r.memory_mb == 9000
    # One TimePerEvent for the whole job: the top-level 13.0 s, whatever a step says.
    doc = fixture("stepchain_scramarch_lists")
    doc["Step3"]["TimePerEvent"] = 100.0
    assert request_from_reqmgr(doc).time_per_event_sec == 13.0


@pytest.mark.parametrize("field", ["Memory", "TimePerEvent"])
def test_a_stepchain_dict_memory_or_time_is_refused_in_one_line(field: str) -> None:
    doc = fixture("stepchain_gen_premix")
    doc[field] = {"GENSIM": 4000, "DIGIPremix": 8000, "RECO": 12000}
    with pytest.raises(RequestImportError) as exc:
        request_from_reqmgr(doc)
    assert str(exc.value) == (
        f"{field} {{'GENSIM': 4000, 'DIGIPremix': 8000, 'RECO': 12000}} is given per step, "
        f"but a StepChain has one {field} for the whole job (WMCore reads the top-level number)"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [(0, "TimePerEvent 0 must be a number > 0"), ("fast", "TimePerEvent 'fast' must be")],
)
def test_a_bad_time_per_event_names_the_value(value: Any, message: str) -> None:
    doc = fixture("rereco_selection")
    doc["TimePerEvent"] = value
    with pytest.raises(RequestImportError, match=message):
        request_from_reqmgr(doc)


# ── ScramArch ────────────────────────────────────────────────────────────────────────


def test_scram_arch_lists_resolve_for_the_node_that_runs_every_step() -> None:
    r = request_from_reqmgr(fixture("stepchain_scramarch_lists"))
    # Step1 (CMSSW_10_6) lists slc7 and el8, Step2 el9 and el8, Step3 "el8,el9" (a
    # makeList string): the newest OS all three have is el8 (rhel8); each takes its el8
    # build. Taking each list's first entry ran Step1 on slc7 and Step2 on el9.
    assert [s.scram_arch for s in r.steps] == [
        "el8_amd64_gcc8",
        "el8_amd64_gcc11",
        "el8_amd64_gcc11",
    ]
    assert r.scram_arch == "el8_amd64_gcc8"


@pytest.mark.parametrize(
    ("lists", "expected"),
    [
        # One step: the newest OS, as getSingleScramArch on an el9 node.
        ([["el8_amd64_gcc11", "el9_amd64_gcc11"]], ["el9_amd64_gcc11"]),
        # Same OS: the newest by name (WMCore sorts the list in reverse).
        ([["el9_amd64_gcc11", "el9_amd64_gcc12"]], ["el9_amd64_gcc12"]),
        # An old release only on el8 pulls the other step to el8.
        (
            [["el8_amd64_gcc10"], ["el8_amd64_gcc12", "el9_amd64_gcc12"]],
            ["el8_amd64_gcc10", "el8_amd64_gcc12"],
        ),
        # No OS in common: each as WMCore without the node's OS, sorted(list)[-1].
        (
            [["slc7_amd64_gcc700", "el8_amd64_gcc8"], ["el9_amd64_gcc11"]],
            ["slc7_amd64_gcc700", "el9_amd64_gcc11"],
        ),
        # A prefix WMCore does not know does not constrain the node.
        (
            [["osx_amd64_gcc9"], ["el8_amd64_gcc11", "el9_amd64_gcc11"]],
            ["osx_amd64_gcc9", "el9_amd64_gcc11"],
        ),
    ],
)
def test_resolve_archs_as_get_single_scram_arch(
    lists: list[list[str]], expected: list[str]
) -> None:
    assert resolve_archs(lists) == expected


def test_scram_arch_single_values() -> None:
    assert scram_arch("ScramArch", "el8_amd64_gcc11") == "el8_amd64_gcc11"
    assert scram_arch("ScramArch", ["el8_amd64_gcc11", "el9_amd64_gcc11"]) == "el9_amd64_gcc11"
    assert scram_arch("ScramArch", []) is None
    with pytest.raises(RequestImportError, match=r"ScramArch \[5\] is not an architecture"):
        scram_arch("ScramArch", [5])
