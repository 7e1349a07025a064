"""A small streaming writer of DAGMan's file format: the directives WMS2 uses, nothing else.

htcondor2.dags was measured first (bench/plan.py, 100,000 processing nodes in 2,334 work
units): 88 s, because its `children` rebuilds the DAG's whole child map for every node
(quadratic in the outer DAG's thousands of SUBDAG nodes) and each small group DAG costs
~8 ms of object building. Writing lines directly brings the whole plan under the goal.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

RESERVED_NAMES = frozenset({"PARENT", "CHILD", "ALL_NODES"})


@dataclass(frozen=True, slots=True)
class Script:
    executable: Path | str
    arguments: tuple[str, ...] = ()
    # DAGMan's `SCRIPT DEFER status seconds`: that exit status means "run me again later".
    defer: tuple[int, int] | None = None

    def line(self, kind: str, node: str) -> str:
        defer = ["DEFER", str(self.defer[0]), str(self.defer[1])] if self.defer else []
        return " ".join(["SCRIPT", *defer, kind, node, str(self.executable), *self.arguments])


_BAD_NAME_CHARS = re.compile(r"[\s+]")


def check_node_name(name: str) -> str:
    if not name or _BAD_NAME_CHARS.search(name) or name.upper() in RESERVED_NAMES:
        raise ValueError(f"DAG node name {name!r} is not allowed by DAGMan")
    return name


def _vars_value(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"')


def meta_lines(
    config: Path | None = None,
    status_file: Path | None = None,
    status_update_sec: int = 30,
    maxjobs: Mapping[str, int] | None = None,
    jobstate_log: Path | None = None,
) -> Iterator[str]:
    if config is not None:
        yield f"CONFIG {config}"
    if status_file is not None:
        yield f"NODE_STATUS_FILE {status_file} {status_update_sec}"
    if jobstate_log is not None:
        yield f"JOBSTATE_LOG {jobstate_log}"
    for category, limit in (maxjobs or {}).items():
        yield f"MAXJOBS {category} {limit}"


def job_lines(
    name: str,
    submit_file: Path | str,
    *,
    vars: Mapping[str, object] | None = None,
    retry: int | None = None,
    unless_exit: int | None = None,
    pre: Script | None = None,
    post: Script | None = None,
    category: str | None = None,
) -> Iterator[str]:
    check_node_name(name)
    yield f"JOB {name} {submit_file}"
    if vars:
        yield f"VARS {name} " + " ".join(f'{k}="{_vars_value(v)}"' for k, v in vars.items())
    if retry is not None:
        yield f"RETRY {name} {retry}" + (
            f" UNLESS-EXIT {unless_exit}" if unless_exit is not None else ""
        )
    if pre is not None:
        yield pre.line("PRE", name)
    if post is not None:
        yield post.line("POST", name)
    if category is not None:
        yield f"CATEGORY {name} {category}"


def subdag_lines(
    name: str, dag_file: str, directory: Path, category: str | None = None
) -> Iterator[str]:
    check_node_name(name)
    yield f"SUBDAG EXTERNAL {name} {dag_file} DIR {directory}"
    if category is not None:
        yield f"CATEGORY {name} {category}"


def edge_line(parents: Iterable[str], children: Iterable[str]) -> str:
    return f"PARENT {' '.join(parents)} CHILD {' '.join(children)}"


def write_dag_file(path: Path, lines: Iterable[str]) -> Path:
    """Write atomically: DAGMan must never read a half-written DAG."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", buffering=1 << 20) as f:
        for line in lines:
            f.write(line)
            f.write("\n")
    os.replace(tmp, path)
    return path
