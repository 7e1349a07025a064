"""What planning reads before it splits: the input files of the request's selection with
their lumis and disk locations, and each step's pileup with the sites that hold all of it.

Locality follows WMCore: without TrustSitelists a job runs only where a disk replica of
its input is, inside the site lists; with it, anywhere in the whitelist, reading remotely.
A step's pileup restricts jobs to the sites holding a complete disk copy of it, unless
TrustPUSitelists (pileup read remotely).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wms2.models import InputFile, PilotMetrics, Request
from wms2.planning.splitting import Resources, SplitInput, SplittingError
from wms2.recovery_spec import RECOVERY_FILES
from wms2.services.protocols import FileCatalog, FileQuery, ReplicaCatalog


class InputOnTape(SplittingError):
    """Input whose only copies are on tape: it is staged to disk before planning."""


def located_files(
    query: FileQuery,
    files_svc: FileCatalog,
    replicas_svc: ReplicaCatalog,
    only: list[str] | None = None,
) -> list[InputFile]:
    """The query's files (those named by `only`, if given: a recovery's failed input),
    each with the sites holding a disk replica of it."""
    files = files_svc.list_files(query)
    if only is not None:
        wanted = set(only)
        files = [f for f in files if f.lfn in wanted]
        missing = wanted - {f.lfn for f in files}
        if missing:
            raise SplittingError(
                f"{len(missing)} recovered input file(s) are not valid files of "
                f"{query.dataset} with their failed lumis, e.g. {min(missing)}"
            )
    locations = replicas_svc.replicas([f.lfn for f in files]) if files else {}
    # Files share a few location sets: files with the same one share its list (read,
    # never mutated), 100,000 files hold a handful of lists instead of one each.
    shared: dict[tuple[str, ...], list[str]] = {}
    for f in files:
        where = locations.get(f.lfn, [])
        f.locations = shared.setdefault(tuple(where), where)
    return files


def tape_only(files: list[InputFile], replicas_svc: ReplicaCatalog) -> list[InputFile]:
    """The files with no disk replica but a tape one."""
    stranded = [f for f in files if not f.locations]
    if not stranded:
        return []
    on_tape = replicas_svc.on_tape([f.lfn for f in stranded])
    return [f for f in stranded if f.lfn in on_tape]


def staging_blocks(files: list[InputFile]) -> list[str]:
    """The blocks (Rucio datasets) a staging rule asks for: whole blocks, as WMCore does."""
    return sorted({f.block or f.lfn for f in files})


@dataclass
class Pileup:
    step: str
    kind: str  # "mc" or "data"
    dataset: str
    files: list[str]
    sites: list[str]  # holding every file on disk
    events: int = 0  # in all its files: a deterministic slice wraps around at this count

    def manifest(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "type": self.kind,
            "dataset": self.dataset,
            "sites": self.sites,
            "files": self.files,
            "events": self.events,
        }


def file_query(request: Request) -> FileQuery:
    assert request.input_dataset is not None
    p = request.splitting_params
    return FileQuery(
        dataset=request.input_dataset,
        run_whitelist=list(p.get("run_whitelist") or []),
        lumi_mask=dict(p.get("lumi_mask") or {}),
        run_blacklist=list(p.get("run_blacklist") or []),
        block_whitelist=list(p.get("block_whitelist") or []),
        block_blacklist=list(p.get("block_blacklist") or []),
    )


def _check_blocks(query: FileQuery, files_svc: FileCatalog) -> None:
    named = set(query.block_whitelist) | set(query.block_blacklist)
    if not named:
        return
    unknown = sorted(named - set(files_svc.list_blocks(query.dataset)))
    if unknown:
        which = "BlockWhitelist" if unknown[0] in query.block_whitelist else "BlockBlacklist"
        raise SplittingError(
            f"{which} names {len(unknown)} block(s) {query.dataset} does not have: "
            + ", ".join(unknown[:3])
        )


def pileup_of(
    request: Request, files_svc: FileCatalog, replicas_svc: ReplicaCatalog
) -> list[Pileup]:
    found = []
    for step in request.steps:
        if step.pileup_dataset is None:
            continue
        files = files_svc.list_files(FileQuery(dataset=step.pileup_dataset))
        if not files:
            raise SplittingError(f"pileup dataset {step.pileup_dataset} has no files")
        lfns = [f.lfn for f in files]
        where = replicas_svc.replicas(lfns)
        complete = set.intersection(*(set(where.get(lfn, [])) for lfn in lfns))
        found.append(
            Pileup(
                step.name,
                step.pileup_type or "mc",
                step.pileup_dataset,
                lfns,
                sorted(complete),
                sum(f.events or 0 for f in files),
            )
        )
    return found


def allowed_sites(request: Request, pileup: list[Pileup]) -> set[str] | None:
    """Sites every job is limited to by its pileup (None: no limit)."""
    if request.trust_pu_sitelists or not pileup:
        return None
    sites = set.intersection(*(set(p.sites) for p in pileup))
    if not sites:
        raise SplittingError(
            "no site holds a complete disk copy of the pileup ("
            + "; ".join(f"{p.dataset}: {', '.join(p.sites) or 'none'}" for p in pileup)
            + "): set TrustPUSitelists to read it remotely"
        )
    return sites


def _attach_parents(files: list[InputFile], files_svc: FileCatalog) -> None:
    """IncludeParents: each file's parents go to its job (WMCore fails a file without)."""
    parents = files_svc.file_parents([f.lfn for f in files])
    orphans = [f.lfn for f in files if not parents.get(f.lfn)]
    if orphans:
        raise SplittingError(
            f"IncludeParents is true but {len(orphans)} input file(s) have no parent in DBS, "
            f"e.g. {orphans[0]}"
        )
    for f in files:
        f.parent_lfns = parents[f.lfn]


