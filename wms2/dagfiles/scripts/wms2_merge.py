#!/usr/bin/env python3
"""Merge node: merges a group's unmerged outputs into one file per output dataset, at the
dataset's CMS LFN below the output storage directory, and writes merge_output.json
(dataset, site, LFN, size, events, adler32) for WMS2 to pick up.

Arguments: --manifest group_manifest.json [--elected-site elected_site]
Exit codes: 0 ok, 74 storage I/O error (site problem), 65 missing unmerged input
(permanent: the processing outputs are gone, retrying the merge cannot help).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zlib
from pathlib import Path

MISSING_INPUT = 65  # EX_DATAERR
IO_ERROR = 74  # EX_IOERR


def merge_one(inputs: list[Path], dest: Path) -> tuple[int, str]:
    """Concatenate `inputs` into `dest` atomically; returns (size, adler32 hex)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".{os.getpid()}.part")
    checksum, size = 1, 0
    with open(tmp, "wb") as out:
        for path in inputs:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    out.write(chunk)
                    checksum = zlib.adler32(chunk, checksum)
                    size += len(chunk)
    os.replace(tmp, dest)
    return size, f"{checksum & 0xFFFFFFFF:08x}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--elected-site", type=Path, default=Path("elected_site"))
    args = p.parse_args(argv)
    manifest = json.loads(args.manifest.read_text())
    site = args.elected_site.read_text().strip() if args.elected_site.exists() else "unknown"
    nodes = sorted(manifest["nodes"])
    outputs = []
    for i, out in enumerate(manifest["outputs"]):
        inputs = [Path("unmerged") / f"{n}.out{i}.root" for n in nodes]
        missing = [str(x) for x in inputs if not x.exists()]
        if missing:
            print(
                f"ERROR: {len(missing)} unmerged inputs missing, e.g. {missing[0]}", file=sys.stderr
            )
            return MISSING_INPUT
        events = sum(
            json.loads((Path("unmerged") / f"{n}.out{i}.json").read_text())["events"] for n in nodes
        )
        pfn = Path(manifest["output_dir"]) / out["lfn"].lstrip("/")
        try:
            size, adler = merge_one(inputs, pfn)
        except OSError as e:
            print(f"ERROR: writing {pfn}: {e}", file=sys.stderr)
            return IO_ERROR
        outputs.append(
            {
                "dataset": out["dataset"],
                "lfn": out["lfn"],
                "pfn": str(pfn),
                "site": site,
                "size": size,
                "events": events,
                "adler32": adler,
            }
        )
    report = {"work_unit": manifest["group"], "site": site, "nodes": len(nodes), "outputs": outputs}
    Path("merge_output.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
