"""Which tracker shard watches a DAG: a stable key (its schedd and request), hashed.

Python's `hash()` differs between processes; a digest is the same on every worker, so
all workers agree on a DAG's shard without talking to each other (crc32 would do as
well, but its low bits spread names that differ in one digit badly). A request's DAGs stay in
one shard while they stay on one schedd.
"""

from __future__ import annotations

import hashlib


def shard_of(schedd: str | None, request_name: str, shards: int) -> int:
    if shards <= 1:
        return 0
    digest = hashlib.blake2b(f"{schedd or ''}/{request_name}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") % shards
