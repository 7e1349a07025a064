"""Work unit names, packed: what a long request carries from one run to the next.

A request of 10,000 work units knows 10,000 names ("mg_000000" ... "mg_009999"); carried
as they are through continue-as-new and into each DAG check they weigh ~130 kB, and a
100,000-unit request's would near Temporal's 2 MB payload limit. Packed, consecutive
names of one prefix and width are one range: a finished DAG's names are a few bytes.
The order is lost (sorted by prefix and number); nothing depends on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel, Field

_NUMBERED = re.compile(r"(.*?)(\d+)")


class UnitRange(BaseModel):
    prefix: str
    width: int  # digits, zero-padded
    first: int
    last: int


class PackedNames(BaseModel):
    ranges: list[UnitRange] = Field(default_factory=list)
    other: list[str] = Field(default_factory=list)  # names that end in no number

    def __len__(self) -> int:
        return len(self.other) + sum(r.last - r.first + 1 for r in self.ranges)


def pack(names: Iterable[str]) -> PackedNames:
    numbered: dict[tuple[str, int], list[int]] = {}
    out = PackedNames()
    for name in set(names):
        m = _NUMBERED.fullmatch(name)
        if m is None or f"{int(m[2]):0{len(m[2])}d}" != m[2]:
            out.other.append(name)  # no number, or one that would not print back the same
            continue
        numbered.setdefault((m[1], len(m[2])), []).append(int(m[2]))
    for (prefix, width), numbers in sorted(numbered.items()):
        numbers.sort()
        start = prev = numbers[0]
        for n in [*numbers[1:], None]:
            if n is not None and n == prev + 1:
                prev = n
                continue
            out.ranges.append(UnitRange(prefix=prefix, width=width, first=start, last=prev))
            if n is not None:
                start = prev = n
    out.other.sort()
    return out


def unpack(packed: PackedNames) -> list[str]:
    names = [
        f"{r.prefix}{n:0{r.width}d}" for r in packed.ranges for n in range(r.first, r.last + 1)
    ]
    return names + packed.other
