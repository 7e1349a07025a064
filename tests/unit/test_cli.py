"""The operator CLI's parser: every command of README's table, each from its group's
module in cli/ (starter.py only runs cli.main)."""

from __future__ import annotations

import pytest

from cli.main import build_parser

COMMANDS = {
    "submit": "cli.submit",
    "list": "cli.requests",
    "status": "cli.requests",
    "watch": "cli.requests",
    "report": "cli.report",
    "stop": "cli.controls",
    "release": "cli.controls",
    "abort": "cli.controls",
    "restart": "cli.controls",
    "priority": "cli.controls",
    "invalidate": "cli.outputs",
    "admission": "cli.admission",
    "search-attributes": "cli.requests",
    "plan": "cli.planning",
}


@pytest.mark.parametrize(("command", "module"), sorted(COMMANDS.items()))
def test_each_command_comes_from_its_group(command: str, module: str) -> None:
    args = {
        "submit": ["submit", "r"],
        "list": ["list"],
        "admission": ["admission"],
        "search-attributes": ["search-attributes"],
        "plan": ["plan", "r"],
        "priority": ["priority", "r", "5"],
        "stop": ["stop", "r", "--reason", "x"],
    }.get(command, [command, "r"])
    assert build_parser().parse_args(args).func.__module__ == module


def test_subcommand_groups() -> None:
    parser = build_parser()
    assert parser.parse_args(["db", "upgrade"]).func.__module__ == "cli.db"
    assert parser.parse_args(["site", "ban", "T2_X", "--until", "2d"]).func.__module__ == (
        "cli.sites"
    )


def test_plan_has_no_rerun_option(capsys: pytest.CaptureFixture[str]) -> None:
    # It was accepted and never read: planning writes a DAG directory, it runs nothing.
    with pytest.raises(SystemExit):
        build_parser().parse_args(["plan", "r", "--rerun"])
    assert "unrecognized arguments: --rerun" in capsys.readouterr().err
