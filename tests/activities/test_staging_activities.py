"""Staging of tape-only input through the real activities and the offline catalog."""

from __future__ import annotations

import json
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.deps import ActivityDeps
from activities.requests import RequestActivities
from activities.staging import StagingActivities
from wms2.messages import ImportInput, PollStagingInput, StageInput

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "reqmgr"


def imported(deps: ActivityDeps, name: str) -> str:
    doc = json.loads((FIXTURES / f"{name}.json").read_text())
    ActivityEnvironment().run(
        RequestActivities(deps).import_request,
        ImportInput(request_name=doc["RequestName"], request_document=doc),
    )
    return doc["RequestName"]


def test_a_rule_brings_tape_only_blocks_to_the_whitelisted_disk(deps: ActivityDeps) -> None:
    acts, env = StagingActivities(deps), ActivityEnvironment()
    name = imported(deps, "rereco_from_tape")
    rule = env.run(acts.stage_input, StageInput(request_name=name))
    assert rule.rule_id is not None and rule.rse_expression == "T1_US_FNAL_Disk"
    assert (rule.blocks, rule.files) == (1, 12)
    assert rule.first_block == "/JetMET0/Run2023D-v1/RAW#7a9e0001-tape"
    again = env.run(acts.stage_input, StageInput(request_name=name))
    assert again.rule_id == rule.rule_id  # a retry makes no second rule
    poll = PollStagingInput(request_name=name, rule_id=rule.rule_id)
    assert env.run(acts.poll_staging, poll) == "REPLICATING"
    assert env.run(acts.poll_staging, poll) == "OK"
    # Staged: nothing is left on tape only, so nothing more is asked.
    assert env.run(acts.stage_input, StageInput(request_name=name)).rule_id is None


def test_input_on_disk_needs_no_rule(deps: ActivityDeps) -> None:
    name = imported(deps, "rereco_selection")
    rule = ActivityEnvironment().run(
        StagingActivities(deps).stage_input, StageInput(request_name=name)
    )
    assert rule.rule_id is None
