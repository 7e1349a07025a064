"""A scripted outside world for workflow tests: every activity that touches ReqMgr2, the
scheduler or the database is replaced by a fake registered under the same name."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.admission import ended_requests
from tests.workflows.fake_outputs import FakeDataServices
from wms2.condor.handles import DagHandle, IdleEdit, JobHandle, JobState, JobStatus
from wms2.failures.model import FailureGroup, FailureReport
from wms2.lifecycle.decisions import next_version_name
from wms2.messages import (
    ADMISSION_WORKFLOW_ID,
    Activity,
    AdmissionEntry,
    AdmissionInput,
    AwaitJobInput,
    AwaitJobResult,
    CompletedWorkUnit,
    DagExit,
    DagProgress,
    EnqueueInput,
    FailureReportInput,
    ImportInput,
    ImportResult,
    MonitorInput,
    MonitorResult,
    PilotInput,
    PlanInput,
    PlanResult,
    PollStagingInput,
    RemoveInput,
    ReprioritizeInput,
    RequestUpdate,
    StageInput,
    StagingRule,
    SubmitDagInput,
    TransitionInput,
    VersionInput,
    WorkUnitOutput,
)
from wms2.models import CleanupPolicy, PilotMetrics, ProductionStep
from wms2.outputs.messages import DqmUpload, DqmUploadInput, DqmUploadResult, OutputUnit

METRICS = PilotMetrics(
    time_per_event_sec=2.0,
    memory_peak_mb=1500,
    output_size_per_event_kb=100.0,
    cpu_efficiency=0.9,
    events_processed=70,
    recommended_events_per_job=1000,
    recommended_memory_mb=2000,
    recommended_time_per_job_sec=2000,
)


async def quiet_window(seconds: float) -> None:
    """A monitoring window in which nothing changes, spent as the real activities spend
    it: heartbeating, so that a cancellation (stop, abort) ends it at once."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        activity.heartbeat()
        await asyncio.sleep(0.05)


@dataclass
class RequestScript:
    priority: int = 100000
    urgent: bool = False
    production_steps: list[ProductionStep] = field(default_factory=list)
    work_units: int = 4
    per_poll: int = 1  # work units completing per monitor call
    nodes_per_unit: int = 5
    fail_nodes: int = 0  # nodes that fail in the DAG's first run
    import_error: str | None = None
    import_error_type: str = "RequestImportError"
    pilot_exit: int = 0
    monitor_forever: bool = False  # the DAG never progresses (stuck tests)
    hang: str | None = None  # an activity name that hangs (stuck tests)
    backend_reachable: bool = True
    pilot_missing: bool = False
    removal_needs: int = 1  # removals before DAGMan exits (stuck STOPPING)
    hold_at: int | None = None  # the first DAG attempt stalls after this many work units
    pause_at: int | None = None  # every attempt stalls here until a test clears it
    finish_during_stop: bool = False  # DAGMan completes the DAG as the removal arrives
    lose_dagman_at: int | None = None  # the first attempt's DAGMan vanishes here
    unreported: dict[str, str] = field(default_factory=dict)  # at the DAG's end
    tape_rule_states: list[str] | None = None  # input on tape: the staging rule's polls
    datasets: list[str] = field(default_factory=lambda: ["/A/Era-Proc-v1/AODSIM"])
    no_site_plans: int = 0  # plans that find every usable site taken out (site manager)
    hang_transition: str | None = None  # recording the move to this status hangs
    harvest_jobs: int = 0  # harvesting jobs in the DAG (their DQM files uploaded after it)
    dqm_refusals: int = 0  # uploads the DQM GUI refuses before it takes them
    dqm_missing: dict[str, str] = field(default_factory=dict)  # jobs that left no DQM file
    hopeless: list[str] = field(default_factory=list)  # failure report: unit/node, every round


