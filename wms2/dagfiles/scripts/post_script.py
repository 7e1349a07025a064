#!/usr/bin/env python3
"""POST script of processing and merge nodes (spec 6.4): classifies the job's exit code.

Arguments: NODE RETURN [RETRY TRANSIENT SITE MAX [LEDGER REQUEST]]. Exit 0 on success;
1 for transient and site problems (DAGMan retries the node, possibly elsewhere); 2 for
permanent errors, which the DAG's `RETRY ... UNLESS-EXIT 2` turns into "do not retry".
Before a retry it cools off: TRANSIENT * 2**RETRY seconds for a transient failure, SITE
seconds for a site problem, never more than MAX (the planner writes the settings' values;
tests scale them down). Each decision is appended to post_script.log in the node's
directory and, with LEDGER, one line `<unix time> <site> <class> <request> <node>` to the
submit host's outcome ledger, which WMS2 reads for failure-driven site alerts (the site
is the group's elected site).
"""

from __future__ import annotations

import os
import sys
import time

# $RETURN is a one-byte exit status (or negative: -signal, DAGMan's -100x codes), so the
# WMS2 scripts report with sysexits values: 2 and 64 usage, 65 bad input data, 78 bad
# configuration -- retrying cannot fix these.
PERMANENT = {2, 64, 65, 78}
# 69 service unavailable, 74 storage I/O error: a problem of the site, not of the job.
SITE = {69, 74}


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


def record_outcome(ledger: str, request: str, node: str, kind: str) -> None:
    """One short line with O_APPEND: concurrent POST scripts never interleave it."""
    try:
        with open("elected_site") as f:
            site = f.read().strip() or "-"
    except OSError:
        site = "-"
    line = f"{time.time():.0f} {site} {kind} {request} {node}\n".encode()
    try:
        fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError as e:  # the classification stands; only the evidence is lost
        print(f"post_script: cannot append to {ledger}: {e}", file=sys.stderr)


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 6, 8):
        print(
            "usage: post_script.py NODE RETURN [RETRY TRANSIENT SITE MAX [LEDGER REQUEST]]",
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
    if len(argv) == 8:
        record_outcome(argv[6], argv[7], node, kind)
    time.sleep(wait)
    return {"success": 0, "permanent": 2}.get(kind, 1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
