"""Order of a work unit output's states and the names Rucio knows its sites by."""

from __future__ import annotations

from wms2.models import OutputDataset, OutputStatus

Out = OutputStatus

# The forward walk, one activity per arrow.
FORWARD: tuple[OutputStatus, ...] = (
    Out.PENDING,
    Out.DBS_REGISTERED,
    Out.SOURCE_PROTECTED,
    Out.TRANSFERS_REQUESTED,
    Out.TRANSFERRING,
    Out.TRANSFERRED,
    Out.SOURCE_RELEASED,
    Out.ANNOUNCED,
)
TERMINAL = frozenset({Out.ANNOUNCED, Out.INVALIDATED, Out.FAILED})


def next_status(status: OutputStatus) -> OutputStatus | None:
    """The state after `status` on the forward walk (None at its end or off it)."""
    if status not in FORWARD or status is Out.ANNOUNCED:
        return None
    return FORWARD[FORWARD.index(status) + 1]


def site_rse(site: str) -> str:
    """The disk RSE of a CMS site: Tier-1s split disk from tape (`T1_US_FNAL_Disk`), other
    tiers' RSEs carry the site's name."""
    if site.startswith("T1_") and not site.endswith(("_Disk", "_Tape")):
        return f"{site}_Disk"
    return site


def resume_status(out: OutputDataset) -> OutputStatus:
    """Where a FAILED output's walk picks up again, read from what its record says was
    made (every step is idempotent, so resuming one step early is harmless)."""
    if not out.dbs_registered:
        return Out.PENDING
    if not out.source_rule_id:
        return Out.DBS_REGISTERED
    if not out.transfers_complete:
        return Out.SOURCE_PROTECTED  # re-requesting transfers finds the rules made
    if out.transfer_rule_ids and not out.source_released:
        return Out.TRANSFERRED
    return Out.SOURCE_RELEASED
