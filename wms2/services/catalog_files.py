"""The offline catalog's dataset files, read into one compact record per file.

A dataset file of 100,000 files parses into ~100 MB of dicts, lists and strings (about
1 kB a file); planning then built its input files, lumi lists and replica index from
copies of them, so the parsed tree alone decided the planner's peak memory. Here each
file's dict becomes a slotted record while the JSON is still being parsed (the decoder's
object hook), so the tree never exists whole: the record keeps the values planning reads,
its lumis already as the sorted (run, lumi) pairs DBS answers with (shared with the lumi
lists handed out), its replica list shared with every file of the same replica set.

A file the hook cannot read (a value of an unexpected shape) keeps its raw value, and the
catalog's answers raise on it as they did on the dict.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from wms2.models import InputFile
from wms2.services.errors import ServiceRequestError


class _Missing:
    """A key the file's dict did not have (the catalog says which, when it is needed)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
_NO_PARENTS: tuple[str, ...] = ()


class CatalogFile:
    """One file of a dataset file: what DBS and Rucio answer about it."""

    __slots__ = (
        "adler32",
        "block",
        "events",
        "lfn",
        "lumis",
        "parents",
        "replicas",
        "size",
        "valid",
    )

    def __init__(
        self,
        lfn: Any,
        size: Any,
        events: Any,
        adler32: Any,
        lumis: Any,
        replicas: tuple[str, ...] | Any,
        parents: Any,
        valid: Any,
        block: str = "",
    ) -> None:
        self.lfn = lfn
        self.size = size
        self.events = events
        self.adler32 = adler32
        # Sorted (run, lumi) pairs; when the dict's lumis could not be read, a list
        # holding the raw value, read again (and raising) when they are asked for.
        self.lumis = lumis
        self.replicas = replicas
        self.parents = parents
        self.valid = valid
        self.block = block

    def lumi_pairs(self) -> tuple[tuple[int, int], ...]:
        if isinstance(self.lumis, tuple):
            return self.lumis
        return _pairs(self.lumis[0])  # raises as the dict's reader did

    def input_file(self) -> InputFile:
        if self.lfn is MISSING or self.size is MISSING:
            missing = "lfn" if self.lfn is MISSING else "size"
            lfn = None if self.lfn is MISSING else self.lfn
            raise ServiceRequestError("catalog", f"file {lfn!r} has no {missing!r}")
        try:
            return InputFile(
                lfn=self.lfn,
                size_bytes=self.size,
                events=self.events,
                checksums={"adler32": str(self.adler32)} if self.adler32 else {},
                block=self.block,
            )
        except ValueError as e:
            raise ServiceRequestError("catalog", str(e)) from e


def _pairs(lumis: Any) -> tuple[tuple[int, int], ...]:
    """{"<run>": [lumi, ...]} -> sorted (run, lumi) pairs, one int per run shared by its
    pairs."""
    pairs: list[tuple[int, int]] = []
    for run, numbers in lumis.items():
        r = int(run)
        pairs.extend([(r, int(lumi)) for lumi in numbers])
    pairs.sort()
    return tuple(pairs)


def _file_record(obj: dict[str, Any], shared: dict[tuple[str, ...], tuple[str, ...]]) -> Any:
    lumis = obj.get("lumis", {})
    try:
        pairs: Any = _pairs(lumis)
    except (AttributeError, TypeError, ValueError):
        pairs = [lumis]
    try:
        rses = tuple(obj.get("replicas", ()))
    except TypeError:
        return obj  # not a list of RSEs: left as the dict, read (and refused) as it was
    replicas = shared.setdefault(rses, rses)
    parents = obj.get("parents")
    return CatalogFile(
        obj.get("lfn", MISSING),
        obj.get("size", MISSING),
        obj.get("events"),
        obj.get("adler32"),
        pairs,
        replicas,
        tuple(parents) if parents else _NO_PARENTS,
        obj.get("valid", True),
    )


def as_record(f: Any, block: str) -> CatalogFile:
    """A file of a block as a record, whatever the hook made of it."""
    if not isinstance(f, CatalogFile):
        rec = _file_record(dict(f), {})
        if not isinstance(rec, CatalogFile):
            raise ServiceRequestError("catalog", f"file {f.get('lfn')!r} has no readable replicas")
        f = rec
    f.block = block
    return f


def dataset_decoder() -> Callable[[str], Any]:
    """A JSON reader of dataset files that makes each file a CatalogFile as it is parsed
    (a dict with an "lfn"; the block's name is set when its block is complete)."""
    shared: dict[tuple[str, ...], tuple[str, ...]] = {}

    def hook(obj: dict[str, Any]) -> Any:
        if "lfn" in obj:
            return _file_record(obj, shared)
        files = obj.get("files")
        name = obj.get("name")
        if isinstance(files, list) and isinstance(name, str):
            for f in files:
                if isinstance(f, CatalogFile):
                    f.block = name
        return obj

    return json.JSONDecoder(object_hook=hook).decode
