"""HTCondorBackend: the same protocol on a real pool through the htcondor2 bindings.

Blocking binding calls are plain methods here; activities run them in their thread pool.
The DAGMan job's batch name is the request name, so a live DAGMan for a DAG can be found
again after a worker restart (idempotent submission).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

from wms2.capacity import SCHEDD_KNOBS, ScheddLimits, parse_knob
from wms2.condor.handles import DagHandle, HeldJob, IdleEdit, JobHandle, JobState, JobStatus
from wms2.memory.policy import (
    HOLD_OUT_OF_RESOURCES,
    MAX_MEMORY_ATTR,
    POLICY_HOLD_CODES,
    is_memory_hold,
)

# JobStatus codes of the schedd
IDLE, RUNNING, REMOVED, COMPLETED, HELD = 1, 2, 3, 4, 5
PROJECTION = [
    "ClusterId",
    "JobStatus",
    "ExitCode",
    "ExitBySignal",
    "ExitSignal",
    "JobBatchName",
    "DAGManJobId",
    "UserLog",
    "HoldReason",
    "RemoveReason",
]


WMS2_DAG_ATTR = "WMS2Request"  # set on every DAGMan job WMS2 submits: the request's name

# Held node jobs WMS2 may release with more memory (their submit description gave a
# maximum they are below), held for memory: the schedd narrows it down, is_memory_hold
# decides (policy holds count only with MemoryUsage above the request).
MEMORY_HELD = (
    f"JobStatus == {HELD} && CMS_RequestName isnt undefined"
    f" && {MAX_MEMORY_ATTR} isnt undefined && RequestMemory < {MAX_MEMORY_ATTR}"
    f" && (HoldReasonCode == {HOLD_OUT_OF_RESOURCES}"
    f" || member(HoldReasonCode, {{{', '.join(map(str, sorted(POLICY_HOLD_CODES)))}}}))"
)
MEMORY_PROJECTION = [
    "ClusterId",
    "ProcId",
    "CMS_RequestName",
    "DAGNodeName",
    "RequestMemory",
    MAX_MEMORY_ATTR,
    "HoldReasonCode",
    "HoldReasonSubCode",
    "HoldReason",
    "MemoryUsage",
    "ResidentSetSize",  # MemoryUsage is an expression of it
]


def _quoted(text: str) -> str:
    """A ClassAd string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class HTCondorBackend:
    name = "htcondor"

    def __init__(
        self,
        collector: str | None = None,
        schedd_name: str | None = None,
        dagman: str | None = None,
        module: ModuleType | None = None,
    ) -> None:
        if module is None:
            os.environ.setdefault("CONDOR_CONFIG", "/dev/null")
            import htcondor2 as module  # type: ignore[no-redef]
        self.htcondor = module
        self.collector, self.schedd_name, self.dagman = collector, schedd_name, dagman

    def _schedd(self) -> Any:
        h = self.htcondor
        if self.collector is None and self.schedd_name is None:
            return h.Schedd()
        coll = h.Collector(self.collector) if self.collector else h.Collector()
        ad = (
            coll.locate(h.DaemonType.Schedd, self.schedd_name)
            if self.schedd_name
            else coll.locate(h.DaemonType.Schedd)
        )
        return h.Schedd(ad)

    def _schedd_label(self) -> str:
        return self.schedd_name or "local"

    def read_limits(self) -> ScheddLimits:
        """What the schedd's configuration sets of the knobs WMS2 plans by
        (wms2.capacity.SCHEDD_KNOBS): the local configuration for the local schedd, the
        remote one (RemoteParam) for a named one. Unset or unreadable: None each."""
        h = self.htcondor
        try:
            if self.schedd_name is None:
                config: Any = h.param
            else:
                coll = h.Collector(self.collector) if self.collector else h.Collector()
                config = h.RemoteParam(coll.locate(h.DaemonType.Schedd, self.schedd_name))
            values = {field: parse_knob(config.get(knob)) for knob, field in SCHEDD_KNOBS.items()}
        except Exception:  # an unreachable schedd: the settings and defaults decide
            return ScheddLimits()
        return ScheddLimits(**values)

    def ping(self) -> bool:
        try:
            self._schedd().query(constraint="false", projection=["ClusterId"])
        except Exception:  # any failure to reach the schedd means: not reachable
            return False
        return True

    def find_dag(self, dag_file: Path, batch_name: str = "") -> DagHandle | None:
        dag_file = Path(dag_file).resolve()
        # The DAGMan job runs in the scheduler universe (7) with the DAG as its argument.
        constraint = (
            f'JobUniverse == 7 && JobBatchName == "{batch_name}"'
            if batch_name
            else "JobUniverse == 7"
        )
        for ad in self._schedd().query(
            constraint=constraint, projection=[*PROJECTION, "Args", "Arguments"]
        ):
            args = str(ad.get("Arguments", "")) + " " + str(ad.get("Args", ""))
            if str(dag_file) in args and ad.get("JobStatus") in (IDLE, RUNNING, HELD):
                return DagHandle(
                    backend=self.name,
                    cluster_id=str(ad["ClusterId"]),
                    schedd=self._schedd_label(),
                    dag_file=str(dag_file),
                    batch_name=batch_name,
                )
        return None

    def submit_dag(self, dag_file: Path, batch_name: str = "") -> DagHandle:
        dag_file = Path(dag_file).resolve()
        live = self.find_dag(dag_file, batch_name)
        if live is not None:
            return live
        options: dict[str, Any] = {"batch-name": batch_name} if batch_name else {}
        if self.dagman:
            options["dagman"] = self.dagman
        # update_submit: a resubmission after a stop reuses the .condor.sub and DAGMan
        # picks up the newest rescue DAG by itself.
        if dag_file.with_name(dag_file.name + ".condor.sub").exists():
            options["update_submit"] = True
        cwd = os.getcwd()
        try:
            os.chdir(dag_file.parent)  # from_dag resolves relative paths against the cwd
            submit = self.htcondor.Submit.from_dag(str(dag_file), options)
        finally:
            os.chdir(cwd)
        if batch_name:
            submit["batch_name"] = batch_name  # find_dag relies on JobBatchName
        # Every WMS2 DAGMan job carries this attribute: the tracker finds all of them
        # with one query per schedd.
        submit[f"MY.{WMS2_DAG_ATTR}"] = f'"{batch_name or dag_file.parent.name}"'
        result = self._schedd().submit(submit)
        return DagHandle(
            backend=self.name,
            cluster_id=str(result.cluster()),
            schedd=self._schedd_label(),
            dag_file=str(dag_file),
            batch_name=batch_name,
        )

    def submit_job(self, submit_file: Path, batch_name: str = "") -> JobHandle:
        submit_file = Path(submit_file).resolve()
        submit = self.htcondor.Submit(submit_file.read_text())
        submit["initialdir"] = str(submit_file.parent)
        if batch_name:
            submit["batch_name"] = batch_name
        result = self._schedd().submit(submit)
        return JobHandle(
            backend=self.name,
            cluster_id=str(result.cluster()),
            schedd=self._schedd_label(),
            submit_file=str(submit_file),
        )

    def query(self, handle: DagHandle | JobHandle) -> JobStatus:
        schedd = self._schedd()
        constraint = f"ClusterId == {int(handle.cluster_id)}"
        ads = schedd.query(constraint=constraint, projection=PROJECTION)
        if ads:
            return self._status(ads[0])
        history = list(schedd.history(constraint, PROJECTION, 1))
        if not history:
            return JobStatus(
                state=JobState.MISSING, detail=f"cluster {handle.cluster_id} is unknown"
            )
        return self._status(history[0])

    def query_many(self, handles: list[DagHandle]) -> dict[str, JobStatus]:
        """All WMS2 DAGMan jobs of the schedd in one query (by the attribute set at
        submission); the history only for the ones that left the queue, in one call."""
        if not handles:
            return {}
        schedd = self._schedd()
        queue = {
            str(ad["ClusterId"]): ad
            for ad in schedd.query(
                constraint=f"{WMS2_DAG_ATTR} isnt undefined", projection=PROJECTION
            )
        }
        out = {
            h.cluster_id: self._status(queue[h.cluster_id])
            for h in handles
            if h.cluster_id in queue
        }
        gone = [h.cluster_id for h in handles if h.cluster_id not in queue]
        if gone:
            constraint = " || ".join(f"ClusterId == {int(c)}" for c in gone)
            for ad in schedd.history(constraint, PROJECTION, len(gone)):
                out.setdefault(str(ad["ClusterId"]), self._status(ad))
        for cluster in gone:
            out.setdefault(
                cluster, JobStatus(state=JobState.MISSING, detail=f"cluster {cluster} is unknown")
            )
        return out

    @staticmethod
    def _status(ad: Any) -> JobStatus:
        if ad.get("JobStatus") in (IDLE, RUNNING, HELD):
            detail = str(ad.get("HoldReason", "")) if ad.get("JobStatus") == HELD else ""
            return JobStatus(state=JobState.ALIVE, detail=detail)
        if ad.get("JobStatus") == REMOVED:
            return JobStatus(
                state=JobState.FINISHED, exit_code=2, detail=str(ad.get("RemoveReason", "removed"))
            )
        if ad.get("ExitBySignal"):
            return JobStatus(state=JobState.FINISHED, exit_code=-int(ad.get("ExitSignal", 0)))
        return JobStatus(state=JobState.FINISHED, exit_code=int(ad.get("ExitCode", 0)))

    def reap_orphans(self, handle: DagHandle | JobHandle) -> int:
        """A DAGMan job that vanished from queue and history: remove the node jobs it
        submitted (they carry its cluster as DAGManJobId)."""
        result = self._schedd().act(
            self.htcondor.JobAction.Remove,
            f"DAGManJobId == {int(handle.cluster_id)}",
            ("removed by WMS2: their DAGMan was lost", 0),
        )
        return int(result.get("TotalSuccess", 0))

    def edit_idle_jobs(
        self,
        request_name: str | None,
        priority: int | None = None,
        unavailable: set[str] | None = None,
        landings_only: bool = False,
    ) -> IdleEdit:
        """condor_qedit through the bindings. Node jobs carry +CMS_RequestName (every WMS2
        submit file sets it), so one constraint finds a request's idle jobs in all its
        SUBDAGs. DESIRED_Sites differs per work unit: one edit per distinct value; jobs
        left with no site are removed, and the node's RETRY runs its PRE script again,
        which re-elects."""
        schedd = self._schedd()
        idle = f"JobStatus == {IDLE} && CMS_RequestName isnt undefined"
        if request_name is not None:
            idle = f"JobStatus == {IDLE} && CMS_RequestName == {_quoted(request_name)}"
        out = IdleEdit()
        if priority is not None:
            out.edited += int(schedd.edit(idle, "JobPrio", str(int(priority))))
        if landings_only:
            idle += " && WMS2_LandingNode =?= true"
        if unavailable:
            values = {
                str(ad["DESIRED_Sites"])
                for ad in schedd.query(
                    constraint=f"{idle} && DESIRED_Sites isnt undefined",
                    projection=["ClusterId", "ProcId", "DESIRED_Sites"],
                )
            }
            for value in sorted(values):
                sites = [x.strip() for x in value.split(",") if x.strip()]
                left = [x for x in sites if x not in unavailable]
                if left == sites:
                    continue
                these = f"{idle} && DESIRED_Sites == {_quoted(value)}"
                if left:
                    out.edited += int(schedd.edit(these, "DESIRED_Sites", _quoted(",".join(left))))
                else:
                    result = schedd.act(
                        self.htcondor.JobAction.Remove,
                        these,
                        ("removed by WMS2: none of its DESIRED_Sites may run it", 0),
                    )
                    out.removed += int(result.get("TotalSuccess", 0))
        return out

    def memory_held_jobs(self, request_names: set[str]) -> list[HeldJob]:
        """One query for every WMS2 job held for memory on the schedd (few, whatever the
        number of requests), kept for `request_names`."""
        out = []
        for ad in self._schedd().query(constraint=MEMORY_HELD, projection=MEMORY_PROJECTION):
            request = str(ad.get("CMS_RequestName", ""))
            code, subcode = (
                int(_number(ad, "HoldReasonCode") or 0),
                int(_number(ad, "HoldReasonSubCode") or 0),
            )
            usage, memory = _number(ad, "MemoryUsage"), int(_number(ad, "RequestMemory") or 0)
            if request not in request_names or not is_memory_hold(code, subcode, usage, memory):
                continue
            out.append(
                HeldJob(
                    job_id=f"{ad['ClusterId']}.{ad.get('ProcId', 0)}",
                    request_name=request,
                    node=str(ad.get("DAGNodeName", "")),
                    request_mb=memory,
                    max_mb=int(_number(ad, MAX_MEMORY_ATTR) or 0),
                    hold_code=code,
                    hold_subcode=subcode,
                    reason=str(ad.get("HoldReason", "")),
                    usage_mb=usage,
                )
            )
        return out

    def release_with_memory(self, job_ids: list[str], memory_mb: int) -> int:
        """condor_qedit RequestMemory, then condor_release, of exactly these jobs (a list
        of ids, so a job held after the query is left for the next look)."""
        if not job_ids:
            return 0
        schedd = self._schedd()
        schedd.edit(list(job_ids), "RequestMemory", str(int(memory_mb)))
        result = schedd.act(
            self.htcondor.JobAction.Release,
            list(job_ids),
            (f"released by WMS2 with RequestMemory {int(memory_mb)}", 0),
        )
        return int(result.get("TotalSuccess", 0))

    def remove(self, handle: DagHandle | JobHandle) -> bool:
        result = self._schedd().act(
            self.htcondor.JobAction.Remove,
            f"ClusterId == {int(handle.cluster_id)}",
            ("removed by WMS2 (clean stop)", 0),
        )
        return int(result.get("TotalSuccess", 0)) > 0


def _number(ad: Any, attr: str) -> float | None:
    """A numeric attribute, evaluated in the ad when it is an expression (MemoryUsage)."""
    value = ad.get(attr)
    if value is not None and not isinstance(value, int | float) and hasattr(ad, "eval"):
        value = ad.eval(attr)
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
