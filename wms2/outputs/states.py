"""Terminal output states, where a failed output resumes, and the names Rucio knows
its sites by."""

from __future__ import annotations

from wms2.models import OutputDataset, OutputStatus

Out = OutputStatus

TERMINAL = frozenset({Out.ANNOUNCED, Out.INVALIDATED, Out.FAILED})


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
