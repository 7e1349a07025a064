"""What a work unit's rescue rounds teach: the sites that failed its work for site reasons
(excluded from the unit's next round) and the nodes that fail the same way in every round
(not rescued again: a person looks). Read from the POST scripts' per-try records."""

from __future__ import annotations

import json
from pathlib import Path

from wms2.dagman.jobstate import NodeState, State
from wms2.failures.evidence import Try, read_tries

EXCLUDED_SITES = "excluded_sites.json"  # read by the group's site PRE scripts (site_rules)


def exclusions_of(tries: list[Try]) -> list[str]:
    """Sites where a try of the unit failed for a site reason."""
    return sorted({t.site for t in tries if t.kind == "site" and t.site not in ("", "-")})


def hopeless_nodes(tries: list[Try], states: dict[str, NodeState], round_cap: int) -> list[str]:
    """Nodes whose last try failed in each of at least `round_cap` rescue rounds, every
    time with the same class and exit code, and that did not succeed since."""
    by_round: dict[str, dict[int, Try]] = {}
    for t in tries:
        by_round.setdefault(t.node, {})[t.round] = t  # the round's last try is its verdict
    out = []
    for node, rounds in sorted(by_round.items()):
        verdicts = list(rounds.values())
        st = states.get(node)
        if st is not None and st.state is State.SUCCEEDED:
            continue
        signatures = {(v.kind, v.exit) for v in verdicts}
        if len(verdicts) >= round_cap and all(v.failed for v in verdicts) and len(signatures) == 1:
            out.append(node)
    return out


def write_exclusions(group_dir: Path) -> list[str]:
    """Before the unit runs again: record the sites its PRE scripts must avoid (an empty
    list removes an older record's effect). The sites written."""
    sites = exclusions_of(read_tries(group_dir))
    path = group_dir / EXCLUDED_SITES
    if sites or path.exists():
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"sites": sites}) + "\n")
        tmp.replace(path)
    return sites
