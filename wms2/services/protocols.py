"""What WMS2 needs from ReqMgr2, DBS and Rucio. Both the HTTP clients and the offline
catalog implement these, so planning and the output pipeline do not care which is used."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from wms2.models import InputFile
from wms2.services.lumimask import LumiFilter


class RuleState(StrEnum):
    """Every state Rucio gives a replication rule (rucio.db.sqla.constants.RuleState)."""

    REPLICATING = "REPLICATING"
    OK = "OK"
    STUCK = "STUCK"
    SUSPENDED = "SUSPENDED"
    WAITING_APPROVAL = "WAITING_APPROVAL"
    INJECT = "INJECT"

    @property
    def needs_attention(self) -> bool:
        """Not progressing without someone acting: alerted, and polling goes on."""
        return self in (RuleState.STUCK, RuleState.SUSPENDED, RuleState.WAITING_APPROVAL)


@dataclass(frozen=True)
class Rule:
    id: str
    rse_expression: str
    state: RuleState
    dids: tuple[str, ...] = ()
    locks_ok: int = 0
    locks_replicating: int = 0
    locks_stuck: int = 0


@dataclass
class FileQuery:
    """A dataset's files, optionally cut by run white/black lists and lumi mask
    (``{"run": [[first, last], ...]}``, the CMS golden-JSON shape) per lumi, and by block
    white/black lists per file."""

    dataset: str
    run_whitelist: list[int] = field(default_factory=list)
    lumi_mask: dict[str, list[list[int]]] = field(default_factory=dict)
    run_blacklist: list[int] = field(default_factory=list)
    block_whitelist: list[str] = field(default_factory=list)
    block_blacklist: list[str] = field(default_factory=list)

    def lumi_filter(self) -> LumiFilter:
        return LumiFilter(self.run_whitelist, self.lumi_mask, self.run_blacklist)

    def keeps_block(self, block: str) -> bool:
        if self.block_whitelist and block not in self.block_whitelist:
            return False
        return block not in self.block_blacklist


class RequestSource(Protocol):
    def get_request(self, request_name: str) -> dict[str, Any]:
        """The ReqMgr2 document of one request (the inner dict of the envelope)."""
        ...


class FileCatalog(Protocol):
    def list_files(self, query: FileQuery) -> list[InputFile]:
        """Valid files of a dataset with size, events and adler32. Only files that keep at
        least one lumi after the query's whitelist and mask are returned."""
        ...

    def file_lumis(self, query: FileQuery) -> dict[str, list[tuple[int, int]]]:
        """(run, lumi) pairs per LFN, already cut by the query's whitelist and mask."""
        ...

    def forget_cached(self) -> None:
        """Drop what answering one plan's questions cached (memory; planning calls it
        once it has gathered its input)."""
        ...

    def list_blocks(self, dataset: str) -> list[str]: ...

    def file_parents(self, lfns: list[str]) -> dict[str, list[str]]:
        """The parent LFNs of each file (DBS fileparents); [] when it has none."""
        ...


class FailedWorkSource(Protocol):
    """WMCore's ACDC server: where WMCore recorded the failed jobs of a request."""

    def fileset_docs(
        self, server: str, database: str, collection: str, fileset: str
    ) -> list[dict[str, Any]]:
        """The documents of view ACDC/coll_fileset_docs under [collection, fileset]."""
        ...


class ReplicaCatalog(Protocol):
    def replicas(self, lfns: list[str]) -> dict[str, list[str]]:
        """CMS site names holding a disk replica of each LFN (tape-only excluded)."""
        ...

    def on_tape(self, lfns: list[str]) -> set[str]:
        """The LFNs among `lfns` that have a tape replica."""
        ...

    def create_rule(
        self,
        dids: list[str],
        rse_expression: str,
        copies: int = 1,
        grouping: str = "DATASET",
        lifetime: int | None = None,
        comment: str = "",
    ) -> str: ...

    def get_rule(self, rule_id: str) -> Rule: ...

    def delete_rule(self, rule_id: str) -> None: ...

    def destinations(self, dataset: str) -> list[str]:
        """RSE expressions an output dataset is placed at (Rucio subscriptions): WMS2 keeps
        no placement policy of its own (DD-9). Empty: the output stays at its source."""
        ...


class OutputRegistry(Protocol):
    """The DBS writer: registration, announcement and invalidation of merged outputs."""

    def insert_block(self, document: dict[str, Any]) -> bool:
        """Insert a bulkblocks document; False if the block was already there."""
        ...

    def close_block(self, block: str) -> None:
        """Announce: the block is complete (open_for_writing=0) and its files usable."""
        ...

    def invalidate_file(self, lfn: str) -> None: ...


class DQMUploader(Protocol):
    """The DQM GUI (wms2.services.dqm) or the offline catalog's record of uploads."""

    def upload_dqm(self, url: str, path: Path) -> dict[str, Any]:
        """Upload one DQM file to the GUI at `url`; what was sent (file, checksum, size)."""
        ...


class SiteList(Protocol):
    """CRIC's site list answers, as CRIC gives them (wms2.sites.cric reads them)."""

    def site_names(self) -> Any: ...

    def data_processing(self) -> Any: ...

    @property
    def source(self) -> str: ...


class DataService(RequestSource, FileCatalog, ReplicaCatalog, Protocol):
    """Everything planning needs, in one object."""


@dataclass
class Services:
    """The backends a worker was configured with."""

    requests: RequestSource
    files: FileCatalog
    replicas: ReplicaCatalog
    registry: OutputRegistry
    sites: SiteList | None = None
    acdc: FailedWorkSource | None = None
    dqm: DQMUploader | None = None  # the DQM GUI a harvesting request uploads to
