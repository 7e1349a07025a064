"""What an operator's terminal shows of a request: one rich table per request."""

from __future__ import annotations

from pathlib import Path

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from wms2.memory import ledger as memory_ledger
from wms2.messages import RequestState
from wms2.models import RequestStatus


def outputs_summary(by_state: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(by_state.items())) or "none yet"


def key_value_table(title: str) -> Table:
    """Two columns, label and value, for an 80-column terminal: labels never wrap, and a
    value too long for its column (a dataset name, a path) is folded onto the next lines,
    never cut, so it can be copied whole."""
    table = Table(title=Text(title, overflow="fold"), show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    return table


def render_state(s: RequestState, invalidated: dict[str, str] | None = None) -> Table:
    """`invalidated`: datasets whose output workflow was asked to invalidate them, with
    the reason (the request itself may have ended before)."""
    p = s.progress
    table = key_value_table(s.request_name)
    table.add_row("status", f"[bold]{s.status.value}[/]" + (" [red](stuck)[/]" if s.stuck else ""))
    table.add_row("priority", f"{s.priority}{' (urgent)' if s.urgent else ''}")
    for note in s.priority_changes[-3:]:
        table.add_row(
            "priority changed",
            f"{note.previous} -> {note.priority} by {note.by} at {note.at:%Y-%m-%d %H:%M:%S}",
        )
    if s.hold is not None:
        table.add_row("held", f"out of admission until `release` ({s.hold})")
    if s.waiting_for and s.status is RequestStatus.QUEUED:
        table.add_row("waiting for", s.waiting_for)
    if s.staging is not None and s.staging.rule_id is not None:
        st = s.staging
        table.add_row(
            "input staging",
            f"rule {st.rule_id} to {st.rse_expression}: {st.state} "
            f"({st.files} file(s) in {st.blocks} block(s), first {st.first_block})",
        )
    if s.recovery:
        table.add_row("recovers", s.recovery)
    if s.run > 1:
        table.add_row("run", f"{s.run} (submitted again with --rerun)")
    table.add_row("work units", f"{p.work_units_done}/{p.work_units_total}")
    table.add_row(
        "nodes",
        f"{p.nodes_done} done, {p.nodes_running} running, "
        f"{p.nodes_failed} failed of {p.nodes_total}",
    )
    if s.dag:
        table.add_row(
            "DAG", f"cluster {s.dag.cluster_id} on {s.dag.schedd}, attempt {s.dag_attempt}"
        )
    if s.dag_file:  # the memory ledger, when this terminal sees the DAG directory
        for line in memory_ledger.summary(Path(s.dag_file).parent):
            table.add_row("memory", line)
    for state, n in sorted(s.outputs_by_state.items()):
        table.add_row(f"outputs {state}", str(n))
    for dataset, prog in sorted(s.outputs.items()):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(prog.counts.items())) or "none yet"
        table.add_row("output", f"{dataset}: {counts}{' (done)' if prog.finished else ''}")
        for f in prog.failures:
            table.add_row("[red]output failed[/]", f)
        if dataset in (invalidated or {}):
            table.add_row("[red]invalidated[/]", f"{dataset}: {(invalidated or {})[dataset]}")
    if s.harvest_jobs or s.dqm_uploads:
        add_dqm_uploads(table, s)
    if s.production_steps:
        table.add_row(
            "steps left", ", ".join(f"{x.fraction:.0%}->{x.priority}" for x in s.production_steps)
        )
    for t in s.transitions:
        frm = t.from_status.value if t.from_status else "-"
        table.add_row("transition", f"{t.at:%H:%M:%S} {frm} -> {t.to_status.value}  {t.reason}")
    for a in s.alerts:
        table.add_row("[red]alert[/]", f"{a.at:%H:%M:%S} {a.kind}: {a.message}")
    for r in s.rejected_signals:
        table.add_row("[yellow]ignored[/]", r)
    if s.failure_reason:
        table.add_row("reason", s.failure_reason)
    if s.superseded_by_request:
        table.add_row("superseded by", s.superseded_by_request)
    if s.previous_version_request:
        table.add_row("previous version", s.previous_version_request)
    return table


