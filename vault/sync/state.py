"""What this device remembers about the sync folder, kept in the vault's own store.

Kept in the same SQLite database as the items (tables `sync_ops` and `sync_files`, plus a few
`sync.*` meta keys), so ingesting a chain file and recording that it was applied is one
transaction: a sync killed at any point leaves the vault and this record in step.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from vault.storage.store import Op, Store

REMOTE = "sync.remote"  # the folder this vault syncs with (absolute path)
CURSOR = "sync.cursor"  # every local op at or below this store seq is in the folder
LAST = "sync.last"  # JSON summary of the last sync, for status() without touching the folder
ACKS = "sync.acks"  # JSON {device: {device: seq}}: what each device says it has applied
PUBLISHED_ACKS = "sync.published_acks"  # JSON {device: seq}: what this device last said
WALLS = "sync.walls"  # JSON {device: ms}: the newest clock reading each device wrote
RESERVED = "sync.reserved"  # "<device>:<seq>": the last position this device chose to write
JUDGED = "sync.judged"  # JSON {"device/name": size}: odd files already read and set aside
FOLDER = "sync.folder"  # the folder the rest of this state describes (absolute path)
HEADER_SEEN = "sync.header_seen"  # path, size, mtime and inode of the header last checked
SLOTS = "sync.slots"  # JSON {digest: size}: the key slot files this device published
REJECTED = "sync.rejected"  # JSON {"device/name": [size, mtime_ns, reason]}: files refused
RING = "sync.ring"  # the ids of the keys this device could read with at the last run
OWN_SEEN = "sync.own_seen"  # JSON {name: mtime_ns}: own files whose bytes were checked so

_OP_COLUMNS = "seq, op_id, item_id, kind, parents, deleted, envelope, device"


@dataclass(frozen=True)
class FileRecord:
    """A chain file this device has applied (or, for its own, written)."""

    device: str
    seq: int
    hash: str
    kind: str
    size: int  # -1: known only by name (an own file found damaged; older versions' snapshots)


def _op(row: tuple) -> Op:
    seq, op_id, item_id, kind, parents, deleted, envelope, device = row
    return Op(
        op_id, item_id, kind, tuple(json.loads(parents)), bool(deleted), envelope, device, seq
    )


class SyncState:
    def __init__(self, store: Store) -> None:
        self.store = store

    # --- meta ------------------------------------------------------------------------------

    def get_json(self, key: str, default: Any) -> Any:
        raw = self.store.meta(key)
        if raw is None:
            return default
        try:
            return json.loads(raw)
        except ValueError:
            return default

    @staticmethod
    def set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    @classmethod
    def set_json(cls, db: sqlite3.Connection, key: str, value: Any) -> None:
        cls.set_meta(db, key, json.dumps(value, sort_keys=True, separators=(",", ":")))

    @staticmethod
    def reset(db: sqlite3.Connection, folder: str) -> None:
        """Forget everything about a previous folder: the next run sends every operation and
        reads every file of the new one (both idempotent), so nothing is lost by forgetting."""
        db.execute("DELETE FROM sync_ops")
        db.execute("DELETE FROM sync_files")
        db.execute("DELETE FROM meta WHERE key LIKE 'sync.%' AND key NOT IN (?, ?)", (REMOTE, LAST))
        SyncState.set_meta(db, FOLDER, folder)

    # --- chain files ---------------------------------------------------------------------------

    def files(self) -> dict[str, dict[int, list[FileRecord]]]:
        """device -> seq -> records (more than one only when a log forked)."""
        result: dict[str, dict[int, list[FileRecord]]] = {}
        for device, seq, digest, kind, size in self.store.query(
            "SELECT device, seq, hash, kind, size FROM sync_files"
        ):
            rec = FileRecord(device, seq, digest, kind, size)
            result.setdefault(device, {}).setdefault(seq, []).append(rec)
        return result

    @staticmethod
    def record_file(db: sqlite3.Connection, rec: FileRecord) -> None:
        db.execute(
            "INSERT OR REPLACE INTO sync_files(device, seq, hash, kind, size) "
            "VALUES (?, ?, ?, ?, ?)",
            (rec.device, rec.seq, rec.hash, rec.kind, rec.size),
        )

    @staticmethod
    def forget_files(db: sqlite3.Connection, device: str, below: int) -> None:
        db.execute("DELETE FROM sync_files WHERE device = ? AND seq < ?", (device, below))

    @staticmethod
    def forget_file(db: sqlite3.Connection, rec: FileRecord) -> None:
        db.execute(
            "DELETE FROM sync_files WHERE device = ? AND seq = ? AND hash = ?",
            (rec.device, rec.seq, rec.hash),
        )

    # --- operations ------------------------------------------------------------------------------

    @staticmethod
    def mark_known(db: sqlite3.Connection, op_ids: Iterable[str], *, mine: bool) -> None:
        if mine:
            db.executemany(
                "INSERT INTO sync_ops(op_id, mine) VALUES (?, 1) "
                "ON CONFLICT(op_id) DO UPDATE SET mine = 1",
                [(o,) for o in op_ids],
            )
        else:
            db.executemany(
                "INSERT OR IGNORE INTO sync_ops(op_id, mine) VALUES (?, 0)",
                [(o,) for o in op_ids],
            )

    def published(self, op_ids: list[str]) -> bool:
        """Does the folder already hold every one of these operations?"""
        for i in range(0, len(op_ids), 500):
            chunk = op_ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.store.query(
                f"SELECT count(*) FROM sync_ops WHERE op_id IN ({marks})", tuple(chunk)
            )
            if rows[0][0] != len(set(chunk)):
                return False
        return True

    def cursor(self) -> int:
        return int(self.store.meta(CURSOR, "0") or 0)

    def unpushed(self, limit: int) -> list[Op]:
        """Operations in this vault that the folder does not hold yet, oldest first."""
        rows = self.store.query(
            f"SELECT {_OP_COLUMNS} FROM ops WHERE seq > ? AND op_id NOT IN "
            "(SELECT op_id FROM sync_ops) ORDER BY seq LIMIT ?",
            (self.cursor(), limit),
        )
        return [_op(r) for r in rows]

    def unpushed_count(self) -> int:
        rows = self.store.query(
            "SELECT count(*) FROM ops WHERE seq > ? AND op_id NOT IN (SELECT op_id FROM sync_ops)",
            (self.cursor(),),
        )
        return int(rows[0][0])

    def advance_cursor(self, db: sqlite3.Connection) -> None:
        """Move the cursor past every op the folder now holds, so idle syncs scan nothing."""
        cursor = self.cursor()
        row = db.execute(
            "SELECT min(seq) FROM ops WHERE seq > ? AND op_id NOT IN (SELECT op_id FROM sync_ops)",
            (cursor,),
        ).fetchone()
        if row[0] is not None:
            new = row[0] - 1
        else:
            new = db.execute("SELECT coalesce(max(seq), 0) FROM ops").fetchone()[0]
        if new > cursor:
            self.set_meta(db, CURSOR, str(new))

    def my_ops(self) -> Iterator[Op]:
        """Every operation this device has published, for a snapshot (streamed)."""
        last = 0
        while True:
            rows = self.store.query(
                f"SELECT {_OP_COLUMNS} FROM ops WHERE seq > ? AND op_id IN "
                "(SELECT op_id FROM sync_ops WHERE mine = 1) ORDER BY seq LIMIT 5000",
                (last,),
            )
            if not rows:
                return
            for r in rows:
                yield _op(r)
            last = rows[-1][0]
