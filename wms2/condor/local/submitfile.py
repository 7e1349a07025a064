"""Submit-description reader for the local backend: the condor_submit subset WMS2 writes.

Macros `$(name)` expand from DAG VARS, from the description's own keys and from
$(Cluster)/$(Process); `include : file` is read relative to the node's directory (the
latest definition of a key wins, as in condor_submit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wms2.memory.policy import MAX_MEMORY_ATTR, factor_of

MACRO = re.compile(r"\$\((\w+)\)")


class SubmitError(ValueError):
    """The submit description cannot be run locally; the message names the file."""


@dataclass
class JobDescription:
    executable: Path
    arguments: list[str]
    universe: str
    initialdir: Path
    environment: dict[str, str] = field(default_factory=dict)
    output: Path | None = None
    error: Path | None = None
    log: Path | None = None
    transfer_input_files: list[str] = field(default_factory=list)
    transfer_output_files: list[str] | None = None
    transfer: bool = True
    request_cpus: int = 1
    request_memory: int = 0
    priority: int = 0  # JobPrio
    attributes: dict[str, str] = field(default_factory=dict)
    # HTCondor's retry on a memory eviction (retry_request_memory_increase, as written:
    # a quantity in MB to add, or an expression of RequestMemory; retry_request_memory_max
    # in MB). None: not given.
    retry_memory_increase: str | None = None
    retry_memory_max: int | None = None

    @property
    def max_memory(self) -> int | None:
        """How far WMS2 may raise the job's memory after a memory hold (MB), if at all."""
        value = self.attributes.get(f"+{MAX_MEMORY_ATTR.lower()}", "").strip()
        return int(value) if value.isdigit() else None

    gpu: dict[str, Any] | None = None  # request_gpus and its gpus_* requirement

    @property
    def desired_sites(self) -> list[str]:
        value = self.attributes.get("+desired_sites", "").strip().strip('"')
        return [s.strip() for s in value.split(",") if s.strip()]

    @property
    def request_name(self) -> str:
        return self.attributes.get("+cms_requestname", "").strip().strip('"')


def read_submit_lines(path: Path, cwd: Path, depth: int = 0) -> list[tuple[str, str]]:
    """(key, raw value) pairs in order, includes expanded."""
    if depth > 5:
        raise SubmitError(f"{path}: includes nested too deep")
    try:
        text = path.read_text()
    except OSError as e:
        raise SubmitError(f"cannot read submit file {path}: {e}") from e
    pairs: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        low = line.lower()
        if low.startswith("queue"):
            break
        if low.startswith("include"):
            _, _, target = line.partition(":")
            target = target.strip()
            pairs += read_submit_lines(
                (cwd / target) if not Path(target).is_absolute() else Path(target), cwd, depth + 1
            )
            continue
        if "=" not in line:
            raise SubmitError(f"{path}: cannot read line {line!r}")
        key, value = line.split("=", 1)
        pairs.append((key.strip(), value.strip()))
    return pairs


def _environment(value: str) -> dict[str, str]:
    value = value.strip()
    if value.startswith('"') and value.endswith('"'):
        items = value[1:-1].split()
    else:
        items = [x for x in value.split(";") if x]
    env = {}
    for item in items:
        k, _, v = item.partition("=")
        env[k.strip()] = v.strip().strip("'")
    return env


def _integer(value: str, key: str, path: Path) -> int:
    try:
        return int(value or 0)
    except ValueError:
        raise SubmitError(f"{path}: {key} {value!r} is not an integer") from None


_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*([KMGT]?)B?\s*$", re.I)
_MB_PER_UNIT = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024**2}


def megabytes(value: str) -> int | None:
    """A condor_submit memory quantity in MB (MiB): `4500`, `4500MB`, `4.5 GB`, `512K`;
    None if it is not a quantity (an expression)."""
    m = _QUANTITY.match(value)
    if m is None:
        return None
    return int(float(m.group(1)) * _MB_PER_UNIT[m.group(2).upper()])


