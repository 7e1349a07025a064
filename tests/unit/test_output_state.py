"""OutputState: counts, dedupe and compaction of finished units."""

from __future__ import annotations

from wms2.models import OutputStatus
from wms2.outputs.messages import OutputState, OutputUnit

LFN = "/store/mc/Era/Primary/GEN-SIM/Proc-v1/000000/0b6f5a5e-1c1c-5a51-9a53-3a8e3c7f0b11.root"


def unit(i: int, status: OutputStatus) -> OutputUnit:
    return OutputUnit(
        work_unit=f"mg_{i:06d}", lfn=LFN, site="T2_CH_CERN", size=4 * 10**9, events=10**5,
        adler32="0a1b2c3d", status=status, source_rule_id="a" * 32,
        transfer_rule_ids=["b" * 32, "c" * 32], destinations=["T1_US_FNAL_Disk", "T2_CH_CERN"],
    )  # fmt: skip


def test_compaction_keeps_counts_and_dedupe() -> None:
    s = OutputState(request_name="r", dataset="/P/E-p-v1/GEN-SIM", index=1)
    for i in range(10):
        s.units[f"mg_{i:06d}"] = unit(i, OutputStatus.ANNOUNCED if i < 8 else OutputStatus.FAILED)
    s.compact(3)
    assert s.counts() == {"announced": 8, "failed": 2}
    assert len(s.finished_units) == 5 and len(s.units) == 5  # failed ones stay in full
    assert all(s.knows(f"mg_{i:06d}") for i in range(10)) and not s.knows("mg_000010")
    s.compact(0)
    assert len(s.units) == 2 and s.counts() == {"announced": 8, "failed": 2}


def test_the_carried_state_of_a_large_dataset_stays_small() -> None:
    # 100,000 nodes plan into ~2,300 work units; ten times that still fits a payload.
    s = OutputState(request_name="r" * 80, dataset="/P/E-p-v1/GEN-SIM", index=1)
    for i in range(25_000):
        s.units[f"mg_{i:06d}"] = unit(i, OutputStatus.ANNOUNCED)
    s.compact(0)
    assert len(s.model_dump_json()) < 2_000_000