class FakeWorld:
    def __init__(self, client: Client, task_queue: str) -> None:
        self.client, self.task_queue = client, task_queue
        self.scripts: dict[str, RequestScript] = {}
        self.calls: list[tuple[str, str]] = []
        self.transitions: list[tuple[str, str, str]] = []
        self.updates: list[RequestUpdate] = []
        self.submissions: dict[str, list[int]] = {}
        self.done: dict[str, int] = {}
        self.removals: dict[str, int] = {}
        self.clusters = itertools.count(100)
        self.admitted_order: list[str] = []
        self.reprioritized: list[tuple[str, int]] = []
        self.data = FakeDataServices(client=client)
        # What the enqueue activity tells admission: each request's scheduler jobs and
        # the schedds' capacity (None: no limit), as activities.admission computes them.
        self.admission_cost, self.admission_capacity = 1, None
        self.admission_capacities: list[int] | None = None  # each schedd's, when set

    def script(self, name: str) -> RequestScript:
        return self.scripts.setdefault(name, RequestScript())

    def calls_of(self, activity_name: str, request: str | None = None) -> int:
        return sum(
            1 for a, r in self.calls if a == activity_name and (request is None or r == request)
        )

    async def _hang_if(self, name: Activity, request: str) -> None:
        self.calls.append((name.value, request))
        if self.script(request).hang == name.value:
            while True:  # until the workflow's timeout cancels us
                activity.heartbeat()
                await asyncio.sleep(0.1)

    def activities(self) -> list[Any]:
        w = self

        @activity.defn(name=Activity.IMPORT_REQUEST)
        async def import_request(inp: ImportInput) -> ImportResult:
            await w._hang_if(Activity.IMPORT_REQUEST, inp.request_name)
            sc = w.script(inp.request_name)
            if sc.import_error:
                raise ApplicationError(
                    sc.import_error, type=sc.import_error_type, non_retryable=True
                )
            urgent = sc.urgent if inp.urgent is None else inp.urgent
            return ImportResult(
                request_name=inp.request_name,
                priority=sc.priority,
                urgent=urgent,
                campaign="Run3Test",
                request_type="StepChain",
                processing_version=1,
                production_steps=[] if urgent else sc.production_steps,
                cleanup_policy=inp.cleanup_policy or CleanupPolicy.KEEP_UNTIL_REPLACED,
                output_datasets=list(sc.datasets),
            )

        @activity.defn(name=Activity.RECORD_TRANSITION)
        async def record_transition(inp: TransitionInput) -> bool:
            w.transitions.append((inp.request_name, inp.to_status.value, inp.reason))
            if w.script(inp.request_name).hang_transition == inp.to_status.value:
                w.script(inp.request_name).hang_transition = None  # once
                w.script(inp.request_name).hang = Activity.RECORD_TRANSITION.value
                await w._hang_if(Activity.RECORD_TRANSITION, inp.request_name)
            return True

        @activity.defn(name=Activity.UPDATE_REQUEST)
        async def update_request(inp: RequestUpdate) -> None:
            await w._hang_if(Activity.UPDATE_REQUEST, inp.request_name)
            w.updates.append(inp)

        @activity.defn(name=Activity.CREATE_VERSION)
        async def create_version_increment(inp: VersionInput) -> str:
            w.calls.append((Activity.CREATE_VERSION.value, inp.request_name))
            new = next_version_name(inp.request_name, 1)
            w.scripts[new] = RequestScript(work_units=2, per_poll=2)
            return new

        @activity.defn(name=Activity.ENQUEUE)
        async def enqueue_for_admission(inp: EnqueueInput) -> None:
            w.calls.append((Activity.ENQUEUE.value, inp.request_name))
            await w.client.start_workflow(
                "AdmissionWorkflow",
                AdmissionInput(limit=inp.max_active_dags),
                id=ADMISSION_WORKFLOW_ID,
                task_queue=w.task_queue,
                start_signal="enqueue",
                start_signal_args=[
                    AdmissionEntry(
                        request_name=inp.request_name,
                        priority=inp.priority,
                        enqueued_at=inp.submitted_at,
                        cost=w.admission_cost,
                        capacity=w.admission_capacity,
                        capacities=w.admission_capacities,
                    )
                ],
            )

        @activity.defn(name=Activity.ENDED_REQUESTS)
        async def find_ended_requests(names: list[str]) -> list[str]:
            return await ended_requests(w.client, names)

        @activity.defn(name=Activity.SUBMIT_PILOT)
        async def submit_pilot(inp: PilotInput) -> JobHandle:
            w.calls.append((Activity.SUBMIT_PILOT.value, inp.request_name))
            return JobHandle(
                backend="fake",
                cluster_id=str(next(w.clusters)),
                schedd="fake",
                submit_file=f"/s/{inp.request_name}/pilot/pilot.sub",
            )

        @activity.defn(name=Activity.AWAIT_PILOT)
        async def await_pilot(inp: AwaitJobInput) -> AwaitJobResult:
            request = inp.handle.submit_file.split("/")[2]
            w.calls.append((Activity.AWAIT_PILOT.value, request))
            sc = w.script(request)
            if sc.hang == Activity.AWAIT_PILOT.value:
                await quiet_window(inp.max_seconds)
                return AwaitJobResult(status=JobStatus(state=JobState.ALIVE), finished=False)
            return AwaitJobResult(
                status=JobStatus(state=JobState.FINISHED, exit_code=sc.pilot_exit), finished=True
            )

        @activity.defn(name=Activity.READ_PILOT_METRICS)
        async def read_pilot_metrics(inp: PilotInput) -> PilotMetrics:
            w.calls.append((Activity.READ_PILOT_METRICS.value, inp.request_name))
            return METRICS

        @activity.defn(name=Activity.PLAN_DAG)
        async def plan_dag(inp: PlanInput) -> PlanResult:
            await w._hang_if(Activity.PLAN_DAG, inp.request_name)
            sc = w.script(inp.request_name)
            if sc.tape_rule_states is not None and sc.tape_rule_states[-1:] != ["staged"]:
                raise ApplicationError(
                    "12 input file(s) in 1 block(s) are on tape only",
                    type="InputOnTape",
                    non_retryable=True,
                )
            if sc.no_site_plans > 0:
                sc.no_site_plans -= 1
                raise ApplicationError(
                    "4 job(s) may run only at T2_CH_CERN (banned) (site manager)",
                    type="NoUsableSite",
                    non_retryable=True,
                )
            return PlanResult(
                dag_file=f"/s/{inp.request_name}/workflow.dag",
                work_units=sc.work_units,
                node_counts={"Processing": sc.work_units * (sc.nodes_per_unit - 3)}
                | ({"Harvest": sc.harvest_jobs} if sc.harvest_jobs else {}),
                total_nodes=sc.work_units * sc.nodes_per_unit,
            )

        @activity.defn(name=Activity.SUBMIT_DAG)
        async def submit_dag(inp: SubmitDagInput) -> DagHandle:
            await w._hang_if(Activity.SUBMIT_DAG, inp.request_name)
            w.submissions.setdefault(inp.request_name, []).append(inp.attempt)
            return DagHandle(
                backend="fake",
                cluster_id=str(next(w.clusters)),
                schedd="fake",
                dag_file=inp.dag_file,
                batch_name=inp.request_name,
            )

        @activity.defn(name=Activity.MONITOR_DAG)
        async def monitor_dag(inp: MonitorInput) -> MonitorResult:
            w.calls.append((Activity.MONITOR_DAG.value, inp.request_name))
            return await observe(inp, quiet_sec=inp.max_seconds)

        @activity.defn(name=Activity.CHECK_DAG)
        async def check_dag(inp: MonitorInput) -> MonitorResult:
            """One look: the DAG as the fake world has it now (no waiting)."""
            w.calls.append((Activity.CHECK_DAG.value, inp.request_name))
            return await observe(inp, quiet_sec=0)

        async def observe(inp: MonitorInput, quiet_sec: float) -> MonitorResult:
            name = inp.request_name
            sc = w.script(name)
            total_nodes = sc.work_units * sc.nodes_per_unit
            if sc.monitor_forever:
                await quiet_window(quiet_sec)
                return MonitorResult(
                    progress=DagProgress(nodes_total=total_nodes, work_units_total=sc.work_units)
                )
            first_run = w.submissions[name] == [1]
            healthy = sc.work_units - (1 if sc.fail_nodes and first_run else 0)
            done = w.done.get(name, 0)
            if sc.lose_dagman_at is not None and first_run and done >= sc.lose_dagman_at:
                return MonitorResult(
                    progress=DagProgress(
                        nodes_total=total_nodes,
                        work_units_total=sc.work_units,
                        work_units_done=done,
                    ),
                    finished=True,
                    lost=True,
                    detail="runner died without an exit record; 2 orphaned node job(s) killed",
                )
            held = sc.hold_at is not None and first_run and done >= sc.hold_at
            if held or (sc.pause_at is not None and done >= sc.pause_at):
                await quiet_window(quiet_sec)  # stalled until a stop removes this DAG
                return MonitorResult(
                    progress=DagProgress(
                        nodes_total=total_nodes,
                        work_units_total=sc.work_units,
                        work_units_done=done,
                    )
                )
            new_done = min(done + sc.per_poll, healthy)
            w.done[name] = new_done
            new = [
                CompletedWorkUnit(
                    name=f"mg_{i:06d}",
                    outputs=[
                        WorkUnitOutput(
                            dataset=d,
                            lfn=f"/store/{name}/{k}/x{i}.root",
                            site="T2_X",
                            size=10,
                            events=5,
                            adler32="00000001",
                        )
                        for k, d in enumerate(sc.datasets)
                    ],
                )
                for i in range(done, new_done)
                if f"mg_{i:06d}" not in inp.known_work_units
            ]
            for wu in new:  # the merge reports the DAG directory now holds
                for o in wu.outputs:
                    w.data.merged[(o.dataset, wu.name)] = OutputUnit(
                        work_unit=wu.name, **o.model_dump(exclude={"dataset"})
                    )
            finished = new_done >= healthy
            failed = sc.fail_nodes if (finished and healthy < sc.work_units) else 0
            progress = DagProgress(
                nodes_total=total_nodes,
                nodes_done=new_done * sc.nodes_per_unit,
                nodes_failed=failed,
                work_units_total=sc.work_units,
                work_units_done=new_done,
            )
            return MonitorResult(
                new_work_units=[u for u in new if u.name not in sc.unreported],
                progress=progress,
                finished=finished,
                exit_code=(1 if failed else 0) if finished else None,
                unreported_work_units=sc.unreported if finished else {},
            )

        @activity.defn(name=Activity.REMOVE_DAG)
        async def remove_dag(inp: RemoveInput) -> bool:
            w.calls.append((Activity.REMOVE_DAG.value, inp.request_name))
            w.removals[inp.request_name] = w.removals.get(inp.request_name, 0) + 1
            return True

        @activity.defn(name=Activity.AWAIT_DAG_EXIT)
        async def await_dag_exit(inp: MonitorInput) -> DagExit:
            w.calls.append((Activity.AWAIT_DAG_EXIT.value, inp.request_name))
            sc = w.script(inp.request_name)
            deadline = asyncio.get_running_loop().time() + inp.max_seconds
            while w.removals.get(inp.request_name, 0) < sc.removal_needs:
                if asyncio.get_running_loop().time() > deadline:  # as the real one does
                    raise TimeoutError(f"DAGMan still running {inp.max_seconds} s after removal")
                activity.heartbeat()
                await asyncio.sleep(0.1)
            if sc.finish_during_stop:
                sc.hold_at, sc.per_poll = None, sc.work_units  # all done as DAGMan exits
                return DagExit(exit_code=0, rescue_file=None)
            return DagExit(exit_code=2, rescue_file=f"{inp.dag.dag_file}.rescue001")

        @activity.defn(name=Activity.QUERY_JOB)
        async def query_job(handle: DagHandle | JobHandle) -> JobStatus:
            request = (
                handle.submit_file.split("/")[2]
                if isinstance(handle, JobHandle)
                else handle.batch_name
            )
            state = JobState.MISSING if w.script(request).pilot_missing else JobState.ALIVE
            return JobStatus(state=state)

        @activity.defn(name=Activity.STAGE_INPUT)
        async def stage_input(inp: StageInput) -> StagingRule:
            w.calls.append((Activity.STAGE_INPUT.value, inp.request_name))
            return StagingRule(
                rule_id=f"rule-{inp.request_name}",
                rse_expression="T1_US_FNAL_Disk",
                blocks=1,
                first_block="/A/B-v1/RAW#1",
                files=12,
            )

        @activity.defn(name=Activity.POLL_STAGING)
        async def poll_staging(inp: PollStagingInput) -> str:
            states = w.script(inp.request_name).tape_rule_states
            assert states
            state = states.pop(0) if len(states) > 1 else states[0]
            if state == "OK":
                states[:] = ["staged"]
            return state

        @activity.defn(name=Activity.REPRIORITIZE_DAG)
        async def reprioritize_dag(inp: ReprioritizeInput) -> IdleEdit:
            w.reprioritized.append((inp.request_name, inp.priority))
            return IdleEdit(edited=3)

        @activity.defn(name=Activity.FAILURE_REPORT)
        async def failure_report(inp: FailureReportInput) -> FailureReport:
            sc = w.script(inp.request_name)
            w.calls.append((Activity.FAILURE_REPORT.value, inp.request_name))
            group = FailureGroup(kind="transient", exit_code=1, tries=4, nodes=sc.fail_nodes)
            return FailureReport(
                request_name=inp.request_name,
                nodes_failed=sc.fail_nodes,
                tries_failed=4 * sc.fail_nodes,
                groups=[group],
                hopeless=sc.hopeless,
                decision=inp.decision,
                round_cap=2,
            )

        @activity.defn(name=Activity.PING_BACKEND)
        async def ping_backend() -> bool:
            return all(sc.backend_reachable for sc in w.scripts.values())

        @activity.defn(name=Activity.UPLOAD_DQM)
        async def upload_dqm_files(inp: DqmUploadInput) -> DqmUploadResult:
            w.calls.append((Activity.UPLOAD_DQM.value, inp.request_name))
            sc = w.script(inp.request_name)
            if sc.dqm_refusals > 0:
                sc.dqm_refusals -= 1
                raise ApplicationError(
                    "dqm: upload of DQM_1.root refused (400): bad file",
                    type="ServiceRequestError",
                    non_retryable=True,
                )
            url = "https://gui/dqm/offline"
            files = [f"DQM_{i}.root" for i in range(sc.harvest_jobs - len(sc.dqm_missing))]
            return DqmUploadResult(
                uploads=[DqmUpload(url=url, file=f, size=10) for f in files],
                sent=len(files),
                missing=sc.dqm_missing,
            )

        return [
            upload_dqm_files,
            import_request,
            record_transition,
            update_request,
            create_version_increment,
            enqueue_for_admission,
            find_ended_requests,
            submit_pilot,
            await_pilot,
            read_pilot_metrics,
            plan_dag,
            submit_dag,
            monitor_dag,
            check_dag,
            remove_dag,
            await_dag_exit,
            query_job,
            ping_backend,
            reprioritize_dag,
            failure_report,
            stage_input,
            poll_staging,
            *w.data.activities(),
        ]
