"""DBS reader: files, blocks and file lumis of a dataset.

DBS rejects a `limit` parameter on /files, so none is sent. Lumis come per block from
/filelumis; the run white/black lists, lumi mask and block lists are applied here, on what
DBS returned (`files?detail=1` rows carry their `block_name`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from wms2.models import InputFile
from wms2.services.errors import ServiceRequestError
from wms2.services.http import ServiceClient
from wms2.services.protocols import FileQuery


class DBSClient:
    def __init__(self, http: ServiceClient) -> None:
        self.http = http

    def _list(self, path: str, **params: Any) -> list[dict[str, Any]]:
        rows = self.http.get_json(path, params=params)
        if not isinstance(rows, list):
            raise ServiceRequestError("dbs", f"{path} returned {type(rows).__name__}, not a list")
        return rows

    def list_blocks(self, dataset: str) -> list[str]:
        return [r["block_name"] for r in self._list("/blocks", dataset=dataset)]

    def file_lumis(self, query: FileQuery) -> dict[str, list[tuple[int, int]]]:
        keep = query.lumi_filter()
        lumis: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for block in filter(query.keeps_block, self.list_blocks(query.dataset)):
            for row in self._list("/filelumis", block_name=block, validFileOnly=1):
                run = int(row["run_num"])
                sections = row["lumi_section_num"]
                for lumi in sections if isinstance(sections, list) else [sections]:
                    if keep(run, int(lumi)):
                        lumis[row["logical_file_name"]].append((run, int(lumi)))
        return {lfn: sorted(set(pairs)) for lfn, pairs in lumis.items()}

    def file_parents(self, lfns: list[str]) -> dict[str, list[str]]:
        """GET /fileparents per file. DBS3 answers one row per file with a list of parents;
        dbs2go one row per (file, parent) pair with a string: both are read."""
        parents: dict[str, list[str]] = {lfn: [] for lfn in lfns}
        for lfn in lfns:
            for row in self._list("/fileparents", logical_file_name=lfn):
                found = row.get("parent_logical_file_name") or []
                for parent in found if isinstance(found, list) else [found]:
                    if parent not in parents[lfn]:
                        parents[lfn].append(parent)
        return parents

    def forget_cached(self) -> None:
        """Nothing is cached: every question is a call to DBS."""

    def list_files(self, query: FileQuery) -> list[InputFile]:
        """Valid files of the query. dbs2go may answer one row per file and run: rows are
        merged by LFN. `event_count: null` is an unknown count (not 0) and `adler32:
        "NOTSET"` no checksum."""
        rows = self._list("/files", dataset=query.dataset, detail=1, validFileOnly=1)
        by_lfn: dict[str, InputFile] = {}
        for r in rows:
            lfn = r["logical_file_name"]
            if lfn in by_lfn or not r.get("is_file_valid", 1):
                continue
            if not query.keeps_block(str(r.get("block_name", ""))):
                continue
            adler = r.get("adler32")
            count = r.get("event_count")
            by_lfn[lfn] = InputFile(
                lfn=lfn,
                size_bytes=int(r.get("file_size") or 0),
                events=None if count is None else int(count),
                checksums={"adler32": adler} if adler and adler != "NOTSET" else {},
                block=r.get("block_name"),
            )
        files = list(by_lfn.values())
        if query.lumi_filter().active:
            kept = self.file_lumis(query)
            files = [f for f in files if f.lfn in kept]
        return sorted(files, key=lambda f: f.lfn)


class DBSWriterClient:
    """DBS writer: bulkblocks insertion, block closing, file invalidation. Existence is
    checked through the reader first, so a retried registration inserts nothing twice."""

    def __init__(self, http: ServiceClient, reader: DBSClient) -> None:
        self.http, self.reader = http, reader

    def insert_block(self, document: dict[str, Any]) -> bool:
        block = document["block"]["block_name"]
        if self.reader._list("/blocks", block_name=block):
            return False
        self.http.post_json("/bulkblocks", document)
        return True

    def close_block(self, block: str) -> None:
        self.http.request("PUT", "/blocks", params={"block_name": block, "open_for_writing": 0})

    def invalidate_file(self, lfn: str) -> None:
        self.http.request("PUT", "/files", params={"logical_file_name": lfn, "is_file_valid": 0})
