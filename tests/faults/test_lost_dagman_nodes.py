"""DAGMan (the local runner) SIGKILLed right after a processing node of an unfinished work
unit passed its POST script, on the real stack: the resubmission runs no node that had
finished, in any group."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from collections import Counter
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.conftest import RERECO
from tests.integration.conftest import WorkerSite
from tests.integration.test_end_to_end import assert_registered_once, start
from tests.workflows.harness import until
from wms2.models import RequestStatus
from workflows.request import RequestWorkflow

JOBSTATE = "group.dag.jobstate.log"
SUBMITTED = re.compile(r"^000 \(\S+\) .* DAG Node: (\S+)", re.M)  # the group's user log


def node_events(group: Path) -> dict[str, list[str]]:
    """Each node's events in the group's JOBSTATE_LOG, in order."""
    events: dict[str, list[str]] = {}
    log = group / JOBSTATE
    text = log.read_text() if log.exists() else ""
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[1] != "INTERNAL":
            events.setdefault(words[1], []).append(words[2])
    return events


def finished(events: dict[str, list[str]]) -> set[str]:
    """Nodes whose job and POST script (if any) succeeded, as the runner recorded."""
    return {
        n
        for n, ev in events.items()
        if ev[-1] == "POST_SCRIPT_SUCCESS" or (ev[-1] == "JOB_SUCCESS" and n == "cleanup")
    }


def just_passed(dag_dir: Path) -> str | None:
    """A group whose last processing event is a passed POST while its merge has not
    started: a unit caught between two nodes."""
    for group in sorted(dag_dir.glob("mg_*")):
        if not (group / JOBSTATE).exists():
            continue
        lines = (group / JOBSTATE).read_text().splitlines()
        words = lines[-1].split() if lines else []
        if (
            len(words) >= 3
            and words[1].startswith("proc_")
            and words[2] == "POST_SCRIPT_SUCCESS"
            and "merge" not in node_events(group)
        ):
            return group.name
    return None


def submissions(dag_dir: Path) -> dict[str, Counter[str]]:
    """How often each node's job was submitted, per group (the jobs' own user log)."""
    return {
        g.name: Counter(SUBMITTED.findall((g / "group.log").read_text()))
        for g in sorted(dag_dir.glob("mg_*"))
        if (g / "group.log").exists()
    }


def dead(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


async def test_a_killed_runner_reruns_no_finished_node_of_any_group(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    # Processing jobs long enough that several units are in flight at the kill.
    site.start_worker(env={"WMS2_SYNTHETIC_MAX_SECONDS": "0.5"})
    h = await start(dev_server, site, RERECO, urgent=True)
    s = await until(
        h, lambda s: s.status is RequestStatus.ACTIVE and s.progress.work_units_done >= 1, 120
    )
    assert s.dag is not None
    dag_dir = Path(s.dag_file or "").parent
    jobs = site.root / ".wms2" / "local-condor" / "jobs"
    runner = json.loads((jobs / f"{s.dag.cluster_id}.json").read_text())["pid"]
    victim = None
    for _ in range(3000):
        victim = just_passed(dag_dir)
        if victim is not None:
            break
        await asyncio.sleep(0.01)
    assert victim is not None, "no processing node passed its POST in a unit still open"
    os.kill(runner, signal.SIGKILL)
    for _ in range(500):
        if dead(runner):
            break
        await asyncio.sleep(0.01)
    assert dead(runner)
    assert not (jobs / f"{s.dag.cluster_id}.exit.json").exists(), "the DAG ended first"
    # What every group had finished when its DAGMan died, as DAGMan recorded it.
    done_at_kill = {g.name: finished(node_events(g)) for g in dag_dir.glob("mg_*")}
    before = submissions(dag_dir)
    open_units = [u for u, done in done_at_kill.items() if done and "cleanup" not in done]
    assert victim in open_units
    assert any(n.startswith("proc_") for n in done_at_kill[victim])

    result = await asyncio.wait_for(h.result(), 240)
    assert result.status is RequestStatus.COMPLETED, result.reason
    s = await h.query(RequestWorkflow.status)
    assert s.dagman_losses == 1
    assert s.progress.nodes_running == 0 and s.progress.nodes_failed == 0
    assert s.progress.nodes_done == s.progress.nodes_total
    after = submissions(dag_dir)
    # No node that had finished was submitted again, in any group...
    rerun = {
        (unit, node): after[unit][node] - before[unit][node]
        for unit, done in done_at_kill.items()
        for node in done
        if after[unit][node] != before[unit][node]
    }
    assert rerun == {}
    # ...and every node finished exactly once.
    for unit, events in ((g.name, node_events(g)) for g in dag_dir.glob("mg_*")):
        successes = Counter(
            n
            for n, ev in events.items()
            for e in ev
            if e == "POST_SCRIPT_SUCCESS" or (e == "JOB_SUCCESS" and n == "cleanup")
        )
        if "merge" not in successes and list(events.get("merge", [])).count("JOB_SUCCESS") == 1:
            # Killed while the merge's POST ran: its report was read and its output
            # recorded at the loss, so the rescue keeps the merge DONE rather than replace
            # a registered output (wms2.tracking.group_rescue); its job ran once.
            assert unit in s.completed_work_units
            successes["merge"] = 1
        planned = re.findall(r"^JOB (\S+)", (dag_dir / unit / "group.dag").read_text(), re.M)
        assert successes == Counter(planned), unit
    total = s.progress.work_units_total
    assert sorted(s.completed_work_units) == [f"mg_{i:06d}" for i in range(total)]
    outputs = assert_registered_once(site, RERECO)
    assert s.outputs_by_state == {"announced": len(outputs)}
