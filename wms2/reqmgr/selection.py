"""The data-selection arguments of a ReqMgr2 request, checked and normalised: run white
and black lists, the lumi mask, block white and black lists. Every problem is one line
naming the argument and the value."""

from __future__ import annotations

import json
import re
from typing import Any

from wms2.reqmgr.arguments import unset
from wms2.reqmgr.errors import RequestImportError

# /Primary/Processed/TIER#block-id, as DBS names blocks.
_BLOCK = re.compile(r"^/[\w.-]+/[\w.-]+/[A-Z0-9-]+#[\w.-]+$")


def run_list(field: str, value: Any) -> list[int]:
    if unset(value):
        return []
    items = value if isinstance(value, list) else [value]
    runs = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise RequestImportError(f"{field} {item!r} is not a run number")
        if isinstance(item, str) and not item.strip().isdigit():
            raise RequestImportError(f"{field} {item!r} is not a run number")
        run = int(item)
        if run < 1:
            raise RequestImportError(f"{field} {item!r} is not a run number (runs start at 1)")
        runs.append(run)
    return sorted(set(runs))


def lumi_list(field: str, value: Any) -> dict[str, list[list[int]]]:
    """{"run": [[first, last], ...]} (the CMS golden-JSON shape; a JSON string of it is
    read too, as WMCore's makeLumiList does)."""
    if unset(value):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise RequestImportError(f"{field} {value!r} is not a JSON lumi mask") from None
    if not isinstance(value, dict):
        raise RequestImportError(f"{field} {value!r} must map runs to lumi ranges")
    mask: dict[str, list[list[int]]] = {}
    for run, ranges in value.items():
        if not str(run).isdigit() or int(run) < 1:
            raise RequestImportError(f"{field} run {run!r} is not a run number")
        if not isinstance(ranges, list) or not ranges:
            raise RequestImportError(f"{field} run {run}: {ranges!r} is not a list of ranges")
        out = []
        for pair in ranges:
            ok = (
                isinstance(pair, list | tuple)
                and len(pair) == 2
                and all(isinstance(x, int) and not isinstance(x, bool) for x in pair)
            )
            if not ok:
                raise RequestImportError(
                    f"{field} run {run}: {pair!r} is not a [first, last] lumi range"
                )
            first, last = pair
            if first < 1 or last < first:
                raise RequestImportError(
                    f"{field} run {run}: lumi range {list(pair)!r} is reversed or below 1"
                )
            out.append([first, last])
        mask[str(int(run))] = out
    return mask


def block_list(field: str, value: Any, dataset: str | None) -> list[str]:
    if unset(value):
        return []
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, str) or not _BLOCK.match(item):
            raise RequestImportError(f"{field} {item!r} is not a block name (/P/Proc/TIER#id)")
        if dataset is not None and item.split("#", 1)[0] != dataset:
            raise RequestImportError(
                f"{field} {item!r} is not a block of the input dataset {dataset}"
            )
    return sorted(set(items))
