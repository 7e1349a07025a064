"""DAGMan semantics of the local backend, each exercised with real subprocesses."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.condor.dagkit import (
    job,
    make_kit,
    max_concurrency,
    metrics,
    runs,
    set_codes,
    wait,
    wait_for,
)
from wms2.condor.dagfile import DagSyntaxError
from wms2.condor.handles import JobState
from wms2.condor.jobstate import JobstateLog, State
from wms2.condor.local.backend import LocalBackend
from wms2.dagstatus import DONE, ERROR, FUTILE, read_status_file


@pytest.fixture
def kit(tmp_path: Path) -> Path:
    return make_kit(tmp_path / "dag")


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / "state", "T2_XX_Test", slots=4, status_interval=0.2)


def write_dag(kit: Path, text: str, name: str = "test.dag") -> Path:
    path = kit / name
    path.write_text(text)
    return path


def test_job_submit_description_and_dependencies(kit: Path, backend: LocalBackend) -> None:
    (kit / "input.txt").write_text("payload input")
    (kit / "xfer.sub").write_text(
        "executable = /bin/sh\n"
        'arguments = "-c ls>listing.txt;echo_$(node)>out_$(node).txt"\n'.replace("_", " ")
        + "transfer_input_files = input.txt\n"
        "transfer_output_files = listing.txt\n"
        f"initialdir = {kit}\n"
        'environment = "GREETING=hello"\n'
        "output = xfer.out\nerror = xfer.err\nlog = xfer.log\n"
        "request_cpus = 2\nrequest_memory = 1234\nqueue\n"
    )
    dag = write_dag(
        kit,
        job("a", 0.1) + job("b", 0.1, extra="--flag value") + 'JOB x xfer.sub\nVARS x node="x"\n'
        "PARENT a CHILD b x\n",
    )
    assert wait(backend, backend.submit_dag(dag)).exit_code == 0
    r = {node: (start, end, extra) for node, start, end, extra in runs(kit)}
    assert r["b"][0] >= r["a"][1]  # child starts after the parent ended
    assert r["b"][2] == "--flag value"  # VARS substituted into arguments
    # The transfer job ran in a scratch dir holding its input; only the listed output came back.
    assert "input.txt" in (kit / "listing.txt").read_text()
    assert not (kit / "out x.txt").exists()
    log = (kit / "xfer.log").read_text()
    assert "RequestCpus = 2 RequestMemory = 1234" in log and "return value 0" in log
    assert (kit / "a.out").exists() and (kit / "nodes.log").exists()


def test_environment_and_machine_ad(kit: Path, backend: LocalBackend) -> None:
    (kit / "env.sub").write_text(
        "executable = /bin/sh\n"
        'arguments = "-c env"\n'
        'environment = "GREETING=hello WHO=$(who)"\n'
        "should_transfer_files = NO\noutput = env.out\nqueue\n"
    )
    dag = write_dag(kit, 'JOB e env.sub\nVARS e who="dagman"\n')
    assert wait(backend, backend.submit_dag(dag)).exit_code == 0
    env = (kit / "env.out").read_text()
    assert "GREETING=hello" in env and "WHO=dagman" in env
    ad = next(line for line in env.splitlines() if line.startswith("_CONDOR_MACHINE_AD="))
    assert 'GLIDEIN_CMSSite = "T2_XX_Test"' in Path(ad.split("=", 1)[1]).read_text()


def test_retry_until_success(kit: Path, backend: LocalBackend) -> None:
    set_codes(kit, "flaky", 1, 1)  # fails twice, then succeeds
    dag = write_dag(kit, job("flaky") + "RETRY flaky 3\n" + "NODE_STATUS_FILE test.dag.status\n")
    assert wait(backend, backend.submit_dag(dag)).exit_code == 0
    assert [r[0] for r in runs(kit)] == ["flaky"] * 3
    snap = read_status_file(kit / "test.dag.status")
    assert snap.nodes["flaky"].status == DONE and snap.nodes["flaky"].retries == 2


def test_retry_unless_exit_stops_retries(kit: Path, backend: LocalBackend) -> None:
    set_codes(kit, "bad", 2, 2, 2)
    dag = write_dag(
        kit, job("bad") + "RETRY bad 3 UNLESS-EXIT 2\nNODE_STATUS_FILE test.dag.status\n"
    )
    assert wait(backend, backend.submit_dag(dag)).exit_code == 1
    assert len(runs(kit)) == 1
    assert read_status_file(kit / "test.dag.status").nodes["bad"].status == ERROR


def test_pre_and_post_scripts_with_macros(kit: Path, backend: LocalBackend) -> None:
    rec = kit / "record.py"
    set_codes(kit, "n1", 7)
    dag = write_dag(
        kit,
        job("n1")
        + job("n2")
        + f"SCRIPT PRE n1 {rec} pre $JOB $RETRY $MAX_RETRIES\n"
        + f"SCRIPT POST n1 {rec} post $JOB $PRE_SCRIPT_RETURN $RETRY --exit $RETURN\n"
        + "RETRY n1 1\n"
        + f"SCRIPT PRE n2 {rec} pre2 $node $unknown --exit 3\n",  # a failing PRE script
    )
    assert wait(backend, backend.submit_dag(dag)).exit_code == 1
    lines = (kit / "scripts.log").read_text().splitlines()
    assert "record.py pre n1 0 1" in lines and "record.py pre n1 1 1" in lines
    assert "record.py post n1 0 0 --exit 7" in lines  # job failed with 7, retried...
    assert "record.py post n1 0 1 --exit 0" in lines  # ...and then succeeded
    # macros are case-insensitive whole tokens; unknown ones are left alone
    assert "record.py pre2 n2 $unknown --exit 3" in lines
    assert [r[0] for r in runs(kit)] == ["n1", "n1"]  # n2's job never ran


def test_post_script_decides_both_ways(kit: Path, backend: LocalBackend) -> None:
    rec = kit / "record.py"
    set_codes(kit, "rescued", 5)
    dag = write_dag(
        kit,
        job("rescued")
        + job("vetoed")
        + job("after")
        + f"SCRIPT POST rescued {rec} post\n"  # exits 0 although the job failed
        + f"SCRIPT POST vetoed {rec} post --exit 1\n"  # fails although the job succeeded
        + "PARENT vetoed CHILD after\nNODE_STATUS_FILE test.dag.status\n",
    )
    assert wait(backend, backend.submit_dag(dag)).exit_code == 1
    nodes = read_status_file(kit / "test.dag.status").nodes
    assert nodes["rescued"].status == DONE and nodes["vetoed"].status == ERROR
    assert nodes["after"].status == FUTILE and nodes["after"].details == "Had an ancestor node fail"
    assert (kit / "test.dag.rescue001").exists()
    m = metrics(kit / "test.dag")
    assert (m["exitcode"], m["nodes_succeeded"], m["nodes_failed"]) == (1, 1, 1)


def test_pre_skip(kit: Path, backend: LocalBackend) -> None:
    dag = write_dag(kit, job("s") + f"SCRIPT PRE s {kit / 'record.py'} --exit 9\nPRE_SKIP s 9\n")
    assert wait(backend, backend.submit_dag(dag)).exit_code == 0
    assert runs(kit) == []


def test_maxjobs_never_lets_a_third_node_run(kit: Path, backend: LocalBackend) -> None:
    text = "".join(job(f"n{i}", 0.3) + f"CATEGORY n{i} Limited\n" for i in range(6))
    dag = write_dag(kit, text + "MAXJOBS Limited 2\n")
    assert wait(backend, backend.submit_dag(dag)).exit_code == 0
    intervals = [(s, e) for _, s, e, _ in runs(kit)]
    assert len(intervals) == 6 and max_concurrency(intervals) == 2


def test_global_slot_limit(kit: Path, tmp_path: Path) -> None:
    one_slot = LocalBackend(tmp_path / "state1", "T2_XX_Test", slots=1, status_interval=0.2)
    dag = write_dag(kit, "".join(job(f"n{i}", 0.2) for i in range(4)))
    assert wait(one_slot, one_slot.submit_dag(dag)).exit_code == 0
    assert max_concurrency([(s, e) for _, s, e, _ in runs(kit)]) == 1


def test_subdag_external_with_dir_and_config(kit: Path, backend: LocalBackend) -> None:
    inner = kit / "inner"
    inner.mkdir()
    (inner / "node.sub").write_text((kit / "node.sub").read_text())
    (inner / "inner.dag").write_text(
        job("i1") + job("i2") + "PARENT i1 CHILD i2\nNODE_STATUS_FILE inner.dag.status\n"
    )
    (kit / "dagman.config").write_text("DAGMAN_MAX_PRE_SCRIPTS = 5\n")
    dag = write_dag(
        kit,
        "CONFIG dagman.config\nSUBDAG EXTERNAL sub inner.dag DIR inner\n"
        + job("last")
        + "PARENT sub CHILD last\nNODE_STATUS_FILE test.dag.status\n",
    )
    assert wait(backend, backend.submit_dag(dag)).exit_code == 0
    assert [r[0] for r in runs(kit)] == ["i1", "i2", "last"]
    assert (inner / "i1.out").exists()  # ran inside DIR
    inner_snap = read_status_file(inner / "inner.dag.status")
    assert inner_snap.finished and inner_snap.counts["NodesDone"] == 2
    assert read_status_file(kit / "test.dag.status").nodes["sub"].status == DONE
    assert (inner / "inner.dag.metrics").exists()


def test_removal_writes_rescue_and_resubmission_skips_done_nodes(
    kit: Path, backend: LocalBackend
) -> None:
    text = job("first", 0.0) + "".join(job(f"slow{i}", 30) for i in range(2))
    dag = write_dag(
        kit, text + "PARENT first CHILD slow0 slow1\nNODE_STATUS_FILE test.dag.status\n"
    )
    handle = backend.submit_dag(dag)
    wait_for(
        lambda: (
            (s := read_status_file(kit / "test.dag.status")) is not None
            and s.nodes["first"].status == DONE
            and s.counts["NodesQueued"] == 2
        )
    )
    assert backend.remove(handle)
    status = wait(backend, handle)
    assert status.exit_code == 2
    rescue = (kit / "test.dag.rescue001").read_text()
    assert "DONE first" in rescue and "DONE slow" not in rescue
    assert "# Nodes premarked DONE: 1" in rescue
    assert metrics(dag)["exitcode"] == 2
    assert [r[0] for r in runs(kit)] == ["first"]  # the slow nodes were killed
    assert not backend.remove(handle)  # already gone

    dag.write_text(
        job("first")
        + "".join(job(f"slow{i}", 0) for i in range(2))
        + "PARENT first CHILD slow0 slow1\n"
    )
    assert wait(backend, backend.submit_dag(dag)).exit_code == 0
    assert sorted(r[0] for r in runs(kit)) == ["first", "slow0", "slow1"]  # first not rerun


def test_removing_the_outer_dag_stops_its_subdags(kit: Path, backend: LocalBackend) -> None:
    inner = kit / "inner"
    inner.mkdir()
    (inner / "node.sub").write_text((kit / "node.sub").read_text())
    (inner / "inner.dag").write_text(
        job("quick") + job("stuck", 30) + "PARENT quick CHILD stuck\n"
        "NODE_STATUS_FILE inner.dag.status\n"
    )
    dag = write_dag(kit, "SUBDAG EXTERNAL sub inner.dag DIR inner\n")
    handle = backend.submit_dag(dag)
    wait_for(
        lambda: (
            (s := read_status_file(inner / "inner.dag.status")) is not None
            and s.counts["NodesQueued"] == 1
            and s.nodes["quick"].status == DONE
        )
    )
    backend.remove(handle)
    assert wait(backend, handle).exit_code == 2
    assert "DONE quick" in (inner / "inner.dag.rescue001").read_text()
    assert (kit / "test.dag.rescue001").exists()
    out = subprocess.run(["pgrep", "-f", "node_job.py stuck"], capture_output=True, text=True)
    assert out.stdout.strip() == ""  # the inner job process is gone


def test_runner_survives_the_death_of_its_submitter(kit: Path, tmp_path: Path) -> None:
    dag = write_dag(kit, job("a", 1.0) + job("b") + "PARENT a CHILD b\n")
    state = tmp_path / "state"
    code = (
        "import sys, os\n"
        "from pathlib import Path\n"
        "from wms2.condor.local.backend import LocalBackend\n"
        f"h = LocalBackend(Path({str(state)!r}), 'T2_XX_Test', 2).submit_dag(Path({str(dag)!r}))\n"
        "print(h.cluster_id)\n"
        "os._exit(0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    cluster = out.stdout.strip()
    backend = LocalBackend(state, "T2_XX_Test", 2)
    handle = backend.find_dag(dag)
    assert handle is not None and handle.cluster_id == cluster  # alive after its submitter died
    assert wait(backend, handle).exit_code == 0
    assert [r[0] for r in runs(kit)] == ["a", "b"]


def test_submission_is_idempotent_while_alive(kit: Path, backend: LocalBackend) -> None:
    dag = write_dag(kit, job("a", 1.0))
    first = backend.submit_dag(dag)
    assert backend.submit_dag(dag).cluster_id == first.cluster_id
    assert wait(backend, first).exit_code == 0
    assert len(runs(kit)) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SPLICE s other.dag\n", "SPLICE is not supported"),
        ("JOB a node.sub\nABORT-DAG-ON a 3\n", "ABORT-DAG-ON is not supported"),
        ("JOB a node.sub\nPRIORITY a 5\n", "PRIORITY is not supported"),
        ("SUBDAG a x.dag\n", "only SUBDAG EXTERNAL"),
        ("JOB a node.sub\nSCRIPT DEFER 1 PRE a /bin/true\n", "DEFER needs an exit status"),
        ("JOB a missing.sub\n", "submit file missing.sub of a does not exist"),
        ("JOB a node.sub\nPARENT a CHILD b\n", "node 'b' is not defined"),
        ("JOB a node.sub\nJOB b node.sub\nPARENT a CHILD b\nPARENT b CHILD a\n", "cycle"),
        ("CONFIG nowhere.config\n", "cannot read CONFIG file"),
    ],
)
def test_unsupported_or_broken_dags_fail_at_submit(
    kit: Path, backend: LocalBackend, text: str, message: str
) -> None:
    dag = write_dag(kit, text)
    with pytest.raises(DagSyntaxError, match=message):
        backend.submit_dag(dag)
    assert runs(kit) == []


def test_single_job_and_unknown_handles(kit: Path, backend: LocalBackend) -> None:
    sub = kit / "pilot.sub"
    sub.write_text(
        f"executable = {kit / 'node_job.py'}\narguments = pilot 0\n"
        f'environment = "DAGKIT_DIR={kit}"\nshould_transfer_files = NO\nqueue\n'
    )
    handle = backend.submit_job(sub)
    assert wait(backend, handle).exit_code == 0 and runs(kit)[0][0] == "pilot"
    unknown = handle.model_copy(update={"cluster_id": "999999"})
    assert backend.query(unknown).state is JobState.MISSING
    assert backend.ping()


def test_a_runner_killed_hard_is_reported_missing(kit: Path, backend: LocalBackend) -> None:
    import json
    import signal

    dag = write_dag(kit, job("a", 30))
    handle = backend.submit_dag(dag)
    pid = json.loads((backend.jobs / f"{handle.cluster_id}.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    status = wait(backend, handle)
    assert status.state is JobState.MISSING and "died without an exit record" in status.detail


def test_a_killed_runner_is_missing_and_its_orphaned_nodes_are_killed(
    kit: Path, backend: LocalBackend
) -> None:
    """DAGMan lost (SIGKILL): the node processes it started keep running until whoever
    finds it gone reaps them from the process groups the runner recorded."""
    dag = write_dag(kit, job("slow0", 60) + job("slow1", 60))
    handle = backend.submit_dag(dag)
    groups = backend.jobs / f"{handle.cluster_id}.pgroups"
    wait_for(lambda: groups.is_dir() and len(list(groups.iterdir())) == 2)
    pgids = [int(p.name) for p in groups.iterdir()]
    assert all(_alive(p) for p in pgids)
    assert backend.reap_orphans(handle) == 0  # its runner lives: nothing is reaped
    runner = json.loads((backend.jobs / f"{handle.cluster_id}.json").read_text())["pid"]
    os.kill(runner, signal.SIGKILL)
    wait_for(lambda: backend.query(handle).state is JobState.MISSING)
    assert all(_alive(p) for p in pgids)  # orphans, still running
    assert backend.reap_orphans(handle) == 2
    wait_for(lambda: not any(_alive(p) for p in pgids))
    assert list(groups.iterdir()) == [] and runs(kit) == []  # no node finished


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_post_scripts_run_in_dagman_max_post_scripts_slots(
    kit: Path, backend: LocalBackend
) -> None:
    """A POST script that cools off holds one of DAGMAN_MAX_POST_SCRIPTS slots, as in
    DAGMan: with one slot, four 0.3 s POST scripts run one after the other."""
    post = kit / "slow_post.py"
    post.write_text(
        "#!/usr/bin/env python3\nimport sys, time\nstart = time.time()\ntime.sleep(0.3)\n"
        f"open({str(kit / 'posts.log')!r}, 'a').write(f'{{start}} {{time.time()}}\\n')\n"
    )
    post.chmod(0o755)
    (kit / "dagman.config").write_text("DAGMAN_MAX_POST_SCRIPTS = 1\n")
    text = "CONFIG dagman.config\n" + "".join(
        job(f"n{i}") + f"SCRIPT POST n{i} {post}\n" for i in range(4)
    )
    assert wait(backend, backend.submit_dag(write_dag(kit, text))).exit_code == 0
    spans = sorted(
        tuple(map(float, line.split())) for line in (kit / "posts.log").read_text().splitlines()
    )
    assert len(spans) == 4
    assert all(later[0] >= earlier[1] - 0.01 for earlier, later in itertools.pairwise(spans))


def test_jobstate_log_as_condor_dagman_writes_it(kit: Path, backend: LocalBackend) -> None:
    """One line per node event, read incrementally: POST decides success, a failure is
    named, DAGMan's start and exit are INTERNAL lines."""
    rec = kit / "record.py"
    set_codes(kit, "vetoed", 0)
    dag = write_dag(
        kit,
        job("A")
        + job("rescued")
        + job("vetoed")
        + f"SCRIPT POST vetoed {rec} post --exit 3\n"
        + f"SCRIPT POST rescued {rec} post\n"
        + "JOBSTATE_LOG test.jobstate.log\n",
    )
    set_codes(kit, "rescued", 5)
    assert wait(backend, backend.submit_dag(dag)).exit_code == 1
    log = kit / "test.jobstate.log"
    lines = [line.split() for line in log.read_text().splitlines()]
    assert lines[0][1:4] == ["INTERNAL", "***", "DAGMAN_STARTED"]
    assert lines[-1][1:5] == ["INTERNAL", "***", "DAGMAN_FINISHED", "1"]
    events = [(w[1], w[2]) for w in lines[1:-1]]
    assert [e for n, e in events if n == "rescued"] == [
        "SUBMIT",
        "EXECUTE",
        "JOB_TERMINATED",
        "JOB_FAILURE",
        "POST_SCRIPT_STARTED",
        "POST_SCRIPT_TERMINATED",
        "POST_SCRIPT_SUCCESS",
    ]
    assert all(len(w) == 7 and w[0].isdigit() for w in lines[1:-1])

    nodes = JobstateLog(log)
    nodes.read()
    assert nodes.offset == log.stat().st_size and nodes.dagman_finished == 1
    assert sorted(nodes.in_state(State.SUCCEEDED)) == ["A", "rescued"]
    assert nodes.in_state(State.FAILED) == ["vetoed"]  # its job succeeded, its POST did not
    assert nodes.read() == []


