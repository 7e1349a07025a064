"""The request's DQM upload after its DAG (activities faked, on the dev server): called
once the DAG is done and before COMPLETED, what the DQM GUI has kept in the state, a
refusal or a job without a DQM file leaves the request PARTIAL, and a restart uploads
again without resubmitting the DAG."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from tests.workflows.harness import fake_world, finish, keep_history, start, state_of, until
from wms2.messages import Activity, RestartRequest
from wms2.models import RequestStatus

S = RequestStatus


async def test_a_refused_upload_is_partial_and_a_restart_uploads_again(
    env: WorkflowEnvironment,
) -> None:
    async with fake_world(env) as w:
        w.script("req_harvest").harvest_jobs = 2
        w.script("req_harvest").dqm_refusals = 1
        w.script("req_plain").work_units = 2
        h = await start(w, env, "req_harvest")
        plain = await start(w, env, "req_plain")
        s = await until(h, lambda s: s.status is S.PARTIAL, timeout=30)
        reason = s.transitions[-1].reason
        assert "the DQM upload failed" in reason and "refused (400)" in reason, reason
        assert "restart uploads again" in reason and s.dqm_uploads == []
        assert [a.kind for a in s.alerts] == ["dqm_upload_failed"]
        assert s.outputs_by_state == {"announced": 4}  # the outputs went on regardless

        await h.signal("restart", RestartRequest(reason="DQM GUI fixed"))
        result = await finish(h)
        assert result.status is S.COMPLETED, result.reason
        s = await state_of(h)
        assert [u.file for u in s.dqm_uploads] == ["DQM_0.root", "DQM_1.root"]
        assert "2 DQM file(s) uploaded to https://gui/dqm/offline" in s.transitions[-1].reason
        assert w.calls_of(Activity.UPLOAD_DQM, "req_harvest") == 2
        assert w.submissions["req_harvest"] == [1]  # the DAG was not run again
        # A request without harvesting jobs never asks for an upload.
        assert (await finish(plain)).status is S.COMPLETED
        assert w.calls_of(Activity.UPLOAD_DQM, "req_plain") == 0
        await keep_history(h, "harvest_upload")


async def test_a_harvesting_job_without_its_dqm_file_is_never_completed(
    env: WorkflowEnvironment,
) -> None:
    async with fake_world(env) as w:
        sc = w.script("req_dqm_missing")
        sc.harvest_jobs, sc.dqm_missing = 2, {"harvest_R000000002": "its DQM file is gone"}
        h = await start(w, env, "req_dqm_missing")
        s = await until(h, lambda s: s.status is S.PARTIAL, timeout=30)
        reason = s.transitions[-1].reason
        assert "1 harvesting job(s) left no DQM file: harvest_R000000002" in reason, reason
        assert [u.file for u in s.dqm_uploads] == ["DQM_0.root"]  # the other one went up
        assert [a.kind for a in s.alerts] == ["dqm_files_missing"]
        await h.terminate("test over")
