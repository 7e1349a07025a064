"""Input on tape only: a Rucio rule stages its blocks to disk, and is polled until OK."""

from __future__ import annotations

from temporalio import activity

from activities.deps import ActivityDeps, domain_errors
from wms2.messages import Activity, PollStagingInput, StageInput, StagingRule
from wms2.models import Request
from wms2.outputs.states import site_rse
from wms2.planning.inputs import file_query, located_files, staging_blocks, tape_only


def staging_rse_expression(request: Request, default: str) -> str:
    """The disk RSEs of the request's whitelisted sites (minus the blacklisted), else the
    configured expression."""
    sites = [s for s in request.site_whitelist if s not in request.site_blacklist]
    return "|".join(site_rse(s) for s in sites) if sites else default


class StagingActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @activity.defn(name=Activity.STAGE_INPUT)
    def stage_input(self, inp: StageInput) -> StagingRule:
        """One rule for every block holding input that is on tape only (a retry makes no
        second rule: Rucio, like the catalog, returns the existing one)."""
        services, settings = self.deps.services, self.deps.settings
        with domain_errors():
            request = self.deps.repo.get_request(inp.request_name)
            query = file_query(request)
            files = located_files(query, services.files, services.replicas)
            on_tape = tape_only(files, services.replicas)
            if not on_tape:
                return StagingRule(rule_id=None)
            blocks = staging_blocks(on_tape)
            rse = staging_rse_expression(request, settings.staging_rse_expression)
            rule_id = services.replicas.create_rule(
                blocks, rse, comment=f"WMS2 staging of input for {request.request_name}"
            )
        activity.logger.info(
            "staging %d block(s) of %s to %s: rule %s", len(blocks), query.dataset, rse, rule_id
        )
        return StagingRule(
            rule_id=rule_id,
            rse_expression=rse,
            blocks=len(blocks),
            first_block=blocks[0],
            files=len(on_tape),
        )

    @activity.defn(name=Activity.POLL_STAGING)
    def poll_staging(self, inp: PollStagingInput) -> str:
        with domain_errors():
            return self.deps.services.replicas.get_rule(inp.rule_id).state.value
