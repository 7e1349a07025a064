"""What the operator's commands print in an 80-column terminal: nothing cut (request
names, dataset names, paths are whole once the folded lines are joined), no line longer
than 80, and `watch` keeps its bars and counts."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from rich.console import Console

from cli.admission import admission_view
from cli.requests import RequestProgress
from cli.status_view import key_value_table, render_state, request_list
from tools.devstack import web_ui_link
from wms2.messages import AdmissionEntry, AdmissionState, RequestState
from wms2.models import RequestStatus
from wms2.outputs.messages import OutputProgress

NAME = "pdmvserv_task_QCD-Run3Summer23DRPremix-00042__v1_T_261120_101500_4242"
OTHER = "cmsunified_task_GEN-RunIII2024Summer24GS-00002__v1_T_261121_080000_1359"
DS = (
    "/QCD_Pt-15to7000_TuneCP5_13p6TeV_pythia8/Run3Summer23MiniAODv4-130X_mcRun3_2023_"
    "realistic_v14-v1/MINIAODSIM"
)
PATH = f"/var/lib/wms2/submit/{NAME}/workflow.dag"


def at_80(renderable: object, **kw: object) -> str:
    console = Console(width=80, record=True, color_system=None)
    console.print(renderable, **kw)  # type: ignore[arg-type]
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines()), text
    return text


def joined(text: str) -> str:
    """The table's cells read as one string: borders and folds taken out."""
    return "".join(line.strip("│┃ ").split("│")[-1].strip() for line in text.splitlines())


def test_status_folds_dataset_names_instead_of_cutting_them() -> None:
    s = RequestState(
        request_name=NAME,
        output_datasets=[DS],
        outputs={DS: OutputProgress(dataset=DS, counts={"announced": 3})},
        outputs_by_state={"announced": 3},
    )
    text = at_80(render_state(s))
    assert "…" not in text and DS in joined(text) and NAME in text


def test_plan_keeps_the_dag_path_whole() -> None:
    table = key_value_table(f"plan of {NAME}")
    table.add_row("DAG file", PATH)
    table.add_row("output", DS)
    text = at_80(table)
    assert "…" not in text and PATH in joined(text) and DS in joined(text)


def test_watch_keeps_bars_and_counts() -> None:
    console = Console(width=80, record=True, color_system=None)
    progress = RequestProgress(console=console)
    for name in (NAME, OTHER):
        units, nodes, outputs = (
            progress.add_task(what, total=15, completed=7, note=note)
            for what, note in (
                ("units", "active"),
                ("nodes", "12 running, 3 failed"),
                ("outputs", "announced 5, dbs_registered 2"),
            )
        )
        progress.add_request(name, [units, nodes, outputs])
    text = at_80(progress.get_renderable())
    lines = text.splitlines()
    assert NAME in lines and OTHER in lines  # each name whole, on its own line
    assert text.count("7/15") == 6 and "━" in text
    assert "12 running, 3 failed" in text and "announced 5, dbs_registered 2" in text


def test_admission_names_every_request_whole() -> None:
    when = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    snap = SimpleNamespace(
        active=[OTHER],
        limit=300,
        admitted_total=4,
        paused="schedd upgrade",
        queue=[SimpleNamespace(request_name=NAME, priority=110000, enqueued_at=when)],
        capacity=None,
        capacities=None,
        costs={},
        waiting_for=None,
    )
    text = at_80(admission_view(snap, [("held_" + NAME, "site downtime")], 80))
    assert NAME in text and OTHER in text and "held_" + NAME in text
    assert "PAUSED (schedd upgrade)" in text and "1 held" in text and "site downtime" in text


def test_list_second_line_fits() -> None:
    rows = [(NAME, "queued (held)", "0/15", "110000", "Run3Summer23DRPremix", "StepChain",
             "yes", "2026-12-01 08:00:00")]  # fmt: skip
    text = at_80(request_list(rows, 80))
    assert NAME in text.splitlines() and "started 2026-12-01 08:00:00" in text
    assert "queued (held) STUCK" in text


def test_the_demos_web_ui_link_is_one_line() -> None:
    console = Console(width=80, record=True, color_system=None)
    console.print(web_ui_link(NAME), soft_wrap=True)
    assert len(console.export_text().strip().splitlines()) == 1


WAIT = (
    f"schedd capacity: 396 of 400 scheduler jobs in use on 2 schedd(s); {NAME} needs 11 "
    "(its DAGMan and MergeGroup throttle) on one schedd, and none has them free"
)


def test_admission_shows_capacity_costs_and_why_the_head_waits() -> None:
    when = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    snap = AdmissionState(
        limit=300,
        active=[OTHER],
        costs={OTHER: 11},
        capacity=400,
        capacities=[200, 200],
        queue=[AdmissionEntry(request_name=NAME, priority=110000, enqueued_at=when, cost=11)],
        waiting_for=WAIT,
    )
    text = at_80(admission_view(snap, [], 80))
    flat = " ".join(line.strip() for line in text.splitlines())
    assert "scheduler jobs: 11 of 400 in use (200 + 200 by schedd)" in text
    assert f"WAITING: {WAIT}" in flat  # folded, never cut
    assert "needs 11 scheduler jobs" in text and f"{OTHER} (11 scheduler jobs)" in flat


def test_status_of_a_queued_request_says_what_it_waits_for() -> None:
    s = RequestState(request_name=NAME, status=RequestStatus.QUEUED, waiting_for=WAIT)
    text = at_80(render_state(s))
    # Nothing cut: the reason reads whole once the folds are joined (words wrap at spaces).
    assert "waiting for" in text and "…" not in text
    assert WAIT.replace(" ", "") in joined(text).replace(" ", "")
    active = s.model_copy(update={"status": RequestStatus.ACTIVE})
    assert "waiting for" not in at_80(render_state(active))  # admitted: no longer waits
