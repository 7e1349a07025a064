"""Offline catalog: ReqMgr2, DBS and Rucio served from a directory of JSON files.

Layout of the catalog directory:

    requests/*.json   ReqMgr2 request documents (the inner dict, with "RequestName")
    acdc/<database>/<collection>.json   a WMCore ACDC collection: the answer of the view
                      ACDC/coll_fileset_docs with include_docs ({"rows": [{"key":
                      [collection, task path], "doc": {...}}]}, wms2.services.acdc)
    datasets/*.json   {"dataset": "/P/Proc/TIER", "blocks": [{"name": ...,
                        "files": [{"lfn", "size", "events", "adler32",
                                   "lumis": {"<run>": [lumi, ...]},
                                   "replicas": ["T1_US_FNAL_Disk", ...],
                                   "parents": ["<parent lfn>", ...]}]}]}
    config.json       optional: {"destinations": {"<TIER or dataset>": ["RSE", ...]},
                                 "rule_polls_to_ok": 2, "stuck_rses": ["RSE", ...],
                                 "refused_datasets": ["/P/Proc/TIER", ...]}

What WMS2 asks the catalog to do (DBS blocks, Rucio rules) is recorded under a separate
state directory, so the shipped catalog stays read-only. Rules progress REPLICATING -> OK
after `rule_polls_to_ok` polls, like a transfer that takes time; rules to a `stuck_rses`
RSE go STUCK. Registering a block of a `refused_datasets` dataset is refused like DBS
refuses a bad insert (HTTP 400), to exercise the pipeline's error path.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

from wms2.models import InputFile
from wms2.services.acdc import check_location, view_docs
from wms2.services.catalog_files import CatalogFile, as_record, dataset_decoder
from wms2.services.dqm import upload_form
from wms2.services.errors import NotFoundError, ServiceRequestError
from wms2.services.protocols import FileQuery, Rule, RuleState
from wms2.services.rucio import sites_of


@functools.lru_cache(maxsize=4096)
def _has_tape(rses: tuple[str, ...]) -> bool:
    return any(r.endswith("_Tape") for r in rses)


class OfflineCatalog:
    service = "catalog"

    def __init__(self, catalog_dir: Path, state_dir: Path) -> None:
        self.root = Path(catalog_dir)
        if not self.root.is_dir():
            raise ServiceRequestError("catalog", f"catalog directory {self.root} does not exist")
        self.state_dir = Path(state_dir)
        # The last dataset file parsed, by (path, mtime, size): a plan asks for the same
        # dataset several times (names, files, lumis, replicas); it is parsed once.
        self._last: tuple[tuple[Path, int, int], Any] | None = None

    # ── the site list: CRIC's answers, kept in sites.json ─────────────────

    source = "catalog"

    def _site_answer(self, preset: str) -> Any:
        path = self.root / "sites.json"
        if not path.exists():
            raise NotFoundError("catalog", f"{path} does not exist: the catalog lists no sites")
        return self._read(path)[preset]

    def site_names(self) -> Any:
        return self._site_answer("site-names")

    def data_processing(self) -> Any:
        return self._site_answer("data-processing")

    # ── loading ────────────────────────────────────────────────────────────

    def _read(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ServiceRequestError("catalog", f"cannot read {path}: {e}") from e

    def _read_dataset_file(self, path: Path) -> Any:
        """A dataset file with its files as compact records (wms2.services.catalog_files)."""
        try:
            st = path.stat()
        except OSError as e:
            raise ServiceRequestError("catalog", f"cannot read {path}: {e}") from e
        key = (path, st.st_mtime_ns, st.st_size)
        if self._last is None or self._last[0] != key:
            self._last = None  # the previous dataset goes before the next is parsed
            try:
                self._last = (key, dataset_decoder()(path.read_text()))
            except (OSError, ValueError) as e:
                raise ServiceRequestError("catalog", f"cannot read {path}: {e}") from e
        return self._last[1]

    @cached_property
    def _request_paths(self) -> dict[str, Path]:
        paths = {}
        for p in sorted((self.root / "requests").glob("*.json")):
            paths[self._read(p).get("RequestName", p.stem)] = p
        return paths

    @cached_property
    def _dataset_paths(self) -> dict[str, Path]:
        return {
            self._read_dataset_file(p)["dataset"]: p
            for p in sorted((self.root / "datasets").glob("*.json"))
        }

    @cached_property
    def config(self) -> dict[str, Any]:
        path = self.root / "config.json"
        return self._read(path) if path.exists() else {}

    def _dataset(self, dataset: str) -> dict[str, Any]:
        path = self._dataset_paths.get(dataset)
        if path is None:
            raise NotFoundError("dbs", f"dataset {dataset} does not exist")
        return self._read_dataset_file(path)

    def _files(self, dataset: str, query: FileQuery | None = None) -> Iterator[CatalogFile]:
        for block in self._dataset(dataset)["blocks"]:
            name = block["name"]
            if query is None or query.keeps_block(name):
                for f in block["files"]:
                    yield (
                        f if isinstance(f, CatalogFile) and f.block == name else as_record(f, name)
                    )

    def forget_cached(self) -> None:
        """The parsed dataset and the index over all files are kept only while one plan
        gathers its input; the next plan reads the files afresh."""
        self._last = None
        for name in ("_dataset_paths", "_by_lfn"):
            self.__dict__.pop(name, None)

    # ── ReqMgr2 ────────────────────────────────────────────────────────────

    def get_request(self, request_name: str) -> dict[str, Any]:
        path = self._request_paths.get(request_name)
        if path is None:
            raise NotFoundError("reqmgr2", f"request {request_name!r} does not exist")
        return self._read(path)

    def request_names(self) -> list[str]:
        return sorted(self._request_paths)

    # ── ACDC ───────────────────────────────────────────────────────────────

    def fileset_docs(
        self, server: str, database: str, collection: str, fileset: str
    ) -> list[dict[str, Any]]:
        """acdc/<database>/<collection>.json holds the view's answer as CouchDB gives it;
        the server is not consulted (the catalog is the offline stand-in for all)."""
        check_location(server, database)
        path = self.root / "acdc" / database / f"{collection}.json"
        if "/" in collection or not path.is_file():
            raise NotFoundError(
                "acdc", f"ACDC collection {collection!r} is not in {database} (no {path})"
            )
        return view_docs(self._read(path), collection, fileset)

    # ── DBS ────────────────────────────────────────────────────────────────

    def list_blocks(self, dataset: str) -> list[str]:
        return [b["name"] for b in self._dataset(dataset)["blocks"]]

    @cached_property
    def _by_lfn(self) -> dict[str, CatalogFile]:
        """Every file of every dataset by LFN (parents, replicas)."""
        return {f.lfn: f for dataset in self._dataset_paths for f in self._files(dataset)}

    def file_parents(self, lfns: list[str]) -> dict[str, list[str]]:
        index = self._by_lfn
        return {lfn: list(f.parents) if (f := index.get(lfn)) else [] for lfn in lfns}

    def file_lumis(self, query: FileQuery) -> dict[str, list[tuple[int, int]]]:
        keep = query.lumi_filter()
        result = {}
        for f in self._files(query.dataset, query):
            pairs = f.lumi_pairs()
            if keep.active:
                pairs = tuple(p for p in pairs if keep(*p))
            if pairs:
                result[f.lfn] = list(pairs)
        return result

    def list_files(self, query: FileQuery) -> list[InputFile]:
        kept = self.file_lumis(query) if query.lumi_filter().active else None
        return sorted(
            (
                f.input_file()
                for f in self._files(query.dataset, query)
                if f.valid and (kept is None or f.lfn in kept)
            ),
            key=lambda f: f.lfn,
        )

    # ── Rucio ──────────────────────────────────────────────────────────────

    def replicas(self, lfns: list[str]) -> dict[str, list[str]]:
        """Disk sites of each file: the catalog's, plus the RSEs of the rules WMS2 made
        that are OK (a staged block now has a disk copy)."""
        copies = self._rule_copies()
        index = self._by_lfn
        found = {}
        for lfn in lfns:
            f = index.get(lfn)
            # sites_of: sorted, each site once, mapped once per replica set.
            sites = sites_of(f.replicas) if f is not None else []
            if copies:
                made = copies.get(lfn, set()) | copies.get(f.block if f else "", set())
                sites = sorted(set(sites) | made)
            found[lfn] = sites
        return found

    def on_tape(self, lfns: list[str]) -> set[str]:
        index = self._by_lfn
        return {lfn for lfn in lfns if (f := index.get(lfn)) is not None and _has_tape(f.replicas)}

    def _rule_copies(self) -> dict[str, set[str]]:
        """DID -> sites of the finished rules that name it (single-RSE expressions)."""
        path = self.state_dir / "rules.json"
        if not path.exists():
            return {}
        polls_to_ok = int(self.config.get("rule_polls_to_ok", 2))
        copies: dict[str, set[str]] = {}
        for rule in json.loads(path.read_text()).values():
            if rule["deleted"] or rule["polls"] < polls_to_ok:
                continue
            for rse in rule["rse_expression"].split("|"):
                site = sites_of([rse])
                for did in rule["dids"]:
                    copies.setdefault(did, set()).update(site)
        return copies

    def destinations(self, dataset: str) -> list[str]:
        """RSEs an output dataset should be transferred to (Rucio subscriptions offline)."""
        table = self.config.get("destinations", {})
        return list(table.get(dataset) or table.get(dataset.rsplit("/", 1)[-1]) or [])

    @contextmanager
    def _state(self, name: str) -> Iterator[dict[str, Any]]:
        """Read-modify-write of one state file under an exclusive lock (several worker
        threads or processes may use the catalog at once)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / f"{name}.json"
        with open(self.state_dir / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = json.loads(path.read_text()) if path.exists() else {}
            yield data
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            os.replace(tmp, path)

    def create_rule(
        self,
        dids: list[str],
        rse_expression: str,
        copies: int = 1,
        grouping: str = "DATASET",
        lifetime: int | None = None,
        comment: str = "",
    ) -> str:
        if copies < 1:
            raise ServiceRequestError("rucio", f"copies {copies} must be >= 1")
        with self._state("rules") as rules:
            # Like Rucio, a second identical rule is not made: the first one is returned.
            for rule_id, rule in rules.items():
                if (
                    rule["dids"] == list(dids)
                    and rule["rse_expression"] == rse_expression
                    and not rule["deleted"]
                ):
                    return rule_id
            rule_id = uuid.uuid4().hex
            rules[rule_id] = {
                "dids": list(dids),
                "rse_expression": rse_expression,
                "copies": copies,
                "grouping": grouping,
                "lifetime": lifetime,
                "comment": comment,
                "polls": 0,
                "deleted": False,
            }
        return rule_id

    def get_rule(self, rule_id: str) -> Rule:
        with self._state("rules") as rules:
            rule = rules.get(rule_id)
            if rule is None or rule["deleted"]:
                raise NotFoundError("rucio", f"rule {rule_id} does not exist")
            rule["polls"] += 1
            if rule["rse_expression"] in self.config.get("stuck_rses", []):
                state = RuleState.STUCK
            elif rule["polls"] >= int(self.config.get("rule_polls_to_ok", 2)):
                state = RuleState.OK
            else:
                state = RuleState.REPLICATING
        n = len(rule["dids"])
        return Rule(
            id=rule_id,
            rse_expression=rule["rse_expression"],
            state=state,
            dids=tuple(rule["dids"]),
            locks_ok=n if state is RuleState.OK else 0,
            locks_replicating=n if state is RuleState.REPLICATING else 0,
            locks_stuck=n if state is RuleState.STUCK else 0,
        )

    def delete_rule(self, rule_id: str) -> None:
        with self._state("rules") as rules:
            if rule_id not in rules or rules[rule_id]["deleted"]:
                raise NotFoundError("rucio", f"rule {rule_id} does not exist")
            rules[rule_id]["deleted"] = True

    def recorded_rules(self) -> dict[str, dict[str, Any]]:
        with self._state("rules") as rules:
            return dict(rules)

    # ── DBS writer ─────────────────────────────────────────────────────────

    def insert_block(self, document: dict[str, Any]) -> bool:
        dataset = document["dataset"]["dataset"]
        if dataset in self.config.get("refused_datasets", []):
            raise ServiceRequestError(
                "dbs", f"POST /bulkblocks was refused with HTTP 400: dataset {dataset} refused", 400
            )
        block = document["block"]["block_name"]
        with self._state("blocks") as blocks:
            if block in blocks:
                return False
            blocks[block] = {
                "dataset": dataset,
                "origin_site_name": document["block"]["origin_site_name"],
                "open_for_writing": 1,
                # What DBS would hold of the dataset's provenance.
                "release_version": document["dataset_conf_list"][0]["release_version"],
                "global_tag": document["dataset_conf_list"][0]["global_tag"],
                "processing_version": document["processing_era"]["processing_version"],
                "primary_ds_type": document["primds"]["primary_ds_type"],
                "file_parents": {
                    p["logical_file_name"]: [
                        q["parent_logical_file_name"]
                        for q in document["file_parent_list"]
                        if q["logical_file_name"] == p["logical_file_name"]
                    ]
                    for p in document["file_parent_list"]
                },
                "files": {
                    f["logical_file_name"]: {
                        "file_size": f["file_size"],
                        "event_count": f["event_count"],
                        "adler32": f["adler32"],
                        "lumis": len(f["file_lumi_list"]),
                        "is_file_valid": 1,
                    }
                    for f in document["files"]
                },
            }
        return True

    def close_block(self, block: str) -> None:
        with self._state("blocks") as blocks:
            if block not in blocks:
                raise NotFoundError("dbs", f"block {block} does not exist")
            blocks[block]["open_for_writing"] = 0

    def invalidate_file(self, lfn: str) -> None:
        with self._state("blocks") as blocks:
            for block in blocks.values():
                if lfn in block["files"]:
                    block["files"][lfn]["is_file_valid"] = 0
                    return
        raise NotFoundError("dbs", f"file {lfn} does not exist")

    def recorded_blocks(self) -> dict[str, dict[str, Any]]:
        with self._state("blocks") as blocks:
            return dict(blocks)

    def upload_dqm(self, url: str, path: Path) -> dict[str, Any]:
        """The DQM GUI upload, recorded (dqm_uploads.json: url/file -> checksum, size):
        the form WMCore's DQMUpload posts, kept instead of sent."""
        form = upload_form(path)
        with self._state("dqm_uploads") as uploads:
            uploads[f"{url}/{path.name}"] = {"url": url, "file": path.name, **form}
        return {"url": url, "file": path.name, **form}

    def recorded_dqm_uploads(self) -> dict[str, dict[str, Any]]:
        with self._state("dqm_uploads") as uploads:
            return dict(uploads)
