"""Deterministic synthetic datasets in the offline catalog's format (for the sample
catalog, tests and benchmarks)."""

from __future__ import annotations

import random
import zlib
from typing import Any


def build_dataset(
    dataset: str,
    n_files: int,
    *,
    blocks: int = 4,
    lumis_per_file: int = 3,
    events_per_lumi: int = 100,
    runs: tuple[int, ...] = (367100, 367101),
    sites: tuple[str, ...] = ("T1_US_FNAL_Disk", "T2_CH_CERN", "T2_DE_DESY"),
    seed: int = 1,
) -> dict[str, Any]:
    rng = random.Random(seed)
    primary, processed, tier = dataset.strip("/").split("/")
    era = processed.split("-", 1)[0]
    per_block = -(-n_files // blocks)
    out_blocks = []
    lumi = {run: 0 for run in runs}
    for b in range(blocks):
        block_name = f"{dataset}#{zlib.crc32(f'{dataset}{b}'.encode()):08x}-{b:04d}"
        files = []
        for i in range(b * per_block, min(n_files, (b + 1) * per_block)):
            run = runs[(i * len(runs)) // max(n_files, 1)]
            lumis = []
            for _ in range(lumis_per_file):
                lumi[run] += 1
                lumis.append(lumi[run])
            events = sum(rng.randint(events_per_lumi // 2, events_per_lumi * 3 // 2) for _ in lumis)
            rest = processed.split("-", 1)[-1]
            lfn = f"/store/data/{era}/{primary}/{tier}/{rest}/{b:06d}/{i:08d}.root"
            replica_sites = rng.sample(list(sites), k=rng.randint(1, min(2, len(sites))))
            if i % 17 == 0:
                replica_sites.append("T1_IT_CNAF_Tape")
            files.append(
                {
                    "lfn": lfn,
                    "size": events * 250_000 + rng.randint(0, 10_000),
                    "events": events,
                    "adler32": f"{zlib.adler32(lfn.encode()):08x}",
                    "lumis": {str(run): lumis},
                    "replicas": sorted(replica_sites),
                }
            )
        out_blocks.append({"name": block_name, "files": files})
    return {"dataset": dataset, "blocks": out_blocks}
