"""Simulated DAGs: the files a running DAGMan writes, without DAGMan or jobs.

For benchmarks and tests of tracking at thousands of DAGs, where running thousands of
runners is not the point. A `SimulatedDag` lays out a request's DAG directory as the
planner does (outer DAG of SUBDAG work units, group directories) and, when told, writes
what condor_dagman would: JOBSTATE_LOG lines at once, the outer and group node status
files (the outer one only as often as NODE_STATUS_FILE allows), merge reports, and at
the end DAGMan's exit. `SimulatedBackend` answers the tracker's scheduler queries from
those exit records.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from wms2.condor.handles import DagHandle, HeldJob, IdleEdit, JobHandle, JobState, JobStatus
from wms2.dagfiles.layout import GROUP_DAG, DagLayout
from wms2.dagman.jobstate import JobstateWriter
from wms2.dagman.records import DONE, NOT_READY, SUBMITTED, NodeRecord, write_status_file
from wms2.db import Repository
from wms2.models import DAG, DAGStatus, Request, SplittingAlgo, Workflow

EXIT_RECORD = "simulated.exit.json"


class SimulatedDag:
    def __init__(
        self,
        root: Path,
        request_name: str,
        work_units: int,
        nodes_per_unit: int = 4,
        status_interval: float = 30.0,
        dataset: str = "/Sim/Proc-v1/AODSIM",  # "": merge reports without outputs
    ) -> None:
        self.layout = DagLayout(root)
        self.request_name, self.dataset = request_name, dataset
        self.units = [f"mg_{i:06d}" for i in range(work_units)]
        self.nodes_per_unit, self.status_interval = nodes_per_unit, status_interval
        self.outer = {u: NodeRecord(u, SUBMITTED) for u in self.units}
        self.status_written = 0.0
        self.log = JobstateWriter(self.layout.jobstate_log)

    def create(self, cluster: int) -> Path:
        """The DAG directory as planned, and DAGMan's start."""
        lay = self.layout
        lay.root.mkdir(parents=True, exist_ok=True)
        lines = [
            f"NODE_STATUS_FILE {lay.status_file} {int(self.status_interval)}",
            f"JOBSTATE_LOG {lay.jobstate_log}",
        ]
        for unit in self.units:
            lines.append(f"SUBDAG EXTERNAL {unit} {GROUP_DAG} DIR {lay.group_dir(unit)}")
            lay.group_dir(unit).mkdir(exist_ok=True)
            self._group_status(unit, NOT_READY)
        lay.dag_file.write_text("\n".join(lines) + "\n")
        self.log.dagman_started(cluster)
        self.write_outer(force=True)
        return lay.dag_file

    def _group_status(self, unit: str, status: int) -> None:
        nodes = [NodeRecord(f"n{k}", status) for k in range(self.nodes_per_unit)]
        gdir = self.layout.group_dir(unit)
        write_status_file(gdir / f"{GROUP_DAG}.status", gdir / GROUP_DAG, 0, nodes, 1)

    def start_unit(self, unit: str) -> None:
        self._group_status(unit, SUBMITTED)

    def complete_unit(self, unit: str) -> None:
        """A work unit's merge is done: its report, its group's status, DAGMan's log line."""
        report = {
            "work_unit": unit,
            "site": "T2_CH_CERN",
            "nodes": self.nodes_per_unit,
            "outputs": [
                {
                    "dataset": self.dataset,
                    "lfn": f"/store/sim/{self.request_name}/{unit}.root",
                    "size": 1000,
                    "events": 100,
                    "adler32": "00000001",
                    "site": "T2_CH_CERN",
                }
            ]
            if self.dataset
            else [],
        }
        path = self.layout.merge_output(unit)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(report))
        os.replace(tmp, path)
        self._group_status(unit, DONE)
        self.outer[unit].status = DONE
        self.log.node(unit, "JOB_TERMINATED", "1.0")
        self.log.node(unit, "JOB_SUCCESS", "0")

    def write_outer(self, force: bool = False, final: bool = False) -> bool:
        """The outer status file, at most every `status_interval` unless forced."""
        now = time.time()
        if not force and not final and now - self.status_written < self.status_interval:
            return False
        write_status_file(
            self.layout.status_file,
            self.layout.dag_file,
            0,
            self.outer.values(),
            0 if final else int(now + self.status_interval),
        )
        self.status_written = now
        return True

    def finish(self, exit_code: int = 0) -> None:
        self.write_outer(final=True)
        self.log.dagman_finished(exit_code)
        record = self.layout.root / EXIT_RECORD
        record.write_text(json.dumps({"exit_code": exit_code}))