def gather_input(
    request: Request,
    files_svc: FileCatalog,
    replicas_svc: ReplicaCatalog,
    resources: Resources,
    metrics: PilotMetrics | None,
    pileup: list[Pileup],
    stage_tape: bool = True,
) -> SplitInput:
    params = dict(request.splitting_params)
    if metrics is not None and "events_per_job" in params:
        params["events_per_job"] = metrics.recommended_events_per_job
    common: dict[str, Any] = {
        "algo": request.splitting_algo,
        "params": params,
        "resources": resources,
        "site_whitelist": request.site_whitelist,
        "site_blacklist": request.site_blacklist,
        "trust_sitelists": request.trust_sitelists,
        "pileup_sites": allowed_sites(request, pileup),
    }
    if request.input_dataset is None:
        return SplitInput(files=[], lumis={}, generation=True, **common)
    query = file_query(request)
    _check_blocks(query, files_svc)
    recovered = params.get(RECOVERY_FILES)
    files = located_files(query, files_svc, replicas_svc, recovered)
    if not files and not (
        query.lumi_filter().active or query.block_whitelist or query.block_blacklist
    ):
        raise SplittingError(f"input dataset {query.dataset} has no valid files")
    lumis = files_svc.file_lumis(query) if files else {}
    on_tape = tape_only(files, replicas_svc)
    if on_tape:
        blocks = staging_blocks(on_tape)
        what = f"{len(on_tape)} input file(s) in {len(blocks)} block(s) are on tape only"
        if stage_tape:
            raise InputOnTape(f"{what} (first {blocks[0]}): they are staged to disk first")
        raise SplittingError(
            f"{what} (first {blocks[0]}) and staging is switched off "
            "(WMS2_STAGE_TAPE_INPUT=false): ask Rucio for a disk copy and submit again"
        )
    if params.get("include_parents") and files:
        _attach_parents(files, files_svc)
    return SplitInput(
        files=files,
        lumis=lumis,
        mask_active=recovered is not None
        or query.lumi_filter().active
        or bool(query.block_whitelist)
        or bool(query.block_blacklist),
        **common,
    )
