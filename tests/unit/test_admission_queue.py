"""The admission queue's order and its cost at thousands of requests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from wms2.lifecycle.admission_queue import AdmissionQueue, admission_order
from wms2.messages import AdmissionEntry

T0 = datetime(2026, 11, 30, tzinfo=UTC)


def entry(name: str, priority: int, minute: int = 0) -> AdmissionEntry:
    return AdmissionEntry(
        request_name=name, priority=priority, enqueued_at=T0 + timedelta(minutes=minute)
    )


def drain(q: AdmissionQueue) -> list[str]:
    out = []
    while (e := q.pop()) is not None:
        out.append(e.request_name)
    return out


def test_priority_then_submission_then_name() -> None:
    q = AdmissionQueue([entry("b", 5, 1), entry("a", 5, 1), entry("c", 9, 3), entry("d", 5, 0)])
    assert [e.request_name for e in q.entries()] == ["c", "d", "a", "b"]
    assert drain(q) == ["c", "d", "a", "b"] and len(q) == 0 and q.pop() is None


def test_changes_replace_and_removals_stick() -> None:
    q = AdmissionQueue([entry("a", 1), entry("b", 2), entry("c", 3)])
    assert q.set_priority("a", 10) and not q.set_priority("zz", 1)
    q.put(entry("c", 0))  # a repeated enqueue replaces the entry
    q.remove("b")
    assert "b" not in q and len(q) == 2
    assert drain(q) == ["a", "c"]


def test_thousands_of_operations_match_a_sorted_list() -> None:
    """Random enqueues, priority changes, releases and admissions at 3,000 requests
    give what sorting the whole queue each time gives; stale heap items stay bounded."""
    rng = random.Random(7)
    q = AdmissionQueue()
    model: dict[str, AdmissionEntry] = {}
    for i in range(3000):
        e = entry(f"r{i:04d}", rng.randrange(10), rng.randrange(100))
        q.put(e)
        model[e.request_name] = e
    for _ in range(6000):
        name = f"r{rng.randrange(3000):04d}"
        op = rng.random()
        if op < 0.5 and name in model:
            p = rng.randrange(10)
            q.set_priority(name, p)
            model[name] = model[name].model_copy(update={"priority": p})
        elif op < 0.7:
            q.remove(name)
            model.pop(name, None)
        elif model:
            best = min(model.values(), key=admission_order)
            assert q.pop() == best
            del model[best.request_name]
    assert q.entries() == sorted(model.values(), key=admission_order)
    assert len(q._heap) <= 2 * len(q) + 64
