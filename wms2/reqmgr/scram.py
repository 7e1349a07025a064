"""One architecture per step from ReqMgr2's ScramArch (a name or a list of names).

WMCore resolves a list on the worker node (WMRuntime/Tools/Scram.py getSingleScramArch):
of the requested architectures sorted newest first (reverse name order), the first whose
OS prefix fits the node's OS; when the node's OS is unknown, sorted(list)[-1]. WMS2
resolves it at planning, for the node the job will get: one job runs every step on one
node, so the node's OS is the newest OS every step has an architecture for, and each step
takes its newest architecture of that OS. An older release that also lists a newer OS
thus runs with the OS the other steps need. When the steps share no OS (each step pinned
to its own), every list resolves as WMCore does without the node's OS.
"""

from __future__ import annotations

from typing import Any

from wms2.reqmgr.arguments import make_list, unset
from wms2.reqmgr.errors import RequestImportError

# WMCore's ARCH_TO_OS (Scram.py): the OS a ScramArch's first part runs on.
ARCH_TO_OS: dict[str, str] = {
    "slc5": "rhel6",
    "slc6": "rhel6",
    "slc7": "rhel7",
    "el8": "rhel8",
    "cc8": "rhel8",
    "cs8": "rhel8",
    "alma8": "rhel8",
    "el9": "rhel9",
    "cs9": "rhel9",
}


def arch_os(arch: str) -> str | None:
    return ARCH_TO_OS.get(arch.split("_", 1)[0])


def _os_version(os_name: str) -> int:
    return int(os_name.removeprefix("rhel"))


def arch_list(field: str, value: Any) -> list[str]:
    """The architectures one step allows ([] when unset); ScramArch is read with
    ReqMgr2's makeNonEmptyList, so "a,b" is two names."""
    if unset(value):
        return []
    try:
        names = make_list(value)
    except ValueError:
        raise RequestImportError(f"{field} {value!r} is not an architecture name") from None
    if not names or not all(isinstance(n, str) and n for n in names):
        raise RequestImportError(f"{field} {value!r} is not an architecture name")
    return names


def resolve_archs(lists: list[list[str]]) -> list[str]:
    """One architecture per step (every list non-empty), as described above."""
    shared: set[str] | None = None
    for names in lists:
        oses = {o for o in map(arch_os, names) if o is not None}
        if oses:  # a step with only unknown OS prefixes does not constrain the node
            shared = oses if shared is None else shared & oses
    node_os = max(shared, key=_os_version) if shared else None
    chosen = []
    for names in lists:
        fitting = [n for n in sorted(names, reverse=True) if arch_os(n) == node_os]
        chosen.append(fitting[0] if fitting else sorted(names)[-1])
    return chosen


def scram_arch(field: str, value: Any) -> str | None:
    """A single step's architecture, resolved on its own (None when unset)."""
    names = arch_list(field, value)
    return resolve_archs([names])[0] if names else None
