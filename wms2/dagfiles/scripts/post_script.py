#!/usr/bin/env python3
"""POST script of processing and merge nodes (spec 6.4): classifies the job's exit code.

Arguments: NODE RETURN [RETRY TRANSIENT SITE MAX [LEDGER REQUEST [CLUSTER]]]. Exit 0 on
success; 1 for transient and site problems (DAGMan retries the node, possibly elsewhere);
2 for permanent errors, which the DAG's `RETRY ... UNLESS-EXIT 2` turns into "do not
retry". Before a retry it cools off: TRANSIENT * 2**RETRY seconds for a transient failure,
SITE seconds for a site problem, never more than MAX (the planner writes the settings'
values; tests scale them down).

Each decision is appended to post_script.log in the node's directory (for people) and to
node_outcomes.jsonl there (for WMS2's failure report and rescue shaping: one JSON object
per try with the node, try, rescue round, exit code, class, the site the job ran at and
the group's elected site). With LEDGER, one line `<unix time> <site> <class> <request>
<node>` goes to the submit host's outcome ledger, which WMS2 reads for failure-driven site
alerts. The site is where the job ran: the execute event of job CLUSTER in the group's
job event log (GLIDEIN_CMSSite of the slot, as HTCondor logs the machine's attributes),
else the group's elected site -- which a PRE script may have changed since the job ran.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

# $RETURN is a one-byte exit status (or negative: -signal, DAGMan's -100x codes), so the
# WMS2 scripts report with sysexits values: 2 and 64 usage, 65 bad input data, 78 bad
# configuration -- retrying cannot fix these.
PERMANENT = {2, 64, 65, 78}
# 69 service unavailable, 74 storage I/O error: a problem of the site, not of the job.
SITE = {69, 74}
EVENT_LOG = "group.log"  # the `log` of every group submit description (dagfiles.submit)
OUTCOMES = "node_outcomes.jsonl"
_SITE_ATTR = re.compile(r'^\s*GLIDEIN_CMSSite\s*=\s*"([^"]*)"')


def classify(code: int) -> str:
    if code == 0:
        return "success"
    if code in PERMANENT:
        return "permanent"
    if code in SITE:
        return "site"
    return "transient"  # signals (negative), DAGMan codes, anything unknown


def cooloff(kind: str, retry: int, transient: float, site: float, cap: float) -> float:
    """Seconds to wait before DAGMan may retry the node."""
    if kind == "transient":
        return min(transient * 2 ** max(retry, 0), cap)
    if kind == "site":
        return min(site, cap)
    return 0.0


def elected_site() -> str:
    try:
        with open("elected_site") as f:
            return f.read().strip()
    except OSError:
        return ""


def executed_site(cluster: str, log: Path = Path(EVENT_LOG)) -> str:
    """GLIDEIN_CMSSite of job CLUSTER's last execute event ('' if the log has none)."""
    if not cluster.isdigit():
        return ""
    head = f"001 ({int(cluster):03d}."
    site, inside = "", False
    try:
        with open(log, errors="replace") as f:
            for line in f:
                if line.startswith("..."):
                    inside = False
                elif line.startswith(head):
                    inside, site = True, ""  # a later execution (eviction) replaces it
                elif inside and (m := _SITE_ATTR.match(line)):
                    site = m.group(1)
    except OSError:
        return ""
    return site


def rescue_round() -> int:
    """The group DAG's runs before this one (0 in the first run, 1 in the first rescue):
    its DAGMans' starts in the JOBSTATE_LOG, less the restarts that recovered a run."""
    starts = 0
    for path in Path(".").glob("*.jobstate.log"):
        try:
            with open(path, errors="replace") as f:
                for line in f:
                    if " INTERNAL *** DAGMAN_STARTED" in line:
                        starts += 1
                    elif " INTERNAL *** RECOVERY_STARTED" in line:
                        starts -= 1
        except OSError:
            continue
    return max(starts - 1, 0)


def append(path: str | Path, text: str) -> None:
    """One short write with O_APPEND: concurrent POST scripts never interleave it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    except OSError as e:  # the classification stands; only the evidence is lost
        print(f"post_script: cannot append to {path}: {e}", file=sys.stderr)


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 6, 8, 9):
        print(
            "usage: post_script.py NODE RETURN "
            "[RETRY TRANSIENT SITE MAX [LEDGER REQUEST [CLUSTER]]]",
            file=sys.stderr,
        )
        return 1
    node = argv[0]
    try:
        code = int(argv[1])
        retry = int(argv[2]) if len(argv) >= 6 else 0
        transient, site, cap = (float(x) for x in argv[3:6]) if len(argv) >= 6 else (0, 0, 0)
    except ValueError:
        print(f"post_script: {' '.join(argv[1:])!r} are not numbers", file=sys.stderr)
        return 1
    kind = classify(code)
    wait = cooloff(kind, retry, transient, site, cap)
    with open("post_script.log", "a") as log:
        log.write(
            f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {node} exit={code} class={kind} "
            f"retry={retry} cooloff={wait:g}s\n"
        )
    cluster = argv[8] if len(argv) == 9 else ""
    elected = elected_site()
    ran_at = executed_site(cluster) or elected or "-"
    record = {
        "t": round(time.time(), 3),
        "node": node,
        "retry": retry,
        "round": rescue_round(),
        "exit": code,
        "class": kind,
        "site": ran_at,
        "elected": elected,
        "cluster": cluster,
    }
    append(OUTCOMES, json.dumps(record, separators=(",", ":")) + "\n")
    if len(argv) >= 8:
        append(argv[6], f"{time.time():.0f} {ran_at} {kind} {argv[7]} {node}\n")
    time.sleep(wait)
    return {"success": 0, "permanent": 2}.get(kind, 1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
