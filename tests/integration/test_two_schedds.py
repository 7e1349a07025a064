"""Several submit hosts on the real stack: one worker whose WMS2_SUBMIT_SCHEDDS names two
local schedds (two state directories, each with its own runners). A request with a pilot
and an urgent one go to different schedds: the pilot's schedd counts for its request's
DAG before the DAG is submitted, so the second request's DAG goes to the other schedd,
and the first's DAG follows its pilot. Both complete; each DAG row records its schedd."""

from __future__ import annotations

import asyncio
import json

from temporalio.testing import WorkflowEnvironment

from tests.conftest import GEN, RERECO
from tests.integration.conftest import WorkerSite
from tests.integration.test_end_to_end import assert_registered_once, repo, start
from tests.workflows.harness import until
from wms2.models import RequestStatus
from workflows.request import RequestWorkflow

S = RequestStatus


async def test_two_requests_run_on_two_local_schedds(
    dev_server: WorkflowEnvironment, site: WorkerSite
) -> None:
    site.start_worker(env={"WMS2_SUBMIT_SCHEDDS": json.dumps(["east", "west"])})
    gen = await start(dev_server, site, GEN)
    s = await until(gen, lambda s: s.pilot is not None, 60)
    assert s.pilot is not None and s.pilot.schedd == "east"  # all free: the first listed
    rereco = await start(dev_server, site, RERECO, urgent=True)  # no pilot
    results = await asyncio.wait_for(asyncio.gather(gen.result(), rereco.result()), 150)
    for r in results:
        assert r.status is S.COMPLETED, r.reason
    r = repo(site)
    placed = {}
    for name, h in ((GEN, gen), (RERECO, rereco)):
        state = await h.query(RequestWorkflow.status)
        wf = r.get_workflow_by_request(name)
        dag = r.latest_dag(wf.id)
        assert dag is not None and state.dag is not None
        assert dag.schedd_name == state.dag.schedd  # the row records where it ran
        placed[name] = dag.schedd_name
        # The DAGMan ran in that schedd's own state directory.
        jobs = site.root / ".wms2" / "schedds" / dag.schedd_name / "local-condor" / "jobs"
        assert (jobs / f"{dag.dagman_cluster_id}.exit.json").exists()
        assert_registered_once(site, name)
    assert placed == {GEN: "east", RERECO: "west"}
    assert r.get_workflow_by_request(GEN).pilot_schedd == "east"  # the pilot went with it
