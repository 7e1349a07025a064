"""The site manager's workflows: one per operator change, one per scheduled sync.

- SiteChangeWorkflow (id `wms2-site-<NAME>`): drain, enable, disable, ban or unban one
  site, recorded with who and why; the change reaches running DAGs before it returns.
  One id per site: a second change while one runs is refused by Temporal.
- SiteSyncWorkflow: started by the `wms2-site-sync` schedule every `site_sync_sec`: the
  site list from CRIC (or the catalog), expired drains and bans, failure-driven alerts.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from wms2.messages import Activity
    from wms2.sites.messages import SiteChanged, SiteChangeInput, SiteSyncInput, SiteSyncResult

from workflows import options

ONE_LINE_REFUSAL = "site-change-one-line-refusal"  # workflow.patched id


def _one_line(e: ValidationError) -> str:
    first = e.errors()[0]
    where = ".".join(str(x) for x in first["loc"]) or "input"
    return f"{where}: {first['msg']} (got {first.get('input')!r})"


@workflow.defn
class SiteChangeWorkflow:
    @workflow.run
    async def run(self, raw: Any) -> SiteChanged:
        # Read here rather than by the data converter: a bad `temporal workflow start`
        # input then fails this workflow with one line, not its workflow task forever.
        try:
            inp = SiteChangeInput.model_validate(raw)
        except ValidationError as e:
            raise ApplicationError(
                f"site change refused: {_one_line(e)}", type="BadSiteChange", non_retryable=True
            ) from None
        try:
            return await workflow.execute_activity(
                Activity.CHANGE_SITE,
                inp,
                result_type=SiteChanged,
                summary=f"{inp.action.value} {inp.site}"
                + (f": {inp.reason}" if inp.reason else ""),
                **options.RECORD,
            )
        except ActivityError as e:
            refused = e.cause if isinstance(e.cause, ApplicationError) else None
            if (
                refused is None
                or not refused.non_retryable
                or not workflow.patched(ONE_LINE_REFUSAL)
            ):
                raise
            # A refusal (an unknown site, an unban of a site not banned) is the operator's
            # input, not a fault: one line, without the activity's stack trace under it.
            raise ApplicationError(
                f"site change refused: {refused.message}", type=refused.type, non_retryable=True
            ) from None


@workflow.defn
class SiteSyncWorkflow:
    @workflow.run
    async def run(self, inp: SiteSyncInput) -> SiteSyncResult:
        return await workflow.execute_activity(
            Activity.SYNC_SITES,
            inp,
            result_type=SiteSyncResult,
            summary="sync the site list, expire drains and bans, check site health",
            **options.SERVICE,
        )
