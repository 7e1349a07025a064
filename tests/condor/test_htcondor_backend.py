"""HTCondorBackend against a fake htcondor2 module that checks the calls and answers with
realistic ClassAds (no HTCondor daemons can run here)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import classad2
import pytest

from wms2.condor.handles import JobState
from wms2.condor.htcondor import HTCondorBackend


class FakeSubmit(dict):
    from_dag_calls: list[tuple[str, dict, str]] = []

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self.text = text

    @classmethod
    def from_dag(cls, dag_file: str, options: dict) -> FakeSubmit:
        import os

        cls.from_dag_calls.append((dag_file, dict(options), os.getcwd()))
        sub = cls(f"dag {dag_file}")
        sub["arguments"] = f"-f -l . -Dag {dag_file}"
        return sub


class FakeSchedd:
    def __init__(self, location: Any = None) -> None:
        self.location = location
        self.jobs: dict[int, dict[str, Any]] = {}
        self.history_ads: dict[int, dict[str, Any]] = {}
        self.calls: list[tuple] = []
        self.next_cluster = 4101

    def submit(self, sub: FakeSubmit) -> SimpleNamespace:
        cluster = self.next_cluster
        self.next_cluster += 1
        self.calls.append(("submit", dict(sub)))
        self.jobs[cluster] = {
            "ClusterId": cluster,
            "JobStatus": 1,
            "JobUniverse": 7,
            "JobBatchName": sub.get("batch_name", ""),
            "Arguments": sub.get("arguments", ""),
            # MY.Attr = <ClassAd expression>, as condor_submit puts it in the job ad
            **{
                k[3:]: classad2.ExprTree(v).eval()
                for k, v in sub.items()
                if k.upper().startswith("MY.")
            },
        }
        return SimpleNamespace(cluster=lambda: cluster)

    def _match(self, constraint: str, ad: dict) -> bool:
        # The schedd's own evaluation: a ClassAd expression against the job ad.
        return classad2.ExprTree(constraint).eval(classad2.ClassAd(ad)) is True

    def query(self, constraint: str = "true", projection: list[str] | None = None) -> list[dict]:
        self.calls.append(("query", constraint, tuple(projection or [])))
        return [dict(ad) for ad in self.jobs.values() if self._match(constraint, ad)]

    def history(self, constraint: str, projection: list[str], match: int) -> list[dict]:
        self.calls.append(("history", constraint, match))
        return [dict(ad) for ad in self.history_ads.values() if self._match(constraint, ad)][:match]

    def edit(self, job_spec: str, attr: str, value: str) -> int:
        """Schedd.edit with a constraint: `value` is a ClassAd expression."""
        self.calls.append(("edit", job_spec, attr, value))
        matched = [ad for ad in self.jobs.values() if self._match(job_spec, ad)]
        for ad in matched:
            ad[attr] = classad2.ExprTree(value).eval()
        return len(matched)

    def act(self, action: str, job_spec: str, reason: tuple[str, int]) -> dict:
        self.calls.append(("act", action, job_spec, reason))
        if not job_spec.startswith("ClusterId == "):
            gone = [c for c, ad in self.jobs.items() if self._match(job_spec, ad)]
            for c in gone:
                self.history_ads[c] = {**self.jobs.pop(c), "JobStatus": 3}
            return {"TotalSuccess": len(gone), "TotalNotFound": 0}
        cluster = int(job_spec.split("==")[1])
        if cluster in self.jobs:
            ad = self.jobs.pop(cluster)
            self.history_ads[cluster] = {**ad, "JobStatus": 3, "RemoveReason": reason[0]}
            return {"TotalSuccess": 1, "TotalNotFound": 0}
        return {"TotalSuccess": 0, "TotalNotFound": 1}


def fake_module(schedd: FakeSchedd) -> SimpleNamespace:
    located: list[tuple] = []

    class Collector:
        def __init__(self, host: str | None = None) -> None:
            self.host = host

        def locate(self, daemon: str, name: str | None = None) -> dict:
            located.append((self.host, daemon, name))
            return {"MyAddress": "<127.0.0.1:9618>", "Name": name, "CondorVersion": "25.0"}

    return SimpleNamespace(
        Submit=FakeSubmit,
        Schedd=lambda location=None: schedd,
        Collector=Collector,
        DaemonType=SimpleNamespace(Schedd="Schedd"),
        JobAction=SimpleNamespace(Remove="Remove"),
        located=located,
    )


@pytest.fixture
def schedd() -> FakeSchedd:
    FakeSubmit.from_dag_calls.clear()
    return FakeSchedd()


def test_submit_query_remove_dag(tmp_path: Path, schedd: FakeSchedd) -> None:
    dag = tmp_path / "workflow.dag"
    dag.write_text("JOB a a.sub\n")
    module = fake_module(schedd)
    backend = HTCondorBackend(
        collector="cm.example:9618", schedd_name="schedd1.example", module=module
    )
    handle = backend.submit_dag(dag, batch_name="req_1")
    assert handle.cluster_id == "4101" and handle.schedd == "schedd1.example"
    dag_file, options, cwd = FakeSubmit.from_dag_calls[0]
    assert dag_file == str(dag) and options == {"batch-name": "req_1"} and cwd == str(tmp_path)
    assert module.located[-1] == ("cm.example:9618", "Schedd", "schedd1.example")

    # A retried submission finds the live DAGMan instead of submitting again.
    assert backend.submit_dag(dag, batch_name="req_1").cluster_id == "4101"
    assert len(FakeSubmit.from_dag_calls) == 1

    assert backend.query(handle).state is JobState.ALIVE
    assert backend.remove(handle)
    act = next(c for c in schedd.calls if c[0] == "act")
    assert act == ("act", "Remove", "ClusterId == 4101", ("removed by WMS2 (clean stop)", 0))
    status = backend.query(handle)  # gone from the queue: answered from history
    assert status.state is JobState.FINISHED and status.exit_code == 2
    assert not backend.remove(handle)


def test_resubmission_after_stop_uses_update_submit(tmp_path: Path, schedd: FakeSchedd) -> None:
    dag = tmp_path / "workflow.dag"
    dag.write_text("JOB a a.sub\n")
    (tmp_path / "workflow.dag.condor.sub").write_text("# written by the first submission\n")
    HTCondorBackend(module=fake_module(schedd)).submit_dag(dag, "req_1")
    assert FakeSubmit.from_dag_calls[0][1] == {"batch-name": "req_1", "update_submit": True}


def test_finished_jobs_and_unknown_clusters(tmp_path: Path, schedd: FakeSchedd) -> None:
    backend = HTCondorBackend(module=fake_module(schedd))
    sub = tmp_path / "pilot.sub"
    sub.write_text("executable = /bin/true\nqueue\n")
    job = backend.submit_job(sub, batch_name="req_1")
    submitted = next(c for c in schedd.calls if c[0] == "submit")[1]
    assert submitted["initialdir"] == str(tmp_path) and submitted["batch_name"] == "req_1"
    ad = schedd.jobs.pop(int(job.cluster_id))
    schedd.history_ads[int(job.cluster_id)] = {**ad, "JobStatus": 4, "ExitCode": 3}
    assert backend.query(job).exit_code == 3
    schedd.history_ads[int(job.cluster_id)] |= {"ExitBySignal": True, "ExitSignal": 9}
    assert backend.query(job).exit_code == -9
    missing = job.model_copy(update={"cluster_id": "1"})
    assert backend.query(missing).state is JobState.MISSING


def test_every_wms2_dag_in_one_query(tmp_path: Path, schedd: FakeSchedd) -> None:
    """The tracker's query: one Schedd.query for all WMS2 DAGMan jobs (by the attribute
    set at submission), one history call for those that left the queue."""
    backend = HTCondorBackend(module=fake_module(schedd))
    handles = []
    for name in ("req_a", "req_b"):
        dag = tmp_path / name / "workflow.dag"
        dag.parent.mkdir()
        dag.write_text("JOB a a.sub\n")
        handles.append(backend.submit_dag(dag, batch_name=name))
    assert schedd.jobs[4101]["WMS2Request"] == "req_a"
    schedd.jobs[4999] = {"ClusterId": 4999, "JobStatus": 2, "JobUniverse": 7}  # not ours
    backend.remove(handles[1])
    unknown = handles[0].model_copy(update={"cluster_id": "5000"})
    schedd.calls.clear()
    statuses = backend.query_many([*handles, unknown])
    assert statuses["4101"].state is JobState.ALIVE
    assert statuses["4102"].state is JobState.FINISHED and statuses["4102"].exit_code == 2
    assert statuses["5000"].state is JobState.MISSING
    assert [c[:2] for c in schedd.calls] == [
        ("query", "WMS2Request isnt undefined"),
        ("history", "ClusterId == 4102 || ClusterId == 5000"),
    ]


def test_ping(schedd: FakeSchedd) -> None:
    assert HTCondorBackend(module=fake_module(schedd)).ping()
    broken = fake_module(schedd)
    broken.Schedd = lambda location=None: (_ for _ in ()).throw(RuntimeError("no schedd"))
    assert not HTCondorBackend(module=broken).ping()


def node_job(cluster: int, request: str, sites: str, status: int = 1, prio: int = 0) -> dict:
    """A node job's ad as condor_submit makes it from WMS2's submit files."""
    return {
        "ClusterId": cluster, "ProcId": 0, "JobStatus": status, "JobUniverse": 5,
        "CMS_RequestName": request, "DESIRED_Sites": sites, "JobPrio": prio,
        "DAGManJobId": 4000,
    }  # fmt: skip


def test_idle_jobs_get_new_priority_and_sites(schedd: FakeSchedd) -> None:
    """A priority change and a banned site reach the idle node jobs: JobPrio edited with
    one constraint, DESIRED_Sites edited per distinct value, jobs left with no site
    removed (their node's retry re-elects); running jobs and other requests untouched."""
    schedd.jobs = {
        1: node_job(1, "req_a", "T2_CH_CERN,T2_DE_DESY"),
        2: node_job(2, "req_a", "T2_DE_DESY"),  # pinned to the banned site
        3: node_job(3, "req_a", "T2_DE_DESY", status=2),  # running: left alone
        4: node_job(4, "req_b", "T2_DE_DESY,T1_US_FNAL"),
        5: node_job(5, "req_b", "T1_US_FNAL"),
    }
    backend = HTCondorBackend(module=fake_module(schedd))
    edit = backend.edit_idle_jobs("req_a", priority=90000)
    assert (edit.edited, edit.removed) == (2, 0)
    assert [schedd.jobs[c]["JobPrio"] for c in (1, 2, 3, 4)] == [90000, 90000, 0, 0]
    assert schedd.calls[-1] == (
        "edit", 'JobStatus == 1 && CMS_RequestName == "req_a"', "JobPrio", "90000"
    )  # fmt: skip

    edit = backend.edit_idle_jobs(None, unavailable={"T2_DE_DESY"})
    assert (edit.edited, edit.removed) == (2, 1)
    assert schedd.jobs[1]["DESIRED_Sites"] == "T2_CH_CERN"
    assert schedd.jobs[4]["DESIRED_Sites"] == "T1_US_FNAL"
    assert 2 not in schedd.jobs and schedd.history_ads[2]["JobStatus"] == 3
    assert schedd.jobs[3]["DESIRED_Sites"] == "T2_DE_DESY"  # already running there
    removal = next(c for c in schedd.calls if c[0] == "act")
    assert removal[2].endswith('DESIRED_Sites == "T2_DE_DESY"')
