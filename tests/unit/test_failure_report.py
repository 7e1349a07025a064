"""The failure report's pieces that need no pool: rounds and exclusions from POST
records, the one-line summary, and rendering at 80 columns whatever the values' length."""

from __future__ import annotations

from wms2.dagman.jobstate import NodeState, State
from wms2.failures.evidence import Try
from wms2.failures.model import FailureGroup, FailureReport
from wms2.failures.render import render_report
from wms2.failures.rounds import exclusions_of, hopeless_nodes


def t(node: str, rnd: int, kind: str, code: int, site: str = "T2_CH_CERN") -> Try:
    return Try("mg_000001", node, 0, rnd, code, kind, site, "1", 0.0)


def test_hopeless_needs_the_same_failure_in_round_cap_rounds() -> None:
    tries = [
        # a: exit 1 in rounds 0 and 1 (the round's last try is its verdict) -> hopeless
        t("a", 0, "transient", 1), t("a", 0, "transient", 1), t("a", 1, "transient", 1),
        # b: failed differently in each round
        t("b", 0, "site", 69), t("b", 1, "transient", 1),
        # c: a failure then a success in round 1
        t("c", 0, "permanent", 78), t("c", 1, "permanent", 78), t("c", 1, "success", 0),
        # d: one round only
        t("d", 0, "transient", 1),
    ]  # fmt: skip
    states = {"c": NodeState("c", State.SUCCEEDED, 9)}
    assert hopeless_nodes(tries, states, 2) == ["a"]
    assert hopeless_nodes(tries, states, 3) == []
    assert hopeless_nodes(tries, states, 1) == ["a", "d"]


def test_exclusions_are_the_sites_of_site_errors_only() -> None:
    tries = [
        t("a", 0, "site", 69, "T2_US_Wisconsin"),
        t("b", 0, "transient", 1, "T2_DE_DESY"),
        t("c", 0, "site", 74, "-"),  # where it ran is unknown: nothing to exclude
        t("d", 0, "site", 74, "T1_US_FNAL"),
    ]
    assert exclusions_of(tries) == ["T1_US_FNAL", "T2_US_Wisconsin"]


def test_rendering_fits_80_columns_with_long_values() -> None:
    long = "x" * 150
    report = FailureReport(
        request_name="cmsunified_task_GEN-RunIII2024Summer24GS-00002__v1_T_261121_080000_1359",
        generated_at=0,
        rounds=2,
        nodes_failed=1,
        tries_failed=9,
        decision="review (PARTIAL): 1 node failed the same way in 2 rounds " + long,
        groups=[
            FailureGroup(
                kind="held",
                hold_reason="Job has gone over memory limit of 2000 megabytes. " + long,
                tries=1,
                nodes=1,
                sites={f"T2_XX_Site{i}": i for i in range(20)},
                units=[f"mg_{i:06d}" for i in range(8)],
                units_total=30,
                example="mg_000001/proc_000002",
                stderr_tail=["Traceback " + long, "MemoryError"],
                action="memory: the next try asks for more memory",
            )
        ],
        hopeless=[f"mg_{i:06d}/proc_{i:06d}" for i in range(12)],
        exclusions={"mg_000001": ["T2_US_Wisconsin", "T2_DE_DESY", "T1_US_FNAL"]},
    )
    change = "2026-12-06 05:00 after 2 units: 3 unit(s): events/job 1000 -> 500, " + long
    text = render_report(report, 80, [change])
    assert max(map(len, text.splitlines())) <= 80, text
    assert "changed on the way:\n  2026-12-06 05:00 after 2 units: 3 unit(s)" in text
    assert "held: Job has gone over memory limit" in text and "(+22 more)" in text
    assert "      | Traceback xxx" in text and text.count("...") >= 1
    line = report.summary_line()
    assert line.startswith("1 node(s) failed, 0 held, 0 recovered (9 failed tries): held: Job")
    assert len(line) == 120 and line.endswith("...")
    assert FailureReport(request_name="r").summary_line() == "no failed or held jobs"
