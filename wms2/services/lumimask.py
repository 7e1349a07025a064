"""Run white/black lists and lumi mask (CMS golden-JSON shape: {"run": [[first, last], ...]})."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


class LumiFilter:
    def __init__(
        self,
        run_whitelist: Iterable[int] = (),
        lumi_mask: Mapping[str, Sequence[Sequence[int]]] | None = None,
        run_blacklist: Iterable[int] = (),
    ) -> None:
        self.runs = frozenset(int(r) for r in run_whitelist)
        self.excluded = frozenset(int(r) for r in run_blacklist)
        self.mask = {
            int(run): [(int(a), int(b)) for a, b in ranges]
            for run, ranges in (lumi_mask or {}).items()
        }

    def __call__(self, run: int, lumi: int) -> bool:
        if (self.runs and run not in self.runs) or run in self.excluded:
            return False
        if self.mask:
            return any(a <= lumi <= b for a, b in self.mask.get(run, ()))
        return True

    @property
    def active(self) -> bool:
        return bool(self.runs or self.mask or self.excluded)