HTCONDOR_LINES = (
    Path(__file__).resolve().parent.parent
    / "fixtures/dagman/jobstate/htcondor_job_dagman_jobstate_log.patterns"
)


def test_jobstate_log_line_by_line_as_htcondors_own_test_expects(
    kit: Path, backend: LocalBackend
) -> None:
    """HTCondor's job_dagman_jobstate_log test (its nodes C, D, E; A and B need job tags
    and a two-job cluster): C's POST fails, its retry succeeds; D fails, and the rescue
    DAG runs it again under the next sequence numbers; E cannot be submitted and its POST
    decides. Every node line must match the line HTCondor's test expects there."""
    post = kit / "post_c.sh"
    post.write_text('#!/bin/sh\ntest "$2" -ge 1\n')  # fails on $RETRY 0
    post.chmod(0o755)
    (kit / "nodeE.sub").write_text("# This is supposed to cause condor_submit to fail.\nqueue\n")
    rec = kit / "record.py"
    dag = write_dag(
        kit,
        "JOBSTATE_LOG test.jobstate.log\n"
        + job("NodeC")
        + f"SCRIPT PRE NodeC {rec} pre\nSCRIPT POST NodeC {post} $JOB $RETRY\nRETRY NodeC 1\n"
        + job("NodeD")
        + f"JOB NodeE nodeE.sub\nSCRIPT POST NodeE {rec} post\n"
        + "PARENT NodeC CHILD NodeD\nPARENT NodeD CHILD NodeE\n",
    )
    set_codes(kit, "NodeD", 1)
    first = backend.submit_dag(dag)
    assert wait(backend, first).exit_code == 1
    second = backend.submit_dag(dag)  # the rescue DAG: C is done
    assert wait(backend, second).exit_code == 0

    lines = (kit / "test.jobstate.log").read_text().splitlines()
    # There A and B took the sequence numbers 1 and 2.
    expected = [
        re.sub(r"- (\d+)\$$", lambda m: f"- {int(m[1]) - 2}$", p)
        for p in HTCONDOR_LINES.read_text().splitlines()
        if re.match(r"\^\\d\+ Node[CDE] ", p)
    ]
    nodes = [line for line in lines if " INTERNAL " not in line]
    assert len(nodes) == len(expected), "\n".join(nodes)
    for line, pattern in zip(nodes, expected, strict=True):
        assert re.match(pattern, line), (line, pattern)
    internal = [line.split(maxsplit=1)[1] for line in lines if " INTERNAL " in line]
    assert internal == [
        f"INTERNAL *** DAGMAN_STARTED {first.cluster_id}.0 ***",
        "INTERNAL *** DAGMAN_FINISHED 1 ***",
        f"INTERNAL *** DAGMAN_STARTED {second.cluster_id}.0 ***",
        "INTERNAL *** DAGMAN_FINISHED 0 ***",
    ]
    # DAGMan's own events carry the time of the node's last job event.
    by_event = {(w[1], w[2], w[6]): int(w[0]) for w in map(str.split, nodes)}
    assert by_event[("NodeD", "JOB_FAILURE", "3")] == by_event[("NodeD", "JOB_TERMINATED", "3")]

    log = JobstateLog(kit / "test.jobstate.log")
    log.read()
    assert log.in_state(State.SUCCEEDED) == ["NodeC", "NodeD", "NodeE"]
    assert [log.nodes[n].retries for n in ("NodeC", "NodeD", "NodeE")] == [1, 1, 0]
    assert log.dagman_finished == 0
