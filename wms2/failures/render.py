"""The failure report as terminal text, every line at most `width` columns (80 by
default): long values wrap with an indent, stderr lines are cut with an ellipsis."""

from __future__ import annotations

import textwrap
import time

from wms2.failures.model import FailureGroup, FailureReport


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent + "  ",
        break_on_hyphens=False,
        break_long_words=True,
    ) or [indent.rstrip()]


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _group_lines(n: int, g: FailureGroup, width: int) -> list[str]:
    counts = f"tries {g.tries}  nodes {g.nodes}  failed now {g.still_failed}"
    title = f"[{n}] {g.cause}"
    if len(title) + 2 + len(counts) <= width:
        lines = [title + " " * (width - len(title) - len(counts)) + counts]
    else:
        lines = [*_wrap(title, width), *_wrap(counts, width, "    ")]
    sites = ", ".join(f"{s} {c}" for s, c in sorted(g.sites.items(), key=lambda x: -x[1]))
    if sites:
        lines += _wrap(f"sites: {sites}", width, "    ")
    more = f" (+{g.units_total - len(g.units)} more)" if g.units_total > len(g.units) else ""
    lines += _wrap(f"units ({g.units_total}): {' '.join(g.units)}{more}", width, "    ")
    lines += _wrap(
        f"they hold: {g.files} file(s), {g.lumis} lumi(s), {g.events} event(s)", width, "    "
    )
    lines += _wrap(f"action: {g.action}", width, "    ")
    if g.example:
        lines += _wrap(f"example {g.example}, last lines of its stderr:", width, "    ")
        lines += [_cut(f"      | {x}", width) for x in g.stderr_tail] or ["      (no stderr)"]
    return lines


def render_report(r: FailureReport, width: int = 80, changes: list[str] | None = None) -> str:
    """`changes`: what WMS2 changed on the way (sizing rounds, the tail's boost)."""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(r.generated_at))
    title = "Failure report"
    lines = [title + " " * max(width - len(title) - len(stamp), 2) + stamp]
    lines += _wrap(r.request_name, width)
    lines += _wrap(
        f"rounds {r.rounds} | nodes failed {r.nodes_failed} | held {r.nodes_held} | "
        f"recovered {r.nodes_recovered} | failed tries {r.tries_failed}",
        width,
    )
    if r.decision:
        lines += _wrap(f"decision: {r.decision}", width)
    if not r.groups:
        lines.append("no failed or held jobs")
    for i, g in enumerate(r.groups, 1):
        lines += ["-" * width, *_group_lines(i, g, width)]
    if r.groups_total > len(r.groups):
        lines.append(f"... and {r.groups_total - len(r.groups)} more cause(s)")
    if r.hopeless or r.exclusions or r.memory_raises:
        lines.append("-" * width)
    if r.hopeless:
        lines += _wrap("same failure every round (review): " + " ".join(r.hopeless), width)
    for unit, sites in sorted(r.exclusions.items()):
        lines += _wrap(f"{unit} avoids {', '.join(sites)} (site errors there)", width)
    for unit, memory in sorted(r.memory_raises.items()):
        lines += _wrap(f"{unit} rescue starts its jobs at {memory}", width)
    if changes:
        lines += ["-" * width, "changed on the way:"]
        for c in changes:
            lines += _wrap(c, width, "  ")
    return "\n".join(lines)
