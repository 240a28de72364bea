"""The keyed commitment over a store's operations (FORMAT.md, "The commitment over the
operations"): a 128-bit XOR of one keyed hash per operation row, kept in `meta` with every
write, so rows removed, added or changed without the key are noticed at the next unlock.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import operator
import sqlite3
from collections.abc import Iterable

OPS_SUM = "ops_sum"
HISTORY_INCIDENT = "history_incident"  # why the last check of the commitment failed


def ops_message(claims: tuple) -> bytes:
    """What one operation's term hashes: its row's claims (op id, item, kind, parents as
    stored, deleted 0/1, device) joined by NUL, in UTF-8 (FORMAT.md)."""
    op_id, item_id, kind, parents, deleted, device = claims[:6]
    return "\x00".join((op_id, item_id, kind, parents, str(int(deleted)), device)).encode("utf-8")


def ops_messages(rows: Iterable[tuple]) -> list[bytes]:
    """`ops_message` of every row (needs no key: unlocking makes these while the KDF runs)."""
    return list(map(ops_message, rows))


def ops_term(key: bytes, claims: tuple) -> int:
    """One operation's share of the commitment: a keyed hash of `ops_message(claims)`, as a
    128-bit number (FORMAT.md)."""
    digest = hashlib.blake2b(ops_message(claims), key=key, digest_size=16).digest()
    return int.from_bytes(digest, "big")


def ops_commitment(key: bytes, rows: Iterable[tuple]) -> int:
    """XOR of every row's term: without the key, no row can be removed, added or changed and
    the sum still match."""
    return commitment_of(key, ops_messages(rows))


def commitment_of(key: bytes, messages: Iterable[bytes]) -> int:
    """XOR of the terms of these `ops_message`s."""
    term = functools.partial(hashlib.blake2b, key=key, digest_size=16)
    digests = [term(m).digest() for m in messages]
    return functools.reduce(operator.xor, map(int.from_bytes, digests, itertools.repeat("big")), 0)


def store_ops_sum(db: sqlite3.Connection, value: int) -> None:
    db.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (OPS_SUM, f"{value:032x}"),
    )
