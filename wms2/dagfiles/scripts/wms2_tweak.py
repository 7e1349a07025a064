#!/usr/bin/env python3
"""Per-job tweaks of each step's CMSSW configuration, and the commands that apply them.

Runs on the worker node beside wms2_payload.py (standard library only). The tweak file is
the JSON that cmssw-wm-tools' `edm_pset_tweak.py --json` applies to a pickled
configuration: `{"process.<path>": value}`. One file per step:

- the first step reads the job's input files (with their parents as secondary files when
  the request asked for them), its lumi mask (`run:lumi-run:lumi` ranges, as WMCore's
  makeJobTweak writes them), or, for generation, its first event and lumi and its events;
- a later step reads the output module of the step it follows (InputFromOutputModule);
- a step with pileup mixes the pileup files (premix: `mixData`, classic mixing: `mix`);
  with DeterministicPileup it reads them in the manifest's order (`sequential`), skipping
  the events of the jobs before it (`skipEvents`, the node's pileup_skip modulo the
  pileup's events), as cmssw-wm-tools' cmssw_handle_pileup.py does for WMCore;
- LheInputFiles: a generation job reads LHE events, so it skips FirstEvent - 1 of them
  (`process.source.skipEvents`) instead of numbering from `firstEvent`, and reads
  lazily (cmssw_enable_lazy_download.py), as WMCore's makeJobTweak and handleLHEInput;
- every step gets its threads and streams.

The configuration itself is the step's real one, fetched from ReqMgr2's config cache
(ConfigCacheID) and pickled with cmssw-wm-tools' `edm_pset_pickler.py`.
"""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path
from typing import Any

CMSSET = "/cvmfs/cms.cern.ch/cmsset_default.sh"
PSET_LOADER = "import pickle\nwith open('PSet.pkl', 'rb') as f:\n    process = pickle.load(f)\n"


def _lumi_ranges(lumis: list[list[int]]) -> list[str]:
    """[[run, first, last]] -> ["run:first-run:last"] (CMSSW's lumisToProcess)."""
    return [f"{run}:{first}-{run}:{last}" for run, first, last in lumis]


def _first_step(node: dict[str, Any], lhe: bool = False) -> dict[str, Any]:
    if node.get("files"):
        tweak: dict[str, Any] = {"process.source.fileNames": list(node["files"])}
        if node.get("parents"):
            tweak["process.source.secondaryFileNames"] = list(node["parents"])
        if node.get("first_event") is not None:  # EventBased: a slice of one file
            tweak["process.source.skipEvents"] = node["first_event"] - 1
            tweak["process.maxEvents.input"] = node["events"]
        else:
            tweak["process.maxEvents.input"] = -1
            if node.get("lumis"):
                tweak["process.source.lumisToProcess"] = _lumi_ranges(node["lumis"])
        return tweak
    lumis = node.get("lumis") or [[1, 1, 1]]
    n_lumis = sum(last - first + 1 for _, first, last in lumis)
    first_event = node.get("first_event") or 1
    # WMCore makeJobTweak: an LHE job gets no firstEvent but skips the LHE events of the
    # jobs before it (the mask's FirstEvent - 1).
    numbering = (
        {"process.source.skipEvents": first_event - 1}
        if lhe
        else {"process.source.firstEvent": first_event}
    )
    return {
        "process.maxEvents.input": node["events"],
        "process.source.firstRun": lumis[0][0],
        "process.source.firstLuminosityBlock": lumis[0][1],
        **numbering,
        "process.source.numberEventsInLuminosityBlock": math.ceil(node["events"] / n_lumis),
    }


def job_tweaks(manifest: dict[str, Any], node: dict[str, Any]) -> list[dict[str, Any]]:
    """One tweak per step of the sandbox manifest, for the job described by `node` (its
    entry in the group manifest)."""
    pileup = {p["step"]: p for p in manifest.get("pileup", [])}
    index = {s["name"]: i for i, s in enumerate(manifest["steps"])}
    tweaks = []
    for i, step in enumerate(manifest["steps"]):
        if i == 0:
            tweak = _first_step(node, bool(manifest.get("lhe_input_files")))
        else:
            parent = index.get(step.get("input_step") or "", i - 1)
            module = step.get("input_module") or "output"
            tweak = {
                "process.source.fileNames": [f"file:../step{parent + 1}/{module}.root"],
                "process.maxEvents.input": -1,
            }
        if step["name"] in pileup:
            p = pileup[step["name"]]
            mixer = "mixData" if p["dataset"].endswith("/PREMIX") else "mix"
            tweak[f"process.{mixer}.input.fileNames"] = list(p["files"])
            if node.get("pileup_skip") is not None:  # DeterministicPileup
                skip = node["pileup_skip"]
                tweak[f"process.{mixer}.input.skipEvents"] = (
                    skip % p["events"] if p.get("events") else skip
                )
                tweak[f"process.{mixer}.input.sequential"] = True
        tweak["process.options.numberOfThreads"] = step.get("cores") or manifest.get("cores", 1)
        if step.get("event_streams"):
            tweak["process.options.numberOfStreams"] = step["event_streams"]
        tweaks.append(tweak)
    return tweaks


def step_script(manifest: dict[str, Any], node_name: str) -> str:
    """The bash script that runs every step of the job with its tweak file."""
    q = shlex.quote
    lines = ["#!/bin/bash", "set -euo pipefail", f"source {CMSSET}", "top=$PWD"]
    for i, step in enumerate(manifest["steps"], start=1):
        release, arch = step["cmssw_version"], step["scram_arch"]
        lines += [
            f"# step {i}: {step['name']}",
            f"export SCRAM_ARCH={q(arch)}",
            f"[ -d {q(release)} ] || scram project {q(release)}",
            f'(cd {q(release)}/src && eval "$(scram runtime -sh)" && cd "$top" && '
            f"mkdir -p step{i} && cd step{i} && "
            + (
                f'curl -sSf --cert "$X509_USER_PROXY" --key "$X509_USER_PROXY" '
                f"-o cfg.py {q(step['config_url'])} && "
                if step.get("config_url")
                else f"cp ../sandbox/{q(step['config_file'])} cfg.py && "
            )
            + "edm_pset_pickler.py --input cfg.py --output_pkl PSet.pkl && "
            + (
                "cmssw_enable_lazy_download.py --input_pkl PSet.pkl --output_pkl PSet.pkl && "
                if i == 1 and manifest.get("lhe_input_files")
                else ""
            )
            + f"edm_pset_tweak.py --input_pkl PSet.pkl --output_pkl PSet.pkl "
            f"--json ../tweak_step{i}.json && "
            f"printf %s {q(PSET_LOADER)} > PSet.py && "
            f"cmsRun -j ../{q(node_name)}.step{i}.fjr.xml PSet.py)",
        ]
    return "\n".join(lines) + "\n"


def write_job_files(manifest: dict[str, Any], node_name: str, node: dict[str, Any]) -> Path:
    """tweak_step<i>.json and <node>.cmssw.sh in the working directory; returns the script."""
    for i, tweak in enumerate(job_tweaks(manifest, node), start=1):
        Path(f"tweak_step{i}.json").write_text(json.dumps(tweak, indent=1, sort_keys=True))
    script = Path(f"{node_name}.cmssw.sh")
    script.write_text(step_script(manifest, node_name))
    script.chmod(0o755)
    return script
