"""The failure report of a request: its failed and held nodes grouped by cause, what each
cause cost and touched, and what WMS2 did or will do about it. Small by construction (a
Temporal payload and a workflow query answer): groups, units and stderr lines are capped."""

from __future__ import annotations

from pydantic import BaseModel, Field

MAX_GROUPS = 20
MAX_UNITS_LISTED = 8
TAIL_LINES = 5


class FailureGroup(BaseModel):
    """Failed tries of one cause: POST class and exit code (a site error: at one site),
    or a hold and its reason."""

    kind: str  # transient, site, permanent (the POST script's class) or held
    exit_code: int | None = None
    site: str = ""  # the failing site, for site errors
    hold_reason: str = ""
    tries: int = 0  # failed (or held) tries of this cause, over every round
    nodes: int = 0  # distinct nodes that had such a try
    still_failed: int = 0  # of those, nodes whose last word is this failure
    sites: dict[str, int] = Field(default_factory=dict)  # where the tries ran -> tries
    rounds: int = 1  # rescue rounds in which it happened
    units: list[str] = Field(default_factory=list)  # first MAX_UNITS_LISTED affected
    units_total: int = 0
    files: int = 0  # what the affected nodes read
    lumis: int = 0
    events: int = 0
    example: str = ""  # unit/node of one try
    stderr_tail: list[str] = Field(default_factory=list)
    action: str = ""  # what WMS2 did or will do

    @property
    def cause(self) -> str:
        if self.kind == "held":
            return f"held: {self.hold_reason or 'no reason logged'}"
        where = f" at {self.site}" if self.site else ""
        return f"{self.kind} exit {self.exit_code}{where}"


class FailureReport(BaseModel):
    request_name: str
    generated_at: float = 0.0  # unix time
    rounds: int = 1  # the DAG's runs so far (1 + rescue rounds)
    nodes_failed: int = 0  # nodes whose last word is a failure
    nodes_held: int = 0  # nodes held now
    nodes_recovered: int = 0  # nodes that failed a try and then succeeded
    tries_failed: int = 0
    groups: list[FailureGroup] = Field(default_factory=list)
    groups_total: int = 0
    hopeless: list[str] = Field(default_factory=list)  # unit/node that fail every round
    exclusions: dict[str, list[str]] = Field(default_factory=dict)  # unit -> sites it avoids
    # unit -> the memory its rescue starts its processing jobs with, and why (the ledger)
    memory_raises: dict[str, str] = Field(default_factory=dict)
    decision: str = ""  # the request's: rescue, review, failed (set at the DAG's end)
    round_cap: int = 0  # the setting the hopeless nodes were judged by

    def summary_line(self, width: int = 120) -> str:
        """One line for the Web UI's current details and `starter.py status`."""
        if not self.tries_failed and not self.nodes_held:
            return "no failed or held jobs"
        head = (
            f"{self.nodes_failed} node(s) failed, {self.nodes_held} held, "
            f"{self.nodes_recovered} recovered ({self.tries_failed} failed tries)"
        )
        causes = "; ".join(f"{g.cause} x{g.tries}" for g in self.groups[:3])
        line = f"{head}: {causes}" + (f" -> {self.decision}" if self.decision else "")
        return line if len(line) <= width else line[: width - 3] + "..."
