"""Memory on both backends: the local pool stops a job that grows past its request and
evicts it (HTCondor's retry) or holds it (34/102) for WMS2's release; the htcondor backend
finds memory-held jobs in one query and releases a DAG's with one edit and one release."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import classad2
import pytest

from tests.condor.dagkit import wait, wait_for
from tests.condor.test_htcondor_backend import FakeSchedd, fake_module
from wms2.condor.handles import DagHandle
from wms2.condor.htcondor import MEMORY_HELD, HTCondorBackend
from wms2.condor.local.backend import LocalBackend
from wms2.condor.memory import MemoryReleaser
from wms2.memory import ledger

# A job whose resident memory grows to argv[1] MB (filled pages), held for a second so the
# pool's monitor sees it; a run that gets through appends "done" to argv[2].
GROWER = """#!/usr/bin/env python3
import sys, time
ballast = b"\\x01" * (int(sys.argv[1]) * 2**20)
time.sleep(1.0)
open(sys.argv[2], "a").write("done\\n")
"""


def write_dag(root: Path, extra: list[str]) -> Path:
    root.mkdir(parents=True)
    grower = root / "grow.py"
    grower.write_text(GROWER)
    grower.chmod(0o755)
    (root / "node.sub").write_text(
        "\n".join(
            [
                "universe = vanilla",
                f"executable = {grower}",
                f"arguments = 80 {root / 'done.log'}",
                "should_transfer_files = NO",
                "log = node.log",
                "output = node.out",
                "error = node.err",
                '+CMS_RequestName = "req_mem"',
                "request_memory = 60",
                *extra,
                "queue",
                "",
            ]
        )
    )
    dag = root / "workflow.dag"
    dag.write_text(f"JOB grow {root / 'node.sub'}\n")
    return dag


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / "state", "T2_XX_Test", slots=2, status_interval=0.2)


def test_a_job_with_htcondors_retry_is_evicted_and_reruns_with_more(
    tmp_path: Path, backend: LocalBackend
) -> None:
    dag = write_dag(
        tmp_path / "dag",
        [
            "retry_request_memory_increase = int(RequestMemory * 2)",
            "retry_request_memory_max = 200MB",
        ],
    )
    handle = backend.submit_dag(dag, "req_mem")
    assert wait(backend, handle, 60).exit_code == 0
    assert (tmp_path / "dag" / "done.log").read_text() == "done\n"  # one run got through
    bumps = ledger.read(tmp_path / "dag")
    assert [(b.node, b.how, b.from_mb, b.to_mb) for b in bumps] == [("grow", "evicted", 60, 120)]
    assert bumps[0].usage_mb is not None and bumps[0].usage_mb > 60
    log = (tmp_path / "dag" / "node.log").read_text()
    assert "Job was evicted" in log and "RequestMemory 120" in log


def test_a_job_without_it_is_held_until_wms2_releases_it_with_more(
    tmp_path: Path, backend: LocalBackend
) -> None:
    dag = write_dag(tmp_path / "dag", ["+WMS2_MaxMemoryMB = 200"])
    handle = backend.submit_dag(dag, "req_mem")
    wait_for(lambda: backend.memory_held_jobs({"req_mem"}) != [], 30)
    [job] = backend.memory_held_jobs({"req_mem"})
    assert (job.request_mb, job.max_mb, job.hold_code, job.hold_subcode) == (60, 200, 34, 102)
    assert job.node == "grow" and job.usage_mb is not None and job.usage_mb > 60
    assert backend.memory_held_jobs({"another_request"}) == []
    # The tracker's look: 60 x 2 = 120 MB, released.
    releaser = MemoryReleaser(factor=2.0, interval_sec=0)
    [bump] = releaser.cycle(backend, [handle])
    assert (bump.from_mb, bump.to_mb, bump.how) == (60, 120, "released")
    assert wait(backend, handle, 60).exit_code == 0
    assert (tmp_path / "dag" / "done.log").read_text() == "done\n"
    log = (tmp_path / "dag" / "node.log").read_text()
    assert "Job was held" in log and "Job was released. RequestMemory 120" in log
    assert [b.to_mb for b in ledger.read(tmp_path / "dag")] == [120]


def test_a_job_without_a_maximum_stays_held(tmp_path: Path, backend: LocalBackend) -> None:
    dag = write_dag(tmp_path / "dag", [])
    handle = backend.submit_dag(dag, "req_mem")
    pool = backend.pool
    wait_for(lambda: pool.snapshot()["held"] != {}, 30)
    assert backend.memory_held_jobs({"req_mem"}) == []  # nothing WMS2 may raise it to
    assert backend.remove(handle)
    assert wait(backend, handle, 30).exit_code == 2
    assert pool.snapshot()["held"] == {}


class HeldSchedd(FakeSchedd):
    """Schedd.edit / Schedd.act on a list of job ids, as htcondor2 takes them."""

    def _by_ids(self, job_spec: Any) -> list[dict[str, Any]] | None:
        if not isinstance(job_spec, list):
            return None
        ids = set(job_spec)
        return [ad for ad in self.jobs.values() if f"{ad['ClusterId']}.{ad['ProcId']}" in ids]

    def edit(self, job_spec: Any, attr: str, value: str) -> int:
        ads = self._by_ids(job_spec)
        if ads is None:
            return super().edit(job_spec, attr, value)
        self.calls.append(("edit", tuple(job_spec), attr, value))
        for ad in ads:
            ad[attr] = classad2.ExprTree(value).eval()
        return len(ads)

    def act(self, action: str, job_spec: Any, reason: tuple[str, int]) -> dict:
        ads = self._by_ids(job_spec)
        if ads is None:
            return super().act(action, job_spec, reason)
        self.calls.append(("act", action, tuple(job_spec), reason))
        for ad in ads:
            ad["JobStatus"] = 1
        return {"TotalSuccess": len(ads)}


def node_ad(cluster: int, request: str, memory: int, code: int, **more: Any) -> dict[str, Any]:
    return {
        "ClusterId": cluster,
        "ProcId": 0,
        "JobStatus": 5,
        "JobUniverse": 5,
        "CMS_RequestName": request,
        "DAGNodeName": f"proc_{cluster}",
        "RequestMemory": memory,
        "WMS2_MaxMemoryMB": 4500,
        "HoldReasonCode": code,
        "HoldReasonSubCode": 102 if code == 34 else 0,
        "HoldReason": "memory",
        **more,
    }


def test_htcondor_backend_one_query_one_edit_one_release_per_dag(tmp_path: Path) -> None:
    schedd = HeldSchedd()
    schedd.jobs = {
        501: node_ad(501, "req_a", 2000, 34),
        502: node_ad(502, "req_a", 2000, 26, MemoryUsage=2600),  # the pool's own policy
        503: node_ad(503, "req_a", 2000, 26, MemoryUsage=900),  # held for something else
        504: node_ad(504, "req_a", 4500, 34),  # at its maximum: an operator's call
        505: node_ad(505, "req_a", 2000, 34, JobStatus=2),  # running
        601: node_ad(601, "req_other", 2000, 34),  # a DAG not watched here
    }
    backend = HTCondorBackend(module=fake_module(schedd))
    backend.htcondor.JobAction.Release = "Release"
    (tmp_path / "a").mkdir()
    dag = DagHandle(
        backend="htcondor",
        cluster_id="400",
        schedd="local",
        dag_file=str(tmp_path / "a" / "workflow.dag"),
        batch_name="req_a",
    )
    bumps = MemoryReleaser(factor=1.5, interval_sec=0).cycle(backend, [dag])
    queries = [c for c in schedd.calls if c[0] == "query"]
    assert [c[1] for c in queries] == [MEMORY_HELD]
    assert ("edit", ("501.0", "502.0"), "RequestMemory", "3000") in schedd.calls
    releases = [c for c in schedd.calls if c[0] == "act"]
    assert releases == [
        ("act", "Release", ("501.0", "502.0"), ("released by WMS2 with RequestMemory 3000", 0))
    ]
    assert schedd.jobs[501]["RequestMemory"] == 3000 and schedd.jobs[501]["JobStatus"] == 1
    assert schedd.jobs[504]["JobStatus"] == 5 and schedd.jobs[601]["JobStatus"] == 5
    assert sorted((b.node, b.from_mb, b.to_mb) for b in bumps) == [
        ("proc_501", 2000, 3000),
        ("proc_502", 2000, 3000),
    ]
    assert len(ledger.read(tmp_path / "a")) == 2
    # The constraint is a ClassAd expression the schedd can evaluate.
    assert re.search(r"member\(HoldReasonCode, \{3, 21, 26\}\)", MEMORY_HELD)