MAX_DQM_FILES = 20  # of a byRun harvest of hundreds of runs: the count says the rest


def add_dqm_uploads(table: Table, s: RequestState) -> None:
    """What the harvesting jobs' DQM files became: uploaded (once the DAG is done) to
    which DQM GUI, file by file."""
    ups = s.dqm_uploads
    urls = ", ".join(sorted({u.url for u in ups}))
    where = f" to {urls}" if urls else ""
    table.add_row("DQM uploads", f"{len(ups)} file(s) of {s.harvest_jobs} harvesting job(s){where}")
    for u in ups[:MAX_DQM_FILES]:
        table.add_row("DQM file", f"{u.file} ({u.size} bytes)")
    if len(ups) > MAX_DQM_FILES:
        table.add_row("DQM file", f"... and {len(ups) - MAX_DQM_FILES} more")


LIST_COLUMNS = (
    "request",
    "status",
    "units",
    "priority",
    "campaign",
    "type",
    "stuck",
    "started",
)


def request_list(rows: list[tuple[str, ...]], width: int) -> RenderableType:
    """The `list` output. Request names are how operators identify requests, so they are
    never cut: a table when it fits in `width`, else two lines per request (the full
    name, then the rest indented)."""
    if not rows:
        return Text("no requests match")
    needed = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(LIST_COLUMNS)]
    if sum(needed) + 3 * len(needed) + 1 <= width:
        table = Table(*LIST_COLUMNS)
        for row in rows:
            table.add_row(*row)
        return table
    lines = []
    for name, status, units, priority, campaign, kind, stuck, started in rows:
        rest = [
            status + (" STUCK" if stuck else ""),
            f"units {units}" if units else "",
            f"priority {priority}",
            kind,
            campaign,
            f"started {started}",
        ]
        lines += [name, *packed([x for x in rest if x], width, indent="    ")]
    return Text("\n".join(lines), no_wrap=True, overflow="ignore")


def packed(items: list[str], width: int, indent: str) -> list[str]:
    """`items` on as few indented lines of at most `width` as they fit, two spaces apart
    (an item longer than a line gets a line of its own)."""
    lines: list[str] = []
    line = ""
    for item in items:
        if line and len(indent) + len(line) + 2 + len(item) > width:
            lines.append(indent + line)
            line = ""
        line = f"{line}  {item}" if line else item
    if line:
        lines.append(indent + line)
    return lines


def merged_files_table(request_name: str, rows: list[dict[str, object]]) -> Table:
    """The merged files of a request (the demo's last table), at 80 columns: the data
    tier tells the datasets apart, a file is shown by the first 8 characters of its name
    (a GUID) and its LFN's directory once per dataset under the table (an LFN is longer
    than a terminal line; the output workflow's `status` query lists them whole)."""
    table = Table(title=f"merged files of {request_name}", title_justify="left")
    for header, justify in (
        ("unit", "left"),
        ("tier", "left"),
        ("file", "left"),
        ("MB", "right"),
        ("events", "right"),
        ("adler32", "left"),
        ("state", "left"),
    ):
        table.add_column(header, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    directories: dict[str, str] = {}
    for r in rows:
        dataset, lfn = str(r["dataset"]), str(r["lfn"])
        directory, _, name = lfn.rpartition("/")
        directories.setdefault(dataset, directory)
        stem, dot, _ext = name.rpartition(".")
        # The GUID's first 8 characters tell the files apart; without the extension the
        # state column keeps its whole word at 80 columns.
        short = f"{stem[:8]}…" if dot and len(stem) > 8 else name
        table.add_row(
            str(r["unit"]),
            dataset.rsplit("/", 1)[-1],
            short,
            f"{int(r['size']) / 1e6:.1f}",  # type: ignore[call-overload]
            str(r["events"]),
            str(r["adler32"]),
            str(r["state"]),
        )
    table.caption = "\n".join(f"{ds}\n  in {d}/" for ds, d in directories.items())
    table.caption_justify = "left"
    return table
