"""Harvesting jobs: which runs, files and lumis each one reads (WMCore's Harvest job
splitting: one job per run with DQMHarvestUnit byRun, one over every run with multiRun).

Pure functions from the planned input (files and their kept lumis, after the run/lumi
selection) to HarvestJob, numbered in run order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MULTI_RUN_NUMBER = 999999  # the run number of a multiRun DQM file (dqmSaver.forceRunNumber)


@dataclass
class HarvestJob:
    name: str  # the DAG node: harvest_R<run> or harvest_multirun
    runs: list[int]
    files: list[str]
    lumis: list[list[int]] = field(default_factory=list)  # [[run, first, last]]

    @property
    def run_number(self) -> int:
        return self.runs[0] if len(self.runs) == 1 else MULTI_RUN_NUMBER


def _ranges(run: int, by_file: dict[str, list[int]]) -> list[list[int]]:
    lumis = [lumi for file_lumis in by_file.values() for lumi in file_lumis]
    out: list[list[int]] = []
    for lumi in sorted(set(lumis)):
        if out and out[-1][2] + 1 == lumi:
            out[-1][2] = lumi
        else:
            out.append([run, lumi, lumi])
    return out


def harvest_jobs(lumis: dict[str, list[tuple[int, int]]], unit: str) -> list[HarvestJob]:
    """`lumis`: file -> its kept (run, lumi); files without a kept lumi are not read."""
    by_run: dict[int, dict[str, list[int]]] = {}
    for lfn, pairs in lumis.items():
        for run, lumi in pairs:
            by_run.setdefault(run, {}).setdefault(lfn, []).append(lumi)
    if not by_run:
        return []
    if unit == "multiRun":
        runs = sorted(by_run)
        files = sorted({lfn for run in runs for lfn in by_run[run]})
        ranges = [r for run in runs for r in _ranges(run, by_run[run])]
        return [HarvestJob("harvest_multirun", runs, files, ranges)]
    return [
        HarvestJob(
            f"harvest_R{run:09d}",
            [run],
            sorted(by_run[run]),
            _ranges(run, by_run[run]),
        )
        for run in sorted(by_run)
    ]


def dqm_file_name(dataset: str, run_number: int) -> str:
    """The DQM GUI's file name for a dataset and run (DQMFileSaver's convention):
    DQM_V0001_R<run 9 digits>__<primary>__<processed>__<tier>.root"""
    _, primary, processed, tier = dataset.split("/")
    return f"DQM_V0001_R{run_number:09d}__{primary}__{processed}__{tier}.root"