def record_simulated_dag(repo: Repository, sim: SimulatedDag, cluster: int) -> DAG:
    """The request, workflow and submitted DAG rows a worker has after submission."""
    name = sim.request_name
    algo = SplittingAlgo.EVENT_BASED
    repo.upsert_request(
        Request(
            request_name=name,
            requestor="simulation",
            cmssw_version="CMSSW_14_0_0",
            scram_arch="el9_amd64_gcc12",
            splitting_algo=algo,
        )
    )
    wf = repo.upsert_workflow(Workflow(request_name=name, splitting_algo=algo))
    dag = repo.upsert_dag(
        DAG(
            workflow_id=wf.id,
            attempt=1,
            dag_file_path=str(sim.layout.dag_file),
            submit_dir=str(sim.layout.root),
            total_nodes=len(sim.units) * sim.nodes_per_unit,
            total_work_units=len(sim.units),
            dagman_cluster_id=str(cluster),
            schedd_name="simulated",
            status=DAGStatus.SUBMITTED,
        )
    )
    repo.update_workflow(wf.id, dag_id=dag.id)
    return dag


class SimulatedBackend:
    """Answers for simulated DAGs: alive until their exit record exists."""

    name = "simulated"

    def __init__(self) -> None:
        self.queries = 0

    def _status(self, dag_file: str) -> JobStatus:
        record = Path(dag_file).parent / EXIT_RECORD
        try:
            code = json.loads(record.read_text())["exit_code"]
        except FileNotFoundError:
            return JobStatus(state=JobState.ALIVE)
        return JobStatus(state=JobState.FINISHED, exit_code=code)

    def query(self, handle: DagHandle | JobHandle) -> JobStatus:
        self.queries += 1
        return self._status(handle.dag_file if isinstance(handle, DagHandle) else "")

    def query_many(self, handles: list[DagHandle]) -> dict[str, JobStatus]:
        self.queries += 1
        return {h.cluster_id: self._status(h.dag_file) for h in handles}

    def submit_dag(self, dag_file: Path, batch_name: str = "") -> DagHandle:
        raise NotImplementedError("simulated DAGs are created by SimulatedDag")

    def submit_job(self, submit_file: Path, batch_name: str = "") -> JobHandle:
        raise NotImplementedError("simulated backends run no jobs")

    def find_dag(self, dag_file: Path) -> DagHandle | None:
        return None

    def remove(self, handle: DagHandle | JobHandle) -> bool:
        if isinstance(handle, DagHandle):
            record = Path(handle.dag_file).parent / EXIT_RECORD
            if not record.exists():
                record.write_text(json.dumps({"exit_code": 2}))
                return True
        return False

    def ping(self) -> bool:
        return True

    def reap_orphans(self, handle: DagHandle | JobHandle) -> int:
        return 0

    def edit_idle_jobs(
        self,
        request_name: str | None,
        priority: int | None = None,
        unavailable: set[str] | None = None,
        landings_only: bool = False,
    ) -> IdleEdit:
        return IdleEdit()  # simulated DAGs have counts, not jobs

    def memory_held_jobs(self, request_names: set[str]) -> list[HeldJob]:
        return []  # nor held jobs

    def release_with_memory(self, job_ids: list[str], memory_mb: int) -> int:
        return 0
