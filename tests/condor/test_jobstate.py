"""Reading DAGMan's JOBSTATE_LOG: real logs of condor_dagman, HTCondor's own test and
Pegasus (tests/fixtures/dagman/jobstate/README.md), DAGMan restarts, rescue runs appended to
the same file, and lines cut by a killed DAGMan."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from wms2.condor.jobstate import JobstateLog, JobstateWriter, State

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dagman" / "jobstate"


def read(name: str, tmp_path: Path, post_nodes: frozenset[str] = frozenset()) -> JobstateLog:
    path = tmp_path / name
    shutil.copy(FIXTURES / name, path)
    log = JobstateLog(path, post_nodes)
    log.read()
    assert log.offset == path.stat().st_size and log.skipped == 0
    return log


def verdicts(log: JobstateLog) -> tuple[list[str], list[str]]:
    return log.in_state(State.SUCCEEDED), log.in_state(State.FAILED)


def test_the_manuals_example(tmp_path: Path) -> None:
    log = read("htcondor_manual.jobstate.log", tmp_path)
    a = log.nodes["NodeA"]
    assert (a.state, a.retries, a.job_id, a.return_value) == (State.SUCCEEDED, 0, "4973.0", 0)
    assert log.runs[0].dagman_id == "4972.0" and log.dagman_finished == 0
    assert not log.unknown


def condor_dagman_lines() -> list[str]:
    """HTCondor's expected lines for job_dagman_jobstate_log.dag, made concrete: its
    DAGMan fails at NodeD, and the SUBDAG's retry runs the rescue DAG, which goes on
    numbering from 6. NodeA is a two-job cluster, one of which was evicted and aborted."""
    lines, t = [], 1000000000
    patterns = (FIXTURES / "htcondor_job_dagman_jobstate_log.patterns").read_text().splitlines()
    lines.append(f"{t} INTERNAL *** DAGMAN_STARTED 100.0 ***")
    for pattern in patterns:
        t += 1
        line = pattern.strip("^$").replace(r"\d+.\d", "101.0").replace(r"\d+.0", "101.0")
        line = line.replace(r"\d+", str(t))
        if " NodeA JOB_FAILURE " in line:  # what the test allows between NodeA's lines
            lines += [f"{t} NodeA EXECUTE 101.0 local - 1", f"{t} NodeA EXECUTE 101.1 local - 1"]
            lines += [f"{t} NodeA JOB_EVICTED 101.1 local - 1"]
            lines += [f"{t} NodeA JOB_TERMINATED 101.0 local - 1"]
            lines += [f"{t} NodeA JOB_ABORTED 101.1 local - 1"]
        if " NodeD SUBMIT " in line and line.endswith(" 6"):
            lines += [f"{t} INTERNAL *** DAGMAN_FINISHED 1 ***"]
            lines += [f"{t} INTERNAL *** DAGMAN_STARTED 102.0 ***"]
        lines.append(line)
    lines.append(f"{t} INTERNAL *** DAGMAN_FINISHED 0 ***")
    return lines


def test_htcondors_own_test_lines_retries_rescue_and_a_submit_failure(tmp_path: Path) -> None:
    path = tmp_path / "job_dagman_jobstate_log.dag.jobstate.log"
    lines = condor_dagman_lines()
    path.write_text("\n".join(lines) + "\n")
    log = JobstateLog(path)
    log.read()
    assert log.skipped == 0 and not log.unknown
    succeeded, failed = verdicts(log)
    assert succeeded == ["NodeA", "NodeB", "NodeC", "NodeD", "NodeE"] and failed == []
    retries = {n.name: n.retries for n in log.nodes.values()}
    # NodeC: its POST failed, RETRY 1; NodeD: failed, then rerun by the rescue DAG.
    assert retries == {"NodeA": 0, "NodeB": 0, "NodeC": 1, "NodeD": 1, "NodeE": 0}
    a, e = log.nodes["NodeA"], log.nodes["NodeE"]
    assert (a.return_value, a.evictions) == (2, 1)  # its job failed, its POST rescued it
    assert e.job_id is None  # never submitted: its POST script decided
    assert [r.dagman_id for r in log.runs] == ["100.0", "102.0"]
    assert [r.exit_code for r in log.runs] == [1, 0] and log.dagman_finished == 0

    # Read as it was written: at the first DAGMan's exit NodeD had failed, and only that.
    first = next(i for i, line in enumerate(lines) if "DAGMAN_FINISHED 1" in line) + 1
    path.write_text("\n".join(lines[:first]) + "\n")
    log = JobstateLog(path)
    log.read()
    assert log.in_state(State.FAILED) == ["NodeD"] and log.dagman_finished == 1
    with open(path, "a") as f:
        f.write("\n".join(lines[first:]) + "\n")
    assert log.read() == ["NodeD", "NodeE"]  # the nodes that changed
    assert log.in_state(State.FAILED) == [] and log.nodes["NodeD"].state is State.SUCCEEDED


def test_pegasus_a_node_that_failed_twice(tmp_path: Path) -> None:
    log = read("pegasus_process_wf_failure.jobstate.log", tmp_path)
    node = log.nodes["ls_ID0000001"]
    assert (node.state, node.retries, node.job_id, node.return_value) == (
        State.FAILED,
        1,
        "10.0",
        2,
    )
    assert verdicts(log) == (["create_dir_process_0_local"], ["ls_ID0000001"])
    assert log.dagman_finished == 1


def test_pegasus_a_held_job_removed_and_its_post_script(tmp_path: Path) -> None:
    path = tmp_path / "held.log"
    lines = (FIXTURES / "pegasus_sample_wf_held.jobstate.log").read_bytes().splitlines(True)
    log = JobstateLog(path)
    seen = []
    for line in lines:
        with open(path, "ab") as f:
            f.write(line)
        if "chebi_drug_loader_ID0000001" in log.read():
            seen.append(log.nodes["chebi_drug_loader_ID0000001"].state)
    assert seen == [
        State.SUBMITTED,
        State.RUNNING,
        State.EVICTED,  # SHADOW_EXCEPTION: DAGMan counts the job idle again
        State.HELD,
        State.FAILED,  # JOB_ABORTED: condor_rm of the held job
        State.POST,
        State.FAILED,
    ]
    node = log.nodes["chebi_drug_loader_ID0000001"]
    assert node.holds == 1 and node.retries == 0 and node.job_id == "106.0"
    assert len(log.in_state(State.SUCCEEDED)) == 2 and log.dagman_finished == 1


def test_pegasus_a_pre_script_that_failed_twice_among_timestamps_out_of_order(
    tmp_path: Path,
) -> None:
    log = read("pegasus_hierarchical_wf_failure.jobstate.log", tmp_path)
    plan = log.nodes["pegasus-plan_diamond_subworkflow"]
    assert (plan.state, plan.retries, plan.job_id) == (State.FAILED, 1, None)
    succeeded, failed = verdicts(log)
    assert failed == [plan.name] and len(succeeded) == 6


def test_a_node_that_could_not_be_submitted_fails(tmp_path: Path) -> None:
    log = read("view_res_submit_failed.jobstate.log", tmp_path)
    node = log.nodes["create_dir_gw.dax_0_local"]
    assert node.state is State.FAILED and node.job_id is None
    assert log.dagman_finished == 1 and not log.unknown


def test_without_a_post_script_known_a_jobs_success_awaits_it(tmp_path: Path) -> None:
    # The job succeeded, its POST script has not run yet: not a success.
    path = tmp_path / "j.log"
    path.write_text(
        "10 INTERNAL *** DAGMAN_STARTED 5.0 ***\n"
        "11 A SUBMIT 6.0 - - 1\n12 A EXECUTE 6.0 - - 1\n13 A JOB_TERMINATED 6.0 - - 1\n"
        "13 A JOB_SUCCESS 0 - - 1\n"
    )
    log = JobstateLog(path, post_nodes=frozenset({"A"}))
    log.read()
    assert log.nodes["A"].state is State.POST and log.in_state(State.SUCCEEDED) == []
    with open(path, "a") as f:
        f.write("13 A POST_SCRIPT_STARTED 6.0 - - 1\n14 A POST_SCRIPT_TERMINATED 6.0 - - 1\n")
        f.write("14 A POST_SCRIPT_FAILURE 6.0 - - 1\n")
    assert log.read() == ["A"] and log.in_state(State.FAILED) == ["A"]


RESTART = """\
100 INTERNAL *** DAGMAN_STARTED 7.0 ***
101 A SUBMIT 8.0 - - 1
101 B SUBMIT 9.0 - - 2
102 A EXECUTE 8.0 - - 1
103 B EXECUTE 9.0 - - 2
104 A JOB_TERMINATED 8.0 - - 1
104 A JOB_SUCCESS 0 - - 1
104 INTERNAL *** DAGMAN_FINISHED 3 ***
"""
# The schedd restarted condor_dagman: it writes what it had not, numbering from 1 again
# (B's job events come first in its node log now, so B is 1 and A's repeat is 2).
RECOVERED = """\
120 INTERNAL *** DAGMAN_STARTED 7.0 ***
120 INTERNAL *** RECOVERY_STARTED ***
104 A JOB_SUCCESS 0 - - 2
120 INTERNAL *** RECOVERY_FINISHED ***
130 B JOB_TERMINATED 9.0 - - 1
130 B JOB_FAILURE 1 - - 1
131 B SUBMIT 10.0 - - 3
"""


def test_a_restarted_dagman_is_not_the_end_and_carries_on_its_nodes(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    path.write_text(RESTART)
    log = JobstateLog(path)
    log.read()
    assert log.runs[-1].exit_code == 3 and log.dagman_finished is None
    with open(path, "a") as f:
        f.write(RECOVERED)
    log.read()
    a, b = log.nodes["A"], log.nodes["B"]
    assert (a.state, a.retries) == (State.SUCCEEDED, 0)  # its repeat is no retry
    # B's try went on across the restart (numbered 1, then 2); its resubmission is a retry.
    assert (b.state, b.retries, b.job_id) == (State.SUBMITTED, 1, "10.0")
    assert log.runs[-1].recovery and log.dagman_finished is None


def test_a_rescue_run_appended_to_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    path.write_text(
        "100 INTERNAL *** DAGMAN_STARTED 7.0 ***\n"
        "101 A SUBMIT 8.0 - - 1\n102 A JOB_TERMINATED 8.0 - - 1\n102 A JOB_FAILURE 2 - - 1\n"
        "103 B SUBMIT 9.0 - - 2\n"
        "104 INTERNAL *** DAGMAN_FINISHED 2 ***\n"  # condor_rm: B's job goes with it
        "200 INTERNAL *** DAGMAN_STARTED 20.0 ***\n"  # the rescue DAG: A and B again
        "201 B SUBMIT 21.0 - - 3\n201 A SUBMIT 22.0 - - 4\n"
        "202 A JOB_TERMINATED 22.0 - - 4\n202 A JOB_SUCCESS 0 - - 4\n"
    )
    log = JobstateLog(path)
    log.read()
    a, b = log.nodes["A"], log.nodes["B"]
    assert (a.state, a.retries, b.state, b.retries) == (State.SUCCEEDED, 1, State.SUBMITTED, 1)
    assert log.in_state(State.FAILED) == [] and log.dagman_finished is None


def test_a_line_being_written_waits_and_a_cut_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    path.write_text(
        "1700000100 INTERNAL *** DAGMAN_STARTED 7.0 ***\n1700000101 A SUBMIT 8.0 - - 1\n"
        "1700000101 A EXE"
    )
    log = JobstateLog(path)
    log.read()
    assert log.nodes["A"].state is State.SUBMITTED
    with open(path, "a") as f:
        f.write("CUTE 8.0 - - 1\n")
    assert log.read() == ["A"] and log.nodes["A"].state is State.RUNNING
    # DAGMan killed mid-line; the next one appends its start right after the cut.
    with open(path, "a") as f:
        f.write("1700000102 A JOB_TERM1700000150 INTERNAL *** DAGMAN_STARTED 9.0 ***\n")
        f.write("1700000150 INTERNAL *** RECOVERY_STARTED ***\n")
        f.write("1700000151 A JOB_TERMINATED 8.0 - - 1\n1700000151 A JOB_SUCCESS 0 - - 1\n")
        f.write("garbage\n")
    log.read()
    assert [r.dagman_id for r in log.runs] == ["7.0", "9.0"] and log.skipped == 1
    assert log.nodes["A"].state is State.SUCCEEDED and log.nodes["A"].retries == 0


def test_every_event_kind_of_condor_dagman_is_known(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    kinds = ["IMAGE_SIZE", "JOB_AD_INFORMATION", "FILE_TRANSFER", "CLUSTER_SUBMIT"]
    path.write_text("".join(f"1 A {k} 8.0 - - 1\n" for k in [*kinds, "NEW_KIND"]))
    log = JobstateLog(path)
    log.read()
    assert dict(log.unknown) == {"NEW_KIND": 1}


def test_a_replaced_file_is_read_whole_from_a_clean_slate(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    path.write_text("1 INTERNAL *** DAGMAN_STARTED 7.0 ***\n2 A SUBMIT 8.0 - - 1\n" * 3)
    log = JobstateLog(path)
    log.read()
    path.write_text("5 B SUBMIT 9.0 - - 1\n")
    assert log.read() == ["B"] and list(log.nodes) == ["B"] and log.runs == []


def test_the_writer_numbers_tries_and_stamps_dagmans_events_with_the_jobs_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.log"
    clock = iter(range(100, 200))
    monkeypatch.setattr("wms2.condor.jobstate.time.time", lambda: float(next(clock)))
    w = JobstateWriter(path)
    w.dagman_started("7.0")
    w.node("A", "SUBMIT", "8.0")
    w.node("A", "JOB_TERMINATED", "8.0")
    w.node("A", "JOB_FAILURE", "1")  # DAGMan's own: the job's last event time
    w.retry("A")
    w.node("A", "SUBMIT", "9.0")
    again = JobstateWriter(path)  # a rescue run
    again.continue_numbering()
    again.node("B", "SUBMIT_FAILURE")
    lines = path.read_text().splitlines()
    assert lines[1:] == [
        "101 A SUBMIT 8.0 - - 1",
        "102 A JOB_TERMINATED 8.0 - - 1",
        "102 A JOB_FAILURE 1 - - 1",
        "104 A SUBMIT 9.0 - - 2",
        "105 B SUBMIT_FAILURE - - - 3",
    ]
    assert all(re.fullmatch(r"\d+ \S+ [A-Z_]+ \S+ \S+ - \d+", line) for line in lines[1:])
