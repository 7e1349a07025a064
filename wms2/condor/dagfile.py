"""Parser of the DAGMan file subset WMS2 writes, for the local backend.

Anything outside the subset is a DagSyntaxError naming file and line, never ignored.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

RESERVED = {"PARENT", "CHILD", "ALL_NODES"}


class DagSyntaxError(ValueError):
    """The DAG file cannot be run by the local backend; the message names file and line."""


@dataclass(frozen=True)
class ScriptSpec:
    executable: str
    arguments: tuple[str, ...]
    # SCRIPT DEFER status seconds: that exit status re-runs the script after the wait.
    defer_status: int | None = None
    defer_sec: int = 0


@dataclass
class NodeSpec:
    name: str
    submit_file: str  # the DAG file of a SUBDAG
    directory: Path  # the node's DIR (absolute)
    subdag: bool = False
    noop: bool = False
    done: bool = False
    vars: dict[str, str] = field(default_factory=dict)
    pre: ScriptSpec | None = None
    post: ScriptSpec | None = None
    pre_skip: int | None = None
    retries: int = 0
    unless_exit: int | None = None
    category: str | None = None
    parents: set[str] = field(default_factory=set)
    children: set[str] = field(default_factory=set)


@dataclass
class DagSpec:
    path: Path
    nodes: dict[str, NodeSpec]
    maxjobs: dict[str, int] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    status_file: Path | None = None
    status_interval: int = 60
    jobstate_log: Path | None = None  # JOBSTATE_LOG: one line per node event, appended


def _parse_vars(text: str, where: str) -> dict[str, str]:
    """name="value" pairs; values may hold escaped quotes and backslashes."""
    out: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        eq = text.find("=", i)
        key = text[i:eq].strip() if eq >= 0 else ""
        # condor_dagman allows blanks around "=" (HTCondor's own test DAGs write
        # `Vars A nodename = "$(JOB)"`), but not inside the name.
        quote = eq + 1
        while quote < n and text[quote].isspace():
            quote += 1
        if not key or any(c.isspace() for c in key) or quote >= n or text[quote] != '"':
            raise DagSyntaxError(f'{where}: VARS expects name="value" pairs')
        j, value = quote + 1, []
        while j < n and text[j] != '"':
            if text[j] == "\\" and j + 1 < n:
                j += 1
            value.append(text[j])
            j += 1
        if j >= n:
            raise DagSyntaxError(f"{where}: unterminated VARS value for {key}")
        out[key] = "".join(value)
        i = j + 1
    return out


def _read_config(path: Path, where: str) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise DagSyntaxError(f"{where}: cannot read CONFIG file {path}: {e}") from e
    config = {}
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            config[key.strip().upper()] = value.strip()
    return config


def _statements(path: Path, text: str) -> list[tuple[str, str, str]]:
    """(where, KEYWORD, rest) of every statement; words may be separated by tabs."""
    found = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, rest = [*line.split(None, 1), ""][:2]
        found.append((f"{path}:{lineno}", word.upper(), rest.strip()))
    return found


def post_script_nodes(path: Path) -> frozenset[str]:
    """The nodes given a POST script, from the SCRIPT lines alone: the tracker's look at
    an outer DAG of thousands of nodes (parse_dag builds every node: ~0.5 s for 5,000
    SUBDAG nodes). Raises OSError if the file cannot be read."""
    names: list[str] = []
    posts: set[str] = set()
    for _, keyword, rest in _statements(path, Path(path).read_text()):
        words = rest.split()
        if keyword in ("JOB", "SUBDAG") and words:
            external = keyword == "SUBDAG" and words[0].upper() == "EXTERNAL"
            names += words[1:2] if external else words[:1]
        elif keyword == "SCRIPT":
            if words and words[0].upper() == "DEFER":
                words = words[3:]
            if len(words) >= 2 and words[0].upper() == "POST":
                posts.add(words[1])
    if "ALL_NODES" in posts:
        posts.update(names)
    return frozenset(posts & set(names))


def _words(rest: str, where: str) -> list[str]:
    """Whitespace-separated words; a double-quoted word may hold spaces (file names)."""
    try:
        return shlex.split(rest, posix=True)
    except ValueError as e:
        raise DagSyntaxError(f"{where}: {e}") from None


def parse_dag(path: Path, directory: Path | None = None) -> DagSpec:
    """Parse `path`. Relative paths in it resolve against `directory` (the DAG's DIR, or
    the DAG file's own directory). As in DAGMan, a node command may come before the JOB
    line that defines its node, and ALL_NODES applies a command to every node."""
    path = Path(path)
    base = Path(directory) if directory is not None else path.parent
    try:
        text = path.read_text()
    except OSError as e:
        raise DagSyntaxError(f"cannot read DAG file {path}: {e}") from e
    dag = DagSpec(path=path, nodes={})
    statements = _statements(path, text)
    for where, keyword, rest in statements:
        if keyword in ("JOB", "SUBDAG"):
            _define_node(dag, base, where, keyword, rest)
    edges: list[tuple[list[str], list[str], str]] = []
    for where, keyword, rest in statements:
        if keyword in ("JOB", "SUBDAG"):
            continue
        handler = _COMMANDS.get(keyword)
        if handler is None:
            raise DagSyntaxError(f"{where}: {keyword} is not supported by the local backend")
        if keyword == "PARENT":
            edges.append(_edge(rest, where))
        else:
            handler(dag, base, where, rest)
    for parents, children, where in edges:
        for p in parents:
            for c in children:
                _node(dag, p, where).children.add(c)
                _node(dag, c, where).parents.add(p)
    _check_acyclic(dag)
    return dag


def _node(dag: DagSpec, name: str, where: str) -> NodeSpec:
    if name not in dag.nodes:
        raise DagSyntaxError(f"{where}: node {name!r} is not defined")
    return dag.nodes[name]


def _targets(dag: DagSpec, name: str, where: str) -> list[NodeSpec]:
    """The node a command names, or every node for ALL_NODES (DAGMan's keyword)."""
    if name.upper() == "ALL_NODES":
        return list(dag.nodes.values())
    return [_node(dag, name, where)]


def _define_node(dag: DagSpec, base: Path, where: str, keyword: str, rest: str) -> None:
    parts = _words(rest, where)
    if keyword == "SUBDAG":
        if not parts or parts[0].upper() != "EXTERNAL":
            raise DagSyntaxError(f"{where}: only SUBDAG EXTERNAL is supported")
        parts = parts[1:]
    if len(parts) < 2:
        raise DagSyntaxError(f"{where}: {keyword} needs a name and a file")
    name, file, opts = parts[0], parts[1], parts[2:]
    if "+" in name or name.upper() in RESERVED:
        raise DagSyntaxError(f"{where}: {name!r} is not a valid node name")
    if name in dag.nodes:
        raise DagSyntaxError(f"{where}: node {name!r} is defined twice")
    node_dir, noop, done = base, False, False
    k = 0
    while k < len(opts):
        opt = opts[k].upper()
        if opt == "DIR" and k + 1 < len(opts):
            node_dir = (base / opts[k + 1]).resolve()
            k += 2
            continue
        if opt == "NOOP":
            noop = True
        elif opt == "DONE":
            done = True
        else:
            raise DagSyntaxError(f"{where}: {keyword} option {opts[k]!r} is not supported")
        k += 1
    dag.nodes[name] = NodeSpec(name, file, node_dir, keyword == "SUBDAG", noop, done)


def _script(dag: DagSpec, base: Path, where: str, rest: str) -> None:
    # DAGMan splits script arguments on whitespace without quoting.
    words = rest.split()
    defer_status, defer_sec = None, 0
    if words and words[0].upper() == "DEFER":
        try:
            defer_status, defer_sec = int(words[1]), int(words[2])
        except (IndexError, ValueError):
            raise DagSyntaxError(
                f"{where}: SCRIPT DEFER needs an exit status and a time in seconds"
            ) from None
        words = words[3:]
    if len(words) < 3 or words[0].upper() not in ("PRE", "POST"):
        raise DagSyntaxError(f"{where}: SCRIPT needs PRE or POST, a node and an executable")
    script = ScriptSpec(words[2], tuple(words[3:]), defer_status, defer_sec)
    for target in _targets(dag, words[1], where):
        if words[0].upper() == "PRE":
            target.pre = script
        else:
            target.post = script


def _retry(dag: DagSpec, base: Path, where: str, rest: str) -> None:
    parts = rest.split()
    try:
        n = int(parts[1])
        unless = None
        if len(parts) == 4 and parts[2].upper() == "UNLESS-EXIT":
            unless = int(parts[3])
        elif len(parts) != 2:
            raise ValueError
    except (ValueError, IndexError):
        raise DagSyntaxError(
            f"{where}: RETRY needs a node, a count and optionally UNLESS-EXIT v"
        ) from None
    for target in _targets(dag, parts[0], where):
        target.retries, target.unless_exit = n, unless


def _pre_skip(dag: DagSpec, base: Path, where: str, rest: str) -> None:
    parts = rest.split()
    if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
        raise DagSyntaxError(f"{where}: PRE_SKIP needs a node and an exit code")
    for target in _targets(dag, parts[0], where):
        target.pre_skip = int(parts[1])


def _edge(rest: str, where: str) -> tuple[list[str], list[str], str]:
    words = rest.split()
    upper = [w.upper() for w in words]
    if "CHILD" not in upper:
        raise DagSyntaxError(f"{where}: PARENT without CHILD")
    cut = upper.index("CHILD")
    return words[:cut], words[cut + 1 :], where


def _category(dag: DagSpec, base: Path, where: str, rest: str) -> None:
    parts = rest.split()
    if len(parts) != 2:
        raise DagSyntaxError(f"{where}: CATEGORY needs a node and a category")
    for target in _targets(dag, parts[0], where):
        target.category = parts[1]


def _maxjobs(dag: DagSpec, base: Path, where: str, rest: str) -> None:
    parts = rest.split()
    if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) < 1:
        raise DagSyntaxError(f"{where}: MAXJOBS needs a category and a positive number")
    dag.maxjobs[parts[0]] = int(parts[1])


def _vars(dag: DagSpec, base: Path, where: str, rest: str) -> None:
    name, pairs = [*rest.split(None, 1), ""][:2]
    for target in _targets(dag, name, where):
        target.vars.update(_parse_vars(pairs, where))


def _config(dag: DagSpec, base: Path, where: str, rest: str) -> None:
    words = _words(rest, where)
    if len(words) != 1:
        raise DagSyntaxError(f"{where}: CONFIG needs one file")
    dag.config.update(_read_config(base / words[0], where))


def _status_file(dag: DagSpec, base: Path, where: str, rest: str) -> None:
    parts = _words(rest, where)
    if not parts or len(parts) > 3:
        raise DagSyntaxError(f"{where}: NODE_STATUS_FILE needs a file")
    dag.status_file = (base / parts[0]).resolve()
    if len(parts) > 1 and parts[1].isdigit():
        dag.status_interval = int(parts[1])


def _jobstate_log(dag: DagSpec, base: Path, where: str, rest: str) -> None:
    parts = _words(rest, where)
    if len(parts) != 1:
        raise DagSyntaxError(f"{where}: JOBSTATE_LOG needs one file")
    dag.jobstate_log = (base / parts[0]).resolve()


def _done(dag: DagSpec, base: Path, where: str, rest: str) -> None:
    _node(dag, rest.strip(), where).done = True


_COMMANDS = {
    "SCRIPT": _script,
    "RETRY": _retry,
    "PRE_SKIP": _pre_skip,
    "PARENT": _edge,
    "CATEGORY": _category,
    "MAXJOBS": _maxjobs,
    "VARS": _vars,
    "CONFIG": _config,
    "NODE_STATUS_FILE": _status_file,
    "JOBSTATE_LOG": _jobstate_log,
    "DONE": _done,
}


def _check_acyclic(dag: DagSpec) -> None:
    indegree = {name: len(n.parents) for name, n in dag.nodes.items()}
    ready = [name for name, d in indegree.items() if d == 0]
    seen = 0
    while ready:
        name = ready.pop()
        seen += 1
        for c in dag.nodes[name].children:
            indegree[c] -= 1
            if indegree[c] == 0:
                ready.append(c)
    if seen != len(dag.nodes):
        raise DagSyntaxError(f"{dag.path}: the DAG has a cycle")


def apply_rescue(dag: DagSpec, rescue: Path) -> int:
    """Mark the nodes a rescue DAG lists as DONE; returns how many. A `RETRY node n` line
    (DAGMan writes one beside DONE for a node that used up some retries) sets the node's
    retries left."""
    n = 0
    for where, keyword, rest in _statements(rescue, rescue.read_text()):
        name = rest.split()[0] if rest.split() else ""
        if keyword == "DONE" and name in dag.nodes and len(rest.split()) == 1:
            dag.nodes[name].done = True
            n += 1
        elif keyword == "RETRY" and name in dag.nodes:
            _retry(dag, rescue.parent, where, rest)
        else:
            raise DagSyntaxError(f"{where}: unexpected rescue line {keyword} {rest}".rstrip())
    return n


def rescue_files(dag_file: Path) -> list[Path]:
    """Existing rescue DAGs of `dag_file`, oldest first (`.rescue001`, `.rescue002`, ...)."""
    found = []
    for p in dag_file.parent.glob(dag_file.name + ".rescue[0-9][0-9][0-9]"):
        found.append((int(p.name[-3:]), p))
    return [p for _, p in sorted(found)]
