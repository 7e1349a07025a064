"""How far a job's memory request may grow, and by how much each memory eviction or hold
raises it. Pure arithmetic, shared by the submit files (HTCondor's own retry), the local
pool (which does what the schedd does) and the release of memory-held jobs, so that the
three agree to the megabyte.
"""

from __future__ import annotations

import re

# HTCondor's "JobStatus and HoldReasonCode" table: 34 JobOutOfResources, subcode 102
# "Memory usage exceeded". The schedd's retry_request_memory transform fires on the same
# pair (VacateReasonCode 21 or 34, VacateReasonSubCode 102).
HOLD_OUT_OF_RESOURCES = 34
SUBCODE_MEMORY = 102
# Holds a pool's own memory policy gives: the job's PERIODIC_HOLD (3), the startd's
# WANT_HOLD (21), SYSTEM_PERIODIC_HOLD (26). Their code does not say "memory", so they
# count as memory holds only when the job used more than it asked for.
POLICY_HOLD_CODES = frozenset({3, 21, 26})

# The job ad attribute that marks a job WMS2 may release with more memory after a memory
# hold, and up to how much (MB): pools without HTCondor's retry hold such jobs.
MAX_MEMORY_ATTR = "WMS2_MaxMemoryMB"

# What the processing submit description writes for retry_request_memory_increase: an
# expression of RequestMemory, which HTCondor takes as the next request (a bare quantity
# would be added instead).
_FACTOR_EXPR = re.compile(r"^\s*(int\()?\s*RequestMemory\s*\*\s*([0-9.]+)\s*(\))?\s*$", re.I)


def memory_cap(start_mb: int, request_mb: int, cores: int, per_core_mb: int) -> int:
    """The most a processing job may ask for: the request's own Memory (a pilot may have
    started it lower), or what a slot of its cores holds at `per_core_mb`, whichever is
    more; never less than what it starts with."""
    return max(start_mb, request_mb, cores * per_core_mb)


def next_memory(current_mb: int, factor: float, cap_mb: int) -> int:
    """The raised request: int(current * factor), at most the cap. The same value the
    schedd computes for `retry_request_memory_increase = int(RequestMemory * factor)`
    (EVALSET RequestMemory MIN({NextRequestMemory, MaxRequestMemory}))."""
    return min(int(current_mb * factor), cap_mb)


def increase_expression(factor: float) -> str:
    """retry_request_memory_increase's value for `factor` (a ClassAd expression)."""
    return f"int(RequestMemory * {factor:g})"


def factor_of(expression: str) -> float | None:
    """The factor of an increase written as `[int(]RequestMemory * F[)]`; None if it is
    not one (a bare quantity, to be added)."""
    m = _FACTOR_EXPR.match(expression)
    if m is None or bool(m.group(1)) != bool(m.group(3)):
        return None
    return float(m.group(2))


def is_memory_hold(code: int, subcode: int, usage_mb: float | None, request_mb: int) -> bool:
    """Was a job held for using more memory than it asked for?"""
    if code == HOLD_OUT_OF_RESOURCES:
        return subcode == SUBCODE_MEMORY
    return code in POLICY_HOLD_CODES and usage_mb is not None and usage_mb > request_mb
