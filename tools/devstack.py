"""The embedded WMS2 stack for a laptop: Temporal dev server + one worker, and the demo.

    python tools/devstack.py up      # start the dev server (Web UI :8233) and a worker
    python tools/devstack.py down    # stop what `up` started (by the pids it recorded)
    python tools/devstack.py demo    # up, then run the sample requests to COMPLETED

Everything lives under .wms2/ (SQLite files, logs, pids). Running `up` or `demo` again
reuses a stack that is already running.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wms2.binaries import find_binary  # noqa: E402

STATE = ROOT / ".wms2"
PIDS = STATE / "pids.json"
PORT, UI_PORT = 7233, 8233
SEARCH_ATTRIBUTES = {
    "WMS2Status": "Keyword",
    "WMS2Campaign": "Keyword",
    "WMS2Priority": "Int",
    "WMS2RequestType": "Keyword",
    "WMS2Stuck": "Bool",
}
DEMO_REQUESTS = [
    "pdmvserv_task_QCD-Run3Summer23DRPremix-00042__v1_T_261120_101500_4242",
    "cmsunified_task_GEN-RunIII2024Summer24GS-00002__v1_T_261121_080000_1359",
]
# Quick but real: jobs sleep at most 0.5 s, DAG status is read every second.
DEMO_ENV = {
    "WMS2_SYNTHETIC_MAX_SECONDS": "0.5",
    "WMS2_POST_COOLOFF_TRANSIENT_SEC": "1",  # a demo retry waits seconds, not minutes
    "WMS2_POST_COOLOFF_SITE_SEC": "2",
    "WMS2_POST_COOLOFF_MAX_SEC": "5",
    "WMS2_LOCAL_STATUS_INTERVAL_SEC": "0.5",
    "WMS2_MONITOR_WINDOW_SEC": "10",
    "WMS2_MONITOR_POLL_SEC": "1",
    "WMS2_HEARTBEAT_TIMEOUT_SEC": "10",
    "WMS2_TRANSFER_POLL_INTERVAL_SEC": "2",
}
# One fault the demo's worker injects, that WMS2 recovers from by itself: each request's
# node proc_000002 fails its first try (exit 1, transient) and succeeds on DAGMan's retry;
# the demo prints that request's failure report at its end.
DEMO_FAULTS = {"WMS2_FAIL_ONCE": "proc_000002"}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def load_pids() -> dict[str, int]:
    return json.loads(PIDS.read_text()) if PIDS.exists() else {}


def spawn(name: str, argv: list[str], env: dict[str, str]) -> int:
    log = open(STATE / f"{name}.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    return proc.pid


def up(faults: dict[str, str] | None = None) -> None:
    """`faults`: environment of a worker this starts (a running worker keeps its own)."""
    STATE.mkdir(exist_ok=True)
    pids = load_pids()
    env = {**os.environ, **DEMO_ENV, "WMS2_CATALOG_DIR": str(ROOT / "catalog")}
    if not (pids.get("server") and alive(pids["server"])):
        if port_open(PORT):
            sys.exit(f"port {PORT} is taken by another program; stop it or run `make down`")
        temporal = find_binary("temporal")
        if temporal is None:
            sys.exit("the temporal CLI is missing: run `make install`")
        argv = [
            temporal,
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(PORT),
            "--ui-port",
            str(UI_PORT),
            "--db-filename",
            str(STATE / "temporal.db"),
            "--log-level",
            "warn",
        ]
        for name, kind in SEARCH_ATTRIBUTES.items():
            argv += ["--search-attribute", f"{name}={kind}"]
        pids["server"] = spawn("temporal", argv, env)
        deadline = time.monotonic() + 60
        while not port_open(PORT):
            if time.monotonic() > deadline or not alive(pids["server"]):
                sys.exit(f"the Temporal dev server did not start: see {STATE / 'temporal.log'}")
            time.sleep(0.3)
        print(f"Temporal dev server on 127.0.0.1:{PORT}, Web UI http://127.0.0.1:{UI_PORT}")
    if not (pids.get("worker") and alive(pids["worker"])):
        worker_env = {**env, **(faults or {})}
        pids["worker"] = spawn("worker", [sys.executable, str(ROOT / "worker.py")], worker_env)
        print(f"WMS2 worker started (log {STATE / 'worker.log'})")
    PIDS.write_text(json.dumps(pids))


def down() -> None:
    pids = load_pids()
    for name in ("worker", "server"):
        pid = pids.get(name)
        if pid and alive(pid):
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                if not alive(pid):
                    break
                time.sleep(0.2)
            else:
                os.kill(pid, signal.SIGKILL)
            print(f"stopped {name} ({pid})")
    PIDS.unlink(missing_ok=True)


async def run_demo() -> int:
    from rich.console import Console
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    from wms2.config import Settings

    os.environ.update(DEMO_ENV)
    client = await Client.connect(f"127.0.0.1:{PORT}", data_converter=pydantic_data_converter)
    return await demo(client, Settings(), DEMO_REQUESTS, Console())


async def demo(client: Any, settings: Any, names: list[str], console: Any) -> int:
    """Submit `names`, show live progress until they end, print the summary: statuses,
    merged files with sizes, checksums and output states, Web UI addresses. 0 if all
    COMPLETED."""
    from temporalio.common import WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from cli.requests import watch_requests
    from cli.status_view import merged_files_table, render_state
    from cli.submit import static_texts
    from wms2.messages import RequestInput, request_workflow_id
    from wms2.outputs.messages import OutputState
    from wms2.service_factory import build_services
    from workflows.output import OutputWorkflow
    from workflows.request import RequestWorkflow

    handles = {}
    for name in names:
        try:
            handles[name] = await client.start_workflow(
                RequestWorkflow.run,
                RequestInput(request_name=name),
                id=request_workflow_id(name),
                task_queue=settings.task_queue,
                **static_texts(name, None, settings),
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
            console.print(f"submitted {name}", soft_wrap=True)  # the name never broken
        except WorkflowAlreadyStartedError:
            # A request name runs once: a demo after the first runs a copy of the sample
            # under a new name, as a requestor clones a request in ReqMgr2.
            doc = build_services(settings).requests.get_request(name)
            copy = f"{name}_demo{time.strftime('%H%M%S')}"
            handles[copy] = await client.start_workflow(
                RequestWorkflow.run,
                RequestInput(
                    request_name=copy,
                    request_document={**doc, "RequestName": copy},
                ),
                id=request_workflow_id(copy),
                task_queue=settings.task_queue,
                **static_texts(copy, {**doc, "RequestName": copy}, settings),
            )
            console.print(f"submitted {copy} ({name} ran before: a copy of it)", soft_wrap=True)
    states = await watch_requests(client, list(handles), interval=1.0)
    ok = True
    for n, s in states.items():
        console.print(render_state(s))
        ok &= s.status.value == "completed"
        if s.dag_file:
            unit_states: dict[tuple[str, str], str] = {}
            for dataset, wf_id in s.output_workflows.items():
                o = await client.get_workflow_handle(wf_id).query(
                    OutputWorkflow.status, result_type=OutputState
                )
                for u in o.units.values():
                    unit_states[(dataset, u.work_unit)] = u.status.value
                for name, st in o.finished_units.items():
                    unit_states[(dataset, name)] = st.value
            rows = []
            for unit in s.completed_work_units:
                report = json.loads(
                    (Path(s.dag_file).parent / unit / "merge_output.json").read_text()
                )
                for out in report["outputs"]:
                    state = unit_states.get((out["dataset"], unit), "?")
                    rows.append({**out, "unit": unit, "state": state})
            table = merged_files_table(n, rows)
            console.print(table)
        if s.dag_file:
            report = failure_report(n, Path(s.dag_file), settings, s.sizing_changes)
            if report:
                console.print(report, markup=False, highlight=False, soft_wrap=True)
        # soft_wrap: a link longer than the terminal is one line the terminal folds, so it
        # still opens and copies whole (rich would break it with a newline at 80 columns).
        console.print(web_ui_link(n), soft_wrap=True)
    return 0 if ok else 1


def failure_report(name: str, dag_file: Path, settings: Any, changes: list[str]) -> str:
    """What `starter.py report NAME` prints (80 columns), when a node of the request failed
    a try (empty otherwise)."""
    from wms2.dagfiles import DagLayout
    from wms2.failures import build_report
    from wms2.failures.render import render_report

    if not dag_file.exists():
        return ""
    report = build_report(DagLayout(dag_file.parent), name, settings.rescue_round_cap)
    if not report.tries_failed:
        return ""
    return f"starter.py report {name}:\n" + render_report(report, 80, changes)


def web_ui_link(name: str) -> str:
    from wms2.messages import request_workflow_id

    return f"Web UI: http://127.0.0.1:{UI_PORT}/namespaces/default/workflows/{request_workflow_id(name)}"


def still_running(pids: dict[str, int]) -> str:
    """What the demo leaves running, and how to stop it."""
    running = [
        f"{what} (pid {pids[name]})"
        for name, what in (("server", "the Temporal dev server"), ("worker", "a WMS2 worker"))
        if pids.get(name) and alive(pids[name])
    ]
    if not running:
        return "Nothing is left running."
    return (
        f"Still running: {' and '.join(running)}; Web UI http://127.0.0.1:{UI_PORT}, "
        f"logs in {STATE.relative_to(ROOT)}/. Stop them with `make down`."
    )


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "demo"
    if command == "up":
        up()
    elif command == "down":
        down()
    elif command == "demo":
        up(DEMO_FAULTS)
        code = asyncio.run(run_demo())
        print(still_running(load_pids()))
        return code
    else:
        sys.exit(f"unknown command {command!r}: up, down or demo")
    return 0


if __name__ == "__main__":
    code = main()
    # As in starter.py: the Temporal client's native threads may still be winding down
    # while the interpreter finalizes (seen here once: make demo ended with a segmentation
    # fault after printing its last line). The work is done: leave at once.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
