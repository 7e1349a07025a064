"""Packed work unit names come back as the same set, and a finished DAG's are tiny."""

from __future__ import annotations

from wms2.unit_names import pack, unpack


def test_names_round_trip_whatever_their_shape() -> None:
    names = ["mg_000003", "mg_000001", "mg_000002", "mg_000010", "wu_7", "x", "mg_01", "n0", "n00"]
    packed = pack(names)
    assert sorted(unpack(packed)) == sorted(names) and len(packed) == len(names)
    assert unpack(pack([])) == []


def test_a_finished_dags_names_pack_into_one_range() -> None:
    names = [f"mg_{i:06d}" for i in reversed(range(10_000))]
    packed = pack(names)
    assert len(packed.ranges) == 1 and len(packed.model_dump_json()) < 100
    assert unpack(packed) == sorted(names)
