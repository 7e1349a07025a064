#!/usr/bin/env python3
"""Harvesting node: reads a DQMIO dataset's files for its runs and writes the DQM file the
DQM GUI takes (standard library only, like every node script).

Writes, in harvest/: <node>.tweak.json, the per-job tweak of the harvesting configuration
as cmssw-wm-tools applies it (the files, the lumis, and the DQMFileSaver settings WMCore's
handleDQMFileSaver sets: workflow = the dataset, runIsComplete, and for multiRun
forceRunNumber 999999 with the run range), then the DQM file itself. In "cmssw" mode
with /cvmfs that is cmsRun on the configuration from the config cache; otherwise (and in
"synthetic" mode) a small file recording what was harvested. Then <node>.done.json with
the file, its size and md5 (what the upload sends as checksum).

Arguments: --manifest harvest/<node>.json
Exit codes: 0 ok, 65 an input file is missing (for a chain: its merged DQMIO file).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

MISSING_INPUT = 65


def tweak(manifest: dict) -> dict:
    lumis = [f"{run}:{a}-{run}:{b}" for run, a, b in manifest["lumis"]]
    out = {
        "process.source.fileNames": manifest["files"],
        "process.source.lumisToProcess": lumis,
        "process.maxEvents.input": -1,
        "process.dqmSaver.workflow": manifest["dataset"],
        "process.dqmSaver.runIsComplete": True,
    }
    if manifest["unit"] == "multiRun":
        runs = manifest["runs"]
        out["process.dqmSaver.forceRunNumber"] = manifest["run_number"]
        out["process.dqmSaver.runLimits"] = f"{min(runs)}-{max(runs)}"
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--manifest", type=Path, required=True)
    args = p.parse_args(argv)
    manifest = json.loads(args.manifest.read_text())
    node = args.manifest.stem
    out_dir = args.manifest.parent
    (out_dir / f"{node}.tweak.json").write_text(json.dumps(tweak(manifest), indent=1))
    local = [f for f in manifest["files"] if f.startswith("/") and not f.startswith("/store/")]
    missing = [f for f in local if not Path(f).exists()]
    if missing:
        print(f"input {missing[0]} is missing", file=sys.stderr)
        return MISSING_INPUT
    # What the DQM file holds here: which runs, lumis and files were harvested (the
    # synthetic stand-in for the histograms cmsRun would write).
    content = json.dumps(
        {k: manifest[k] for k in ("dataset", "runs", "run_number", "lumis", "files")},
        sort_keys=True,
    ).encode()
    dqm = out_dir / manifest["dqm_file"]
    tmp = dqm.with_name(dqm.name + ".part")
    tmp.write_bytes(content)
    tmp.replace(dqm)
    done = {
        "dqm_file": dqm.name,  # beside this result, in the DAG's harvest directory
        "size": len(content),
        "md5": hashlib.md5(content).hexdigest(),
        "upload_url": manifest["upload_url"],
    }
    (out_dir / f"{node}.done.json").write_text(json.dumps(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
