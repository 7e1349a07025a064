"""Memory: the submit lines HTCondor's manual names, the raise arithmetic done by hand,
the cap, and what the release of memory-held jobs does with a DAG's held jobs."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import RERECO
from wms2.condor.handles import DagHandle, HeldJob
from wms2.condor.local.memlimit import evicted_memory
from wms2.condor.local.submitfile import JobDescription, load_job, megabytes
from wms2.condor.memory import MemoryReleaser, release_dag
from wms2.config import Settings
from wms2.dagfiles.submit import memory_retry_lines
from wms2.memory import ledger
from wms2.memory.policy import factor_of, is_memory_hold, memory_cap, next_memory
from wms2.plan_dag import plan_request
from wms2.reqmgr import request_from_reqmgr
from wms2.services.catalog import OfflineCatalog

os.environ.setdefault("CONDOR_CONFIG", "/dev/null")
import htcondor2

# The submit commands as the HTCondor manual names them (man page htcondor-jdl, HTCondor
# 25.2+): "retry_request_memory_increase = <quantity or expression>" (an expression of
# RequestMemory is the next request), "retry_request_memory_max = <quantity>".
MANUAL_INCREASE = "retry_request_memory_increase"
MANUAL_MAX = "retry_request_memory_max"


def test_submit_lines_use_the_manuals_commands_and_parse_with_htcondor() -> None:
    lines = memory_retry_lines(2000, 4500, 1.5, condor_retry=True)
    assert lines == [
        f"{MANUAL_INCREASE} = int(RequestMemory * 1.5)",
        f"{MANUAL_MAX} = 4500MB",
        "+WMS2_MaxMemoryMB = 4500",
    ]
    sub = htcondor2.Submit("\n".join(["executable = /bin/true", "request_memory = 2000", *lines]))
    assert sub[MANUAL_INCREASE] == "int(RequestMemory * 1.5)"
    assert sub[MANUAL_MAX] == "4500MB"
    assert sub["MY.WMS2_MaxMemoryMB"] == "4500"
    # Without HTCondor's retry, only the maximum WMS2's release may raise the job to.
    assert memory_retry_lines(2000, 4500, 1.5, condor_retry=False) == ["+WMS2_MaxMemoryMB = 4500"]
    # A job that cannot grow carries nothing.
    assert memory_retry_lines(4500, 4500, 1.5, condor_retry=True) == []


def test_the_local_reader_takes_the_lines_as_condor_submit_does(tmp_path: Path) -> None:
    sub = tmp_path / "p.sub"
    lines = memory_retry_lines(2000, 4500, 1.25, condor_retry=True)
    sub.write_text("\n".join(["executable = x", "request_memory = 2000", *lines, "queue", ""]))
    job = load_job(sub, tmp_path, {}, 1)
    assert (job.request_memory, job.retry_memory_max, job.max_memory) == (2000, 4500, 4500)
    assert factor_of(job.retry_memory_increase or "") == 1.25
    assert [megabytes(x) for x in ("4500", "4500MB", "4.5 GB", "512K", "2 gb")] == [
        4500,
        4500,
        4608,
        0,
        2048,
    ]
    assert megabytes("RequestMemory * 2") is None


def test_raise_arithmetic_by_hand() -> None:
    assert next_memory(2000, 1.5, 10_000) == 3000
    assert next_memory(2300, 1.1, 10_000) == 2530
    assert next_memory(1001, 1.5, 10_000) == 1501  # int(1501.5), as the ClassAd int()
    assert next_memory(3000, 1.5, 4000) == 4000  # 4500, capped
    assert next_memory(4000, 1.5, 4000) == 4000


def test_the_cap() -> None:
    # The request's Memory (8000) or 4 cores x 2500 MB, whichever is more.
    assert memory_cap(start_mb=2000, request_mb=8000, cores=4, per_core_mb=2500) == 10_000
    assert memory_cap(start_mb=2000, request_mb=8000, cores=4, per_core_mb=1500) == 8000
    # Never below what the job starts with (a pilot that measured more than Memory).
    assert memory_cap(start_mb=9000, request_mb=8000, cores=1, per_core_mb=2000) == 9000


def test_a_planned_dag_carries_the_cap_from_the_requests_resources(
    catalog: OfflineCatalog, settings: Settings
) -> None:
    # RERECO: Memory 8000, Multicore 4; 4 x 2500 = 10000 MB is more.
    settings = settings.model_copy(update={"memory_per_core_mb": 2500, "memory_bump_factor": 2})
    request = request_from_reqmgr(catalog.get_request(RERECO))
    plan = plan_request(request, catalog, catalog, settings)
    text = (Path(plan.dag_dir) / "processing.sub").read_text().splitlines()
    assert "request_memory = 8000" in text
    assert "retry_request_memory_increase = int(RequestMemory * 2)" in text
    assert "retry_request_memory_max = 10000MB" in text
    assert "+WMS2_MaxMemoryMB = 10000" in text
    merge = (Path(plan.dag_dir) / "merge.sub").read_text()
    assert "retry_request_memory" not in merge and "WMS2_MaxMemoryMB" not in merge


def _job(memory: int, increase: str | None, maximum: int | None) -> JobDescription:
    return JobDescription(
        executable=Path("x"),
        arguments=[],
        universe="vanilla",
        initialdir=Path("."),
        request_memory=memory,
        retry_memory_increase=increase,
        retry_memory_max=maximum,
    )


def test_local_eviction_follows_the_schedds_transform() -> None:
    # An increase with a maximum: raised until the maximum, then held.
    steps, job, raised = [], _job(1000, "int(RequestMemory * 1.5)", 2500), False
    while (after := evicted_memory(job, raised)) is not None:
        steps.append(after)
        job, raised = replace(job, request_memory=after), True
    assert steps == [1500, 2250, 2500]
    # A quantity is added; a maximum alone is the one retry; an increase alone, once.
    assert evicted_memory(_job(1000, "512MB", 4000), False) == 1512
    assert evicted_memory(_job(1000, None, 4000), False) == 4000
    assert evicted_memory(_job(4000, None, 4000), True) is None
    assert evicted_memory(_job(1000, "RequestMemory * 2", None), False) == 2000
    assert evicted_memory(_job(2000, "RequestMemory * 2", None), True) is None
    assert evicted_memory(_job(1000, None, None), False) is None  # no retry: held


def test_memory_holds() -> None:
    assert is_memory_hold(34, 102, None, 2000)  # JobOutOfResources, memory
    assert not is_memory_hold(34, 104, None, 2000)  # JobOutOfResources, disk
    assert is_memory_hold(26, 0, 2500.0, 2000)  # SYSTEM_PERIODIC_HOLD, used more
    assert not is_memory_hold(26, 0, 1500.0, 2000)  # ... for something else
    assert is_memory_hold(21, 0, 2100.0, 2000) and is_memory_hold(3, 0, 2100.0, 2000)
    assert not is_memory_hold(1, 0, 9000.0, 2000)  # condor_hold by a person


class FakeBackend:
    name = "fake"

    def __init__(self, held: list[HeldJob]) -> None:
        self.held, self.queries, self.releases = held, 0, []

    def memory_held_jobs(self, request_names: set[str]) -> list[HeldJob]:
        self.queries += 1
        return [j for j in self.held if j.request_name in request_names]

    def release_with_memory(self, job_ids: list[str], memory_mb: int) -> int:
        self.releases.append((sorted(job_ids), memory_mb))
        return len(job_ids)


def held(job_id: str, request: str, memory: int, maximum: int) -> HeldJob:
    return HeldJob(
        job_id=job_id,
        request_name=request,
        node=f"proc_{job_id}",
        request_mb=memory,
        max_mb=maximum,
        hold_code=34,
        hold_subcode=102,
        reason="Memory usage exceeded",
        usage_mb=memory * 1.2,
    )


def handle(tmp_path: Path, request: str) -> DagHandle:
    (tmp_path / request).mkdir()
    dag = tmp_path / request / "workflow.dag"
    return DagHandle(
        backend="fake", cluster_id="1", schedd="s", dag_file=str(dag), batch_name=request
    )


def test_one_release_per_dag_raised_by_the_factor_and_capped(tmp_path: Path) -> None:
    a, b = handle(tmp_path, "req_a"), handle(tmp_path, "req_b")
    backend = FakeBackend(
        [
            held("11.0", "req_a", 2000, 4500),
            held("12.0", "req_a", 2000, 4500),
            held("13.0", "req_a", 1000, 4500),  # lower: raised with the others
            held("21.0", "req_b", 4000, 4500),  # 6000, capped at 4500
            held("22.0", "req_b", 4500, 4500),  # at its maximum: stays held
            held("31.0", "req_c", 2000, 4500),  # not a DAG this tracker watches
        ]
    )
    releaser = MemoryReleaser(factor=1.5, interval_sec=60, clock=lambda: 100.0)
    bumps = releaser.cycle(backend, [a, b])
    assert backend.queries == 1
    assert backend.releases == [(["11.0", "12.0", "13.0"], 3000), (["21.0"], 4500)]
    assert {(x.job_id, x.from_mb, x.to_mb) for x in bumps} == {
        ("11.0", 2000, 3000),
        ("12.0", 2000, 3000),
        ("13.0", 1000, 3000),
        ("21.0", 4000, 4500),
    }
    # Each raise is in its DAG's ledger, and `status` can say so.
    recorded = ledger.read(tmp_path / "req_a")
    assert [(x.node, x.how, x.from_mb, x.to_mb) for x in recorded] == [
        ("proc_11.0", "released", 2000, 3000),
        ("proc_12.0", "released", 2000, 3000),
        ("proc_13.0", "released", 1000, 3000),
    ]
    assert json.loads((tmp_path / "req_b" / ledger.LEDGER).read_text())["to_mb"] == 4500
    summary = ledger.summary(tmp_path / "req_a")
    assert summary[0] == "3 memory raise(s) of 3 job(s): 3 released"
    # The next look is due only after the interval.
    assert releaser.cycle(backend, [a, b]) == [] and backend.queries == 1


def test_release_never_lowers_a_request(tmp_path: Path) -> None:
    h = handle(tmp_path, "req_a")
    backend = FakeBackend([])
    jobs = [held("1.0", "req_a", 4000, 4200), held("2.0", "req_a", 3000, 9000)]
    # 4000 x 1.5 = 6000, capped at the smallest maximum 4200: the job at 4000 gets 4200,
    # the one at 3000 too (its own maximum is higher).
    release_dag(backend, h, jobs, 1.5)  # type: ignore[arg-type]
    assert backend.releases == [(["1.0", "2.0"], 4200)]


@pytest.mark.parametrize("factor", [1.0, 5.0])
def test_the_factor_setting_is_bounded(factor: float) -> None:
    with pytest.raises(ValueError):
        Settings(memory_bump_factor=factor)