def _defined(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().strip('"')
    return None if value == "" or value.upper() == "UNDEFINED" else value


def job_gpu_request(get: dict[str, str]) -> dict[str, Any] | None:
    """What the job asks of GPUs (request_gpus and the gpus_minimum_*/maximum_* commands
    condor_submit turns into require_gpus); None when it asks for none."""
    count = int(float(_defined(get.get("request_gpus")) or 0))
    if count <= 0:
        return None
    memory = _defined(get.get("gpus_minimum_memory"))
    return {
        "count": count,
        "memory_mb": int(float(memory)) if memory else None,
        "min_capability": _defined(get.get("gpus_minimum_capability")),
        "max_capability": _defined(get.get("gpus_maximum_capability")),
        "runtime": _defined(get.get("gpus_minimum_runtime")),
    }


def load_job(path: Path, node_dir: Path, variables: dict[str, str], cluster: int) -> JobDescription:
    pairs = read_submit_lines(path, node_dir)
    keys: dict[str, str] = {}
    for k, v in pairs:
        keys[k.lower()] = v
    macros = {k: v for k, v in keys.items()}
    macros.update({k.lower(): v for k, v in variables.items()})
    macros.update(
        {"cluster": str(cluster), "clusterid": str(cluster), "process": "0", "procid": "0"}
    )

    def expand(value: str, depth: int = 0) -> str:
        out = MACRO.sub(lambda m: macros.get(m.group(1).lower(), ""), value)
        return expand(out, depth + 1) if "$(" in out and depth < 5 else out

    get = {k: expand(v) for k, v in keys.items()}
    if "executable" not in get:
        raise SubmitError(f"{path}: no executable")
    initialdir = node_dir / get["initialdir"] if "initialdir" in get else node_dir

    def at(value: str | None) -> Path | None:
        return None if not value else (initialdir / value)

    def listed(value: str | None) -> list[str]:
        return [x.strip() for x in (value or "").split(",") if x.strip()]

    universe = get.get("universe", "vanilla").lower()
    if universe not in ("vanilla", "local", "scheduler"):
        raise SubmitError(f"{path}: universe {universe!r} is not supported by the local backend")
    return JobDescription(
        executable=initialdir / get["executable"],
        arguments=get.get("arguments", "").strip('"').split(),
        universe=universe,
        initialdir=initialdir,
        environment=_environment(get["environment"]) if "environment" in get else {},
        output=at(get.get("output")),
        error=at(get.get("error")),
        log=at(get.get("log")),
        transfer_input_files=listed(get.get("transfer_input_files")),
        transfer_output_files=listed(get["transfer_output_files"])
        if "transfer_output_files" in get
        else None,
        transfer=universe == "vanilla" and get.get("should_transfer_files", "YES").upper() != "NO",
        request_cpus=int(get.get("request_cpus", "1") or 1),
        request_memory=int(float(get.get("request_memory", "0") or 0)),
        priority=_integer(get.get("priority", "0"), "priority", path),
        attributes={k: v for k, v in get.items() if k.startswith(("+", "my."))},
        retry_memory_increase=_increase(get, path),
        retry_memory_max=_quantity(get, "retry_request_memory_max", path),
        gpu=job_gpu_request(get),
    )


def _increase(get: dict[str, str], path: Path) -> str | None:
    value = get.get("retry_request_memory_increase") or None
    if value is not None and factor_of(value) is None and megabytes(value) is None:
        raise SubmitError(
            f"{path}: retry_request_memory_increase {value!r}: the local pool takes a quantity "
            "or [int(]RequestMemory * <factor>[)]"
        )
    return value


def _quantity(get: dict[str, str], key: str, path: Path) -> int | None:
    if not get.get(key):
        return None
    mb = megabytes(get[key])
    if mb is None:
        raise SubmitError(f"{path}: {key} {get[key]!r} is not a memory quantity")
    return mb
