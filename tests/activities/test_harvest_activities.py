"""The DQM upload activity: every DQM file of the DAG's harvesting jobs uploaded once
(a second call sends nothing), a job without its file named, a refusal non-retryable."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.deps import ActivityDeps
from activities.harvest import HarvestActivities
from wms2.outputs.messages import DqmUploadInput, DqmUploadResult
from wms2.services.errors import ServiceRequestError

URL = "https://cmsweb.cern.ch/dqm/offline"


def harvest_dir(root: Path, runs: list[int]) -> Path:
    """A DAG directory as its harvesting jobs leave it: manifest, result, DQM file."""
    hdir = root / "harvest"
    hdir.mkdir(parents=True)
    (root / "workflow.dag").write_text("")
    for run in runs:
        node, dqm = f"harvest_R{run:09d}", f"DQM_V0001_R{run:09d}__A__B__DQMIO.root"
        (hdir / f"{node}.json").write_text(json.dumps({"upload_url": URL, "dqm_file": dqm}))
        (hdir / f"{node}.tweak.json").write_text("{}")
        (hdir / dqm).write_bytes(b"x" * run)
        done = {"dqm_file": dqm, "size": run, "md5": "-", "upload_url": URL}
        (hdir / f"{node}.done.json").write_text(json.dumps(done))
    return root / "workflow.dag"


def upload(deps: ActivityDeps, dag_file: Path) -> DqmUploadResult:
    inp = DqmUploadInput(request_name="req", dag_file=str(dag_file))
    return asyncio.run(ActivityEnvironment().run(HarvestActivities(deps).upload_dqm_files, inp))


def test_each_file_once_and_a_job_without_its_file_named(
    deps: ActivityDeps, tmp_path: Path
) -> None:
    dag_file = harvest_dir(tmp_path / "req", [1, 2])
    first = upload(deps, dag_file)
    assert (first.sent, [u.file for u in first.uploads], first.missing) == (
        2, ["DQM_V0001_R000000001__A__B__DQMIO.root", "DQM_V0001_R000000002__A__B__DQMIO.root"], {}
    )  # fmt: skip
    assert [u.size for u in first.uploads] == [1, 2]
    again = upload(deps, dag_file)  # a retried activity, a restart: nothing sent twice
    assert again.sent == 0 and again.uploads == first.uploads
    assert deps.services.dqm is not None
    recorded = deps.services.dqm.recorded_dqm_uploads()  # type: ignore[attr-defined]
    assert sorted(recorded) == [f"{URL}/{u.file}" for u in first.uploads]

    dag_file = harvest_dir(tmp_path / "req2", [3, 4])
    (dag_file.parent / "harvest" / "DQM_V0001_R000000004__A__B__DQMIO.root").unlink()
    res = upload(deps, dag_file)
    assert [u.file for u in res.uploads] == ["DQM_V0001_R000000003__A__B__DQMIO.root"]
    assert res.missing == {
        "harvest_R000000004": "its DQM file DQM_V0001_R000000004__A__B__DQMIO.root is gone"
    }


class RefusingGUI:
    def upload_dqm(self, url: str, path: Path) -> dict[str, Any]:
        raise ServiceRequestError("dqm", f"upload of {path.name} to {url} refused (400): x", 400)


@pytest.mark.parametrize("gui", [RefusingGUI(), None])
def test_a_refusal_or_no_gui_is_not_retried(
    deps: ActivityDeps, tmp_path: Path, gui: RefusingGUI | None
) -> None:
    deps.services.dqm = gui  # type: ignore[assignment]
    with pytest.raises(ApplicationError) as raised:
        upload(deps, harvest_dir(tmp_path / "req", [1]))
    assert raised.value.non_retryable and raised.value.type == "ServiceRequestError"
