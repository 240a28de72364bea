"""The keyed commitment over a store's operations (FORMAT.md, "The commitment over the
operations"): a 128-bit XOR of one keyed hash per operation row, kept in `meta` with every
write, so rows removed, added or changed without the key are noticed at the next unlock.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable

OPS_SUM = "ops_sum"
HISTORY_INCIDENT = "history_incident"  # why the last check of the commitment failed


def ops_term(key: bytes, claims: tuple) -> int:
    """One operation's share of the commitment: a keyed hash of its row's claims (op id, item,
    kind, parents as stored, deleted 0/1, device), as a 128-bit number (FORMAT.md)."""
    op_id, item_id, kind, parents, deleted, device = claims[:6]
    data = "\x00".join((op_id, item_id, kind, parents, str(int(deleted)), device))
    digest = hashlib.blake2b(data.encode("utf-8"), key=key, digest_size=16).digest()
    return int.from_bytes(digest, "big")


def ops_commitment(key: bytes, rows: Iterable[tuple]) -> int:
    """XOR of every row's term: without the key, no row can be removed, added or changed and
    the sum still match."""
    total = 0
    for row in rows:
        total ^= ops_term(key, row)
    return total


def store_ops_sum(db: sqlite3.Connection, value: int) -> None:
    db.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (OPS_SUM, f"{value:032x}"),
    )
