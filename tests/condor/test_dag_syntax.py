"""DAG files as DAGMan users write them (tests/fixtures/dagman, after the HTCondor manual's
DAGMan chapter): what the local backend reads, and what it refuses by file and line."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from wms2.condor.dagfile import (
    DagSyntaxError,
    apply_rescue,
    parse_dag,
    post_script_nodes,
    rescue_files,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dagman"
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def diamond(tmp_path: Path) -> Path:
    for f in FIXTURES.glob("diamond*"):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path / "diamond.dag"


def test_tabs_quotes_forward_references_and_all_nodes(diamond: Path) -> None:
    dag = parse_dag(diamond)
    a, b, c, d = (dag.nodes[n] for n in "ABCD")
    assert a.submit_file == "a.sub" and a.directory == (diamond.parent / "stage one").resolve()
    assert c.directory == (diamond.parent / "out").resolve() and d.noop
    # RETRY ALL_NODES 2, then C's own (its line comes later): 3 UNLESS-EXIT 2.
    assert (a.retries, b.retries, d.retries) == (2, 2, 2)
    assert (c.retries, c.unless_exit) == (3, 2)
    assert b.vars == {"site": "T2_CH_CERN", "input": "file with spaces.root", "n": "2"}
    assert a.vars == {"site": "T2_CH_CERN"}
    assert c.post is not None and c.post.arguments == ("$JOB", "$RETURN")  # before its JOB
    assert d.pre_skip == 1 and (b.category, c.category) == ("heavy", "heavy")
    assert dag.maxjobs == {"heavy": 1}
    assert a.children == {"B", "C"} and d.parents == {"B", "C"}
    assert dag.status_file == (diamond.parent / "diamond.status").resolve()
    assert dag.status_interval == 30
    assert dag.config["DAGMAN_MAX_POST_SCRIPTS"] == "2"


def test_a_rescue_dag_with_retry_lines_beside_done(diamond: Path) -> None:
    dag = parse_dag(diamond)
    [rescue] = rescue_files(diamond)
    assert apply_rescue(dag, rescue) == 2
    assert dag.nodes["A"].done and dag.nodes["B"].done and not dag.nodes["C"].done
    assert dag.nodes["C"].retries == 1  # what is left of its retries


def test_a_rescue_line_of_another_dag_is_refused(diamond: Path) -> None:
    dag = parse_dag(diamond)
    rescue = diamond.parent / "diamond.dag.rescue002"
    rescue.write_text("DONE A\nDONE Z\n")
    with pytest.raises(DagSyntaxError, match=r"rescue002:2: unexpected rescue line DONE Z"):
        apply_rescue(dag, rescue)


@pytest.mark.parametrize(
    "line", (FIXTURES / "unsupported.txt").read_text().splitlines(), ids=lambda s: s.split()[0]
)
def test_unsupported_directives_name_file_and_line(tmp_path: Path, line: str) -> None:
    dag = tmp_path / "user.dag"
    dag.write_text(f"JOB A a.sub\n# a comment\n{line}\n")
    with pytest.raises(DagSyntaxError, match=r"user\.dag:3: "):
        parse_dag(dag)


def test_the_readme_subset_table_matches_the_parser() -> None:
    """Every directive the README lists as supported is in the users' DAG; every one it
    lists as not supported is refused."""
    text = README.read_text()
    table = text.split("Supported DAG subset", 1)[1].split("\n\n", 2)[1]
    listed = {re.match(r"\| `(\S+)", row).group(1) for row in table.splitlines()[2:]}
    used = {
        line.split()[0].upper()
        for line in (FIXTURES / "diamond.dag").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert listed - {"SUBDAG"} <= used | {"DONE"}, listed - used
    refused = text.split("Not supported:", 1)[1].split(".", 1)[0]
    names = {w.strip().split()[0] for w in refused.replace("\n", " ").split(",")}
    tried = {line.split()[0] for line in (FIXTURES / "unsupported.txt").read_text().splitlines()}
    assert names - {"held"} <= tried | {"SCRIPT"}, names - tried


def test_vars_with_blanks_around_the_equals_sign(tmp_path: Path) -> None:
    """condor_dagman accepts `name = "value"`: the VARS lines below are from HTCondor's
    src/condor_tests/job_dagman_abort-A.dag (commit a4ed696f7c5d)."""
    dag = tmp_path / "abort.dag"
    dag.write_text(
        "Job A job_dagman_abort-A-node-succeed.cmd\n"
        'Vars A nodename = "$(JOB)"\n'
        "Job B b.cmd\n"
        'Vars B first= "1"  second ="two words"\tthird\t=\t"3"\n'
    )
    nodes = parse_dag(dag).nodes
    assert nodes["A"].vars == {"nodename": "$(JOB)"}
    assert nodes["B"].vars == {"first": "1", "second": "two words", "third": "3"}


@pytest.mark.parametrize("pairs", ['two words="x"', '="x"', "name = x", 'name "x"'])
def test_vars_without_a_name_or_a_quoted_value_is_refused(tmp_path: Path, pairs: str) -> None:
    dag = tmp_path / "user.dag"
    dag.write_text(f"JOB A a.sub\nVARS A {pairs}\n")
    with pytest.raises(DagSyntaxError, match=r"user\.dag:2: VARS expects"):
        parse_dag(dag)


def test_post_script_nodes_from_the_script_lines_alone(diamond: Path, tmp_path: Path) -> None:
    dag = parse_dag(diamond)
    assert post_script_nodes(diamond) == {n for n, s in dag.nodes.items() if s.post} == {"C"}
    every = tmp_path / "every.dag"
    every.write_text(
        "SCRIPT DEFER 4 60 POST ALL_NODES post.sh\nJOB a a.sub\n"
        "SUBDAG EXTERNAL b b.dag\nSCRIPT PRE a pre.sh\n"
    )
    assert post_script_nodes(every) == {"a", "b"}
