#!/usr/bin/env python3
"""POST script of processing and merge nodes (spec 6.4): classifies the job's exit code.

Arguments: NODE RETURN. Exit 0 on success; 1 for transient and site problems (DAGMan
retries the node, possibly elsewhere); 2 for permanent errors, which the DAG's
`RETRY ... UNLESS-EXIT 2` turns into "do not retry". Each decision is appended to
post_script.log in the node's directory.
"""

from __future__ import annotations

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


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: post_script.py NODE RETURN", file=sys.stderr)
        return 1
    node = argv[0]
    try:
        code = int(argv[1])
    except ValueError:
        print(f"post_script: RETURN {argv[1]!r} is not a number", file=sys.stderr)
        return 1
    kind = classify(code)
    with open("post_script.log", "a") as log:
        log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {node} exit={code} class={kind}\n")
    return {"success": 0, "permanent": 2}.get(kind, 1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
