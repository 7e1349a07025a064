"""A processing job that grows past its memory request, on the real stack (dev server,
worker, the local pool enforcing request_memory): evicted and rerun with more by
HTCondor's retry, or held for memory and released with more by the tracker, or held and
left there until a stop: the rescue starts it with more. Its unit completes every way
and every raise is in the DAG's memory ledger."""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
from pathlib import Path

from rich.console import Console
from temporalio.testing import WorkflowEnvironment

from cli.status_view import render_state
from tests.conftest import RERECO, SAMPLE_CATALOG
from tests.integration.conftest import WorkerSite
from tests.integration.test_end_to_end import start
from tests.workflows.harness import until
from wms2.memory import ledger
from wms2.messages import StopSignal
from wms2.models import RequestStatus
from workflows.request import RequestWorkflow

GROWN = "proc_000000"


def small_rereco(site: WorkerSite) -> None:
    """The ReReco request asking 300 MB (its 4 cores at 150 MB each: up to 600 MB), so a
    job that really grows past it costs the test machine a few hundred MB."""
    catalog = site.root / "catalog"
    shutil.copytree(SAMPLE_CATALOG, catalog)
    path = catalog / "requests" / f"{RERECO}.json"
    doc = json.loads(path.read_text())
    doc["Memory"] = 300
    path.write_text(json.dumps(doc))
    site.catalog_dir = catalog


def env(**more: str) -> dict[str, str]:
    return {
        "WMS2_MEMORY_PER_CORE_MB": "150",
        "WMS2_MEMORY_BUMP_FACTOR": "1.5",
        "WMS2_GROW_MEMORY": f"{GROWN}:350",  # 300 MB is too little, 450 MB is enough
        **more,
    }


async def run(dev_server: WorkflowEnvironment, site: WorkerSite) -> Path:
    h = await start(dev_server, site, RERECO, urgent=True)
    result = await asyncio.wait_for(h.result(), 240)
    assert result.status is RequestStatus.COMPLETED, result.reason
    s = await h.query(RequestWorkflow.status)
    assert len(s.completed_work_units) == s.progress.work_units_total > 0
    dag_dir = Path(s.dag_file or "").parent
    processing = (dag_dir / "processing.sub").read_text()
    assert "request_memory = 300" in processing and "+WMS2_MaxMemoryMB = 600" in processing
    out = io.StringIO()  # what `starter.py status` prints on the submit host
    Console(file=out, width=200).print(render_state(s))
    assert "1 memory raise(s) of 1 job(s)" in out.getvalue()
    return dag_dir


async def test_a_memory_evicted_job_reruns_with_more_and_its_unit_completes(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    small_rereco(site)
    site.start_worker(env=env())
    dag_dir = await run(dev_server, site)
    assert "retry_request_memory_max = 600MB" in (dag_dir / "processing.sub").read_text()
    bumps = ledger.read(dag_dir)
    assert [(b.node, b.how, b.from_mb, b.to_mb) for b in bumps] == [(GROWN, "evicted", 300, 450)]
    assert bumps[0].usage_mb is not None and bumps[0].usage_mb > 300


async def test_a_memory_held_job_is_released_with_more_and_its_unit_completes(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    small_rereco(site)
    site.start_worker(env=env(WMS2_CONDOR_MEMORY_RETRY="false", WMS2_MEMORY_RELEASE_SEC="0.5"))
    dag_dir = await run(dev_server, site)
    assert "retry_request_memory" not in (dag_dir / "processing.sub").read_text()
    bumps = ledger.read(dag_dir)
    assert [(b.node, b.how, b.from_mb, b.to_mb) for b in bumps] == [(GROWN, "released", 300, 450)]
    assert "Memory usage exceeded" in bumps[0].reason
    assert (site.root / ".wms2" / "local-condor" / "pool").is_dir()
    pool = json.loads((site.root / ".wms2" / "local-condor" / "pool" / "pool.json").read_text())
    assert pool["held"] == {}  # nothing left held


async def test_a_memory_held_job_stopped_with_its_dag_is_rescued_with_more(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    """No release comes (the tracker's first look is before the hold, the next in an hour):
    the job stays held at 300 MB until an operator's stop removes the DAG. The rescue
    that resumes it starts the unit's processing jobs at int(300 * 1.5) = 450 MB (at most
    600), enough for the 350 MB the node uses, and the request completes."""
    small_rereco(site)
    site.start_worker(env=env(WMS2_CONDOR_MEMORY_RETRY="false", WMS2_MEMORY_RELEASE_SEC="3600"))
    h = await start(dev_server, site, RERECO, urgent=True)
    s = await until(h, lambda s: s.status is RequestStatus.ACTIVE and bool(s.dag_file), 120)
    dag_dir = Path(s.dag_file or "").parent
    unit = dag_dir / "mg_000000"  # GROWN's unit
    jobstate = unit / "group.dag.jobstate.log"
    for _ in range(600):
        if jobstate.exists() and f" {GROWN} JOB_HELD " in jobstate.read_text():
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"{GROWN} was never held")
    await h.signal(RequestWorkflow.stop, StopSignal(reason="memory-held job"))
    result = await asyncio.wait_for(h.result(), 240)
    assert result.status is RequestStatus.COMPLETED, result.reason
    s = await h.query(RequestWorkflow.status)
    names = [t.to_status.value for t in s.transitions]
    assert names[names.index("stopping") :] == [
        "stopping",
        "resubmitting",
        "queued",
        "active",
        "completed",
    ]
    assert len(s.completed_work_units) == s.progress.work_units_total > 0
    bumps = ledger.read(dag_dir)
    assert [(b.node, b.how, b.from_mb, b.to_mb) for b in bumps] == [
        ("mg_000000", "rescue", 300, 450)
    ]
    assert bumps[0].reason == f"{GROWN} failed for memory at 300 MB"
    # The DAG's shared submit description is as planned; the unit has its own.
    assert "request_memory = 300\n" in (dag_dir / "processing.sub").read_text()
    assert "request_memory = 450\n" in (unit / "processing.sub").read_text()
    # What the pool's jobs asked (their submit events): GROWN at 300 in the first run,
    # then at 450 in the rescue; its sibling at 300, and at 450 if the stop caught it.
    asked: dict[str, list[str]] = {}
    for node, mb in re.findall(
        r"DAG Node: (proc_\S+) .*RequestMemory = (\d+)", (unit / "group.log").read_text()
    ):
        asked.setdefault(node, []).append(mb)
    assert asked[GROWN] == ["300", "450"], asked
    assert asked["proc_000001"] in (["300"], ["300", "450"]), asked
    assert "applied the prepared sizing" in (unit / "sizing.log").read_text()
    out = io.StringIO()  # what `starter.py status` prints on the submit host
    Console(file=out, width=200).print(render_state(s))
    assert "1 rescue(s) started 1 unit(s) with more memory" in out.getvalue()
    assert f"mg_000000 rescue: 300 -> 450 MB ({GROWN} failed for memory" in out.getvalue()
