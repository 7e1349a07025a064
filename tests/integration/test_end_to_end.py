"""Whole requests on the real dev server, the real worker, the offline catalog and the
local backend."""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
import socket
import subprocess
import sys
import zlib
from pathlib import Path

import httpx
import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.conftest import GEN, REPO, RERECO, SAMPLE_CATALOG
from tests.integration.conftest import WorkerSite
from tests.workflows.harness import until
from wms2.db import Repository, make_engine
from wms2.messages import LifecycleConfig, RequestInput, request_workflow_id
from wms2.models import OutputDataset, OutputStatus, RequestStatus
from wms2.outputs import unit_block_name
from wms2.outputs.messages import OutputConfig
from wms2.services.catalog import OfflineCatalog
from workflows.request import RequestWorkflow

CONFIG = LifecycleConfig(
    monitor_window_sec=5,
    poll_sec=0.3,
    heartbeat_sec=3,
    output=OutputConfig(transfer_poll_sec=0.5),
)


def run_starter(
    site: WorkerSite, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python starter.py ARGS` as an operator of this site runs it (`env`: more of the
    operator's environment)."""
    return subprocess.run(
        [sys.executable, str(REPO / "starter.py"), *args],
        env={**site.env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def catalog_state(site: WorkerSite) -> OfflineCatalog:
    return OfflineCatalog(site.catalog_dir, site.root / ".wms2" / "catalog-state")


def assert_registered_once(site: WorkerSite, request: str) -> list[OutputDataset]:
    """Every output has one record, one DBS block and one source rule: nothing twice."""
    r = repo(site)
    outputs = r.list_outputs(r.get_workflow_by_request(request).id)
    blocks = catalog_state(site).recorded_blocks()
    mine = [b for b in blocks.values() if any(o.lfn in b["files"] for o in outputs)]
    assert len(mine) == len(outputs) == len({(o.dataset_name, o.work_unit) for o in outputs})
    sources = [
        rule
        for rule in catalog_state(site).recorded_rules().values()
        if rule["comment"] == f"WMS2 source protection for {request}"
    ]
    assert len(sources) == len(outputs)
    return outputs


async def start(
    env: WorkflowEnvironment, site: WorkerSite, name: str, **kw: object
) -> WorkflowHandle:
    return await env.client.start_workflow(
        RequestWorkflow.run,
        RequestInput(**{"request_name": name, "config": CONFIG, **kw}),
        id=request_workflow_id(name),
        task_queue=site.task_queue,
    )


def repo(site: WorkerSite) -> Repository:
    return Repository(make_engine(site.db_url))


async def test_pilot_request_completes_with_merged_outputs(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    site.start_worker("--metrics-port", str(port))
    h = await start(dev_server, site, GEN)
    result = await asyncio.wait_for(h.result(), 180)
    assert result.status is RequestStatus.COMPLETED, result.reason
    s = await h.query(RequestWorkflow.status)
    assert [t.to_status.value for t in s.transitions] == [
        "submitted",
        "queued",
        "pilot_running",
        "planning",
        "active",
        "completed",
    ]
    assert s.pilot_metrics is not None and s.pilot_metrics.events_processed == 70
    assert len(s.completed_work_units) == s.progress.work_units_total > 0
    # Every work unit's merged file is at its LFN with the checksum its report gives.
    dag_dir = Path(s.dag_file).parent
    for unit in s.completed_work_units:
        report = json.loads((dag_dir / unit / "merge_output.json").read_text())
        for out in report["outputs"]:
            data = (site.root / ".wms2" / "storage" / out["lfn"].lstrip("/")).read_bytes()
            assert (
                f"{zlib.adler32(data) & 0xFFFFFFFF:08x}" == out["adler32"]
                and len(data) == out["size"]
            )
    r = repo(site)
    stored = r.get_request(GEN)
    assert stored.status is RequestStatus.COMPLETED
    assert [t.to_status.value for t in stored.status_transitions][-1] == "completed"
    wf = r.get_workflow_by_request(GEN)
    assert wf.pilot_metrics is not None
    dag = r.latest_dag(wf.id)
    assert dag.status.value == "completed"
    # The worker's Prometheus endpoint: the SDK's metrics and WMS2's own.
    completed_gauge = r'wms2_requests\{[^}]*status="completed"[^}]*\} 1'
    announced_gauge = r'wms2_outputs\{[^}]*status="announced"[^}]*\} [1-9]'
    # The catalog's six sites and the local pool's own, synced when the worker started.
    sites_gauge = r'wms2_sites\{[^}]*status="enabled"[^}]*\} 7'
    for _ in range(30):  # the gauges are refreshed every second (WMS2_METRICS_INTERVAL_SEC)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        if all(re.search(g, text) for g in (completed_gauge, announced_gauge, sites_gauge)):
            break
        await asyncio.sleep(1)
    assert re.search(r'wms2_request_transitions\{[^}]*to_status="completed"', text)
    assert re.search(r"wms2_work_units_completed\{[^}]*\} [1-9]", text)
    assert "wms2_admission_queue_depth" in text and "wms2_admission_active" in text
    assert re.search(r'wms2_requests\{[^}]*status="completed"[^}]*\} 1', text)
    assert "temporal_activity_execution_latency" in text
    assert sorted(dag.completed_work_units) == sorted(s.completed_work_units)  # any order
    assert re.search(announced_gauge, text)
    assert re.search(sites_gauge, text) and re.search(r'wms2_sites\{[^}]*status="banned"', text)

    # Outputs: every one ANNOUNCED, registered in DBS with its checksum, its source rule
    # released once the transfer rule to the GEN-SIM destination was OK.
    units = len(s.completed_work_units)
    assert s.outputs_by_state == {"announced": units}
    outputs = assert_registered_once(site, GEN)
    blocks, rules = catalog_state(site).recorded_blocks(), catalog_state(site).recorded_rules()
    for o in outputs:
        assert o.status is OutputStatus.ANNOUNCED and o.source_released
        report = json.loads((dag_dir / o.work_unit / "merge_output.json").read_text())
        block = blocks[unit_block_name(GEN, o.dataset_name, o.work_unit)]
        assert block["open_for_writing"] == 0 and block["origin_site_name"] == o.source_site
        assert block["files"][o.lfn]["adler32"] == report["outputs"][0]["adler32"] == o.adler32
        assert block["files"][o.lfn]["lumis"] > 0  # lumis from the group manifest
        assert rules[o.source_rule_id]["deleted"] is True
        assert [rules[t]["rse_expression"] for t in o.transfer_rule_ids] == ["T2_CH_CERN"]

    # `starter.py invalidate` walks the rollback table for each of them.
    done = run_starter(site, "invalidate", GEN, "--reason", "bad tune")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"invalidated {units}" in done.stdout
    # `status` says so, though the request ended before (issue 28): the outputs as their
    # output workflows have them now.
    shown = run_starter(site, "status", GEN, env={"COLUMNS": "200"}).stdout
    assert re.search(rf"outputs invalidated\s+│\s+{units}\b", shown), shown
    assert not re.search(r"│ outputs announced\s+│", shown) and "bad tune" in shown
    blocks, rules = catalog_state(site).recorded_blocks(), catalog_state(site).recorded_rules()
    for o in r.list_outputs(wf.id):
        assert o.status is OutputStatus.INVALIDATED and o.invalidation_reason == "bad tune"
        assert (
            blocks[unit_block_name(GEN, o.dataset_name, o.work_unit)]["files"][o.lfn][
                "is_file_valid"
            ]
            == 0
        )
        assert all(rules[t]["deleted"] for t in o.transfer_rule_ids)


async def test_killed_worker_is_replaced_and_nothing_happens_twice(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    first = site.start_worker()
    h = await start(dev_server, site, RERECO, urgent=True)
    s = await until(
        h, lambda s: s.status is RequestStatus.ACTIVE and s.progress.work_units_done >= 1, 120
    )
    site.kill(first)  # mid-monitoring: the monitor activity dies with it
    await asyncio.sleep(1)
    site.start_worker()
    result = await asyncio.wait_for(h.result(), 240)
    assert result.status is RequestStatus.COMPLETED, result.reason
    s = await h.query(RequestWorkflow.status)
    # The DAG was submitted exactly once: one local DAGMan record for its DAG file.
    jobs = site.root / ".wms2" / "local-condor" / "jobs"
    records = [json.loads(p.read_text()) for p in jobs.glob("*[0-9].json")]
    assert [r["dag_file"] for r in records].count(s.dag_file) == 1
    # Every unit reached the workflow (the tracker's signals, its own checks) and was
    # recorded once; a signal the dead tracker sent but had not recorded may come again,
    # and is dropped by the workflow. Each output was registered once.
    reported: list[str] = []
    async for event in h.fetch_history_events():
        if event.HasField("workflow_execution_signaled_event_attributes"):
            attrs = event.workflow_execution_signaled_event_attributes
            if attrs.signal_name == "dag_news":
                body = json.loads(attrs.input.payloads[0].data)
                reported += [w["name"] for w in body["result"]["new_work_units"]]
        if event.HasField("activity_task_completed_event_attributes"):
            payloads = event.activity_task_completed_event_attributes.result.payloads
            if payloads:
                body = json.loads(payloads[0].data or b"null")
                if isinstance(body, dict) and "new_work_units" in body:
                    reported += [w["name"] for w in body["new_work_units"]]
    units = s.completed_work_units
    assert len(units) == len(set(units)) == s.progress.work_units_total
    assert set(reported) == set(units)
    assert_registered_once(site, RERECO)
    dag_history = repo(site).dag_history(
        repo(site).latest_dag(repo(site).get_workflow_by_request(RERECO).id).id
    )
    assert [e["event_type"] for e in dag_history].count("submitted") == 1


@pytest.mark.parametrize("site", ["sqlite", "postgresql"], indirect=True)
async def test_stop_resumes_from_the_rescue_dag(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    from wms2.messages import StopSignal

    site.start_worker()
    h = await start(dev_server, site, RERECO, urgent=True)
    await until(
        h, lambda s: s.status is RequestStatus.ACTIVE and s.progress.work_units_done >= 1, 120
    )
    await h.signal(RequestWorkflow.stop, StopSignal(reason="schedd maintenance"))
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
    assert sorted(s.completed_work_units) == [
        f"mg_{i:06d}" for i in range(s.progress.work_units_total)
    ]
    assert Path(s.dag_file + ".rescue001").exists()
    r = repo(site)
    wf = r.get_workflow_by_request(RERECO)
    second = r.latest_dag(wf.id)
    assert second.attempt == 2 and second.parent_dag_id is not None
    assert second.rescue_dag_path == s.dag_file + ".rescue001"
    assert r.get_dag(second.parent_dag_id).status.value == "stopped"
    assert len(second.completed_work_units) == s.progress.work_units_total
    # Outputs of work units done before the stop were not registered again after it.
    outputs = assert_registered_once(site, RERECO)
    # Each merged file's DBS parents are the input files of its work unit.
    blocks = catalog_state(site).recorded_blocks().values()
    for o in outputs:
        [block] = [b for b in blocks if o.lfn in b["files"]]
        parents = block["file_parents"][o.lfn]
        assert parents and all(p.startswith("/store/data/Run2024C/JetMET0/RAW/") for p in parents)
        assert block["primary_ds_type"] == "data" and block["release_version"] == "CMSSW_14_0_21"
    assert {o.status for o in outputs} == {OutputStatus.ANNOUNCED}
    assert s.outputs_by_state == {"announced": len(outputs)}


async def test_the_demo_path_on_one_smaller_request(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    """What `make demo` runs (tools/devstack.py `demo`), on the GEN request alone."""
    from rich.console import Console

    from tools.devstack import DEMO_FAULTS, demo
    from wms2.config import Settings

    site.start_worker(env=DEMO_FAULTS)  # proc_000002 fails its first try
    settings = Settings(
        task_queue=site.task_queue,
        state_dir=site.root / ".wms2",
        catalog_dir=SAMPLE_CATALOG,
        database_url=site.db_url,
        monitor_window_sec=5,
        monitor_poll_sec=0.3,
        transfer_poll_interval_sec=0.5,
    )
    out = io.StringIO()
    rc = await asyncio.wait_for(
        demo(dev_server.client, settings, [GEN], Console(file=out, width=250)), 180
    )
    text = out.getvalue()
    assert rc == 0, text
    assert f"submitted {GEN}" in text and "all 5 work units done; 5 outputs announced" in text
    rows = [line for line in text.splitlines() if line.startswith("│ mg_")]
    assert len(rows) == 5 and all("announced" in row for row in rows), rows
    assert f"Web UI: http://127.0.0.1:8233/namespaces/default/workflows/request-{GEN}" in text
    # The recovered failure, as `starter.py report` shows it at 80 columns.
    # (a renamed copy, GEN_demoHHMMSS, when an earlier test of this dev server ran GEN)
    found = re.search(rf"starter\.py report {GEN}(_demo\d+)?:", text)
    assert found is not None, text
    report = text[found.start() :].splitlines()[1:]
    report = report[: next(i for i, x in enumerate(report) if x.startswith("Web UI:"))]
    assert report[0].startswith("Failure report") and max(map(len, report)) <= 80, report
    # (a renamed copy's longer name wraps: lines are found, not counted)
    assert any("nodes failed 0 | held 0 | recovered 1 | failed tries 1" in x for x in report)
    assert any(x.startswith("[1] transient exit 1") for x in report), report
    assert "    action: recovered: retried" in report, report
    assert "example mg_000000/proc_000002" in "\n".join(report)


async def test_refused_outputs_are_retried_after_a_restart(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    """DBS refuses the GEN dataset: the request goes PARTIAL; the operator fixes it,
    restarts the worker and the request, and the outputs walk on to ANNOUNCED."""
    catalog = site.root / "catalog"
    shutil.copytree(SAMPLE_CATALOG, catalog)
    config = json.loads((catalog / "config.json").read_text())
    dataset = json.loads(next((catalog / "requests").glob("cmsunified_task_GEN*")).read_text())[
        "OutputDatasets"
    ][0]
    (catalog / "config.json").write_text(json.dumps({**config, "refused_datasets": [dataset]}))
    site.catalog_dir = catalog
    first = site.start_worker()
    h = await start(dev_server, site, GEN, urgent=True)
    s = await until(h, lambda s: s.status is RequestStatus.PARTIAL, 120)
    assert "HTTP 400" in s.transitions[-1].reason and dataset in s.transitions[-1].reason
    assert set(s.outputs_by_state) == {"failed"}

    (catalog / "config.json").write_text(json.dumps(config))  # DBS fixed
    site.kill(first)
    site.start_worker()
    done = run_starter(site, "restart", GEN, "--reason", "dbs fixed")
    assert done.returncode == 0, done.stdout + done.stderr
    result = await asyncio.wait_for(h.result(), 120)
    assert result.status is RequestStatus.COMPLETED, result.reason
    s = await h.query(RequestWorkflow.status)
    assert s.outputs_by_state == {"announced": len(s.completed_work_units)}
    outputs = assert_registered_once(site, GEN)
    assert {o.status for o in outputs} == {OutputStatus.ANNOUNCED}
