"""Planning and the site manager: work goes only to enabled sites; work that could run
only at sites taken out is refused with NoUsableSite (the request waits or fails)."""

from __future__ import annotations

import pytest

from tests.unit.test_splitting import inp, make_files
from wms2.models import SplittingAlgo
from wms2.planning.splitting import NoUsableSite, SplittingError, split

FILE = SplittingAlgo.FILE_BASED


def test_unavailable_sites_are_left_out() -> None:
    files, lumis = make_files([(10, 1, 2), (10, 1, 2)])  # at FNAL and CERN
    out = split(
        inp(FILE, {"files_per_job": 1}, files, lumis, unavailable_sites={"T2_CH_CERN": "banned"})
    )
    assert {tuple(n.sites) for n in out.nodes} == {("T1_US_FNAL",)}


def test_input_only_at_unavailable_sites_is_no_usable_site() -> None:
    files, lumis = make_files([(10, 1, 0), (10, 1, 1)])  # one at FNAL, one at CERN
    with pytest.raises(NoUsableSite, match=r"T1_US_FNAL \(draining\)"):
        split(
            inp(FILE, {"files_per_job": 1}, files, lumis,
                unavailable_sites={"T1_US_FNAL": "draining"})
        )  # fmt: skip
    # Not the site manager's doing (outside the whitelist): a plain SplittingError.
    with pytest.raises(SplittingError) as err:
        split(inp(FILE, {"files_per_job": 1}, files, lumis, site_whitelist=["T2_CH_CERN"]))
    assert not isinstance(err.value, NoUsableSite)


def test_generation_with_every_whitelisted_site_out_waits() -> None:
    gen = inp(
        FILE,
        {"events_per_job": 10, "request_num_events": 20},
        [],
        {},
        generation=True,
        site_whitelist=["T2_CH_CERN", "T2_DE_DESY"],
        unavailable_sites={"T2_CH_CERN": "banned", "T2_DE_DESY": "disabled"},
    )
    with pytest.raises(NoUsableSite, match=r"T2_CH_CERN \(banned\), T2_DE_DESY \(disabled\)"):
        split(gen)
    # A whitelist the blacklist empties is nowhere, not "anywhere".
    with pytest.raises(SplittingError, match="no site to run at"):
        split(
            inp(FILE, {"events_per_job": 10, "request_num_events": 20}, [], {}, generation=True,
                site_whitelist=["T2_CH_CERN"], site_blacklist=["T2_CH_CERN"])
        )  # fmt: skip
