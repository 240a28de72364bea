"""The SQLite database of a store: its schema, the migrations from older schemas, the indexes
that make the unlock scan cheap, connecting, transactions, and SQLite's errors as VaultErrors.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from vault.errors import NotAVaultError, StorageError, VaultBusyError, VaultError
from vault.fsutil import disk_full_error
from vault.sealing.envelope import TAG_TAIL

SCHEMA_VERSION = (
    4  # 4: every operation sealed as a format version 2 envelope (vault.storage.upgrade)
)
KEYLESS_SCHEMA = 3  # the last schema a migration without the key can reach

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Every saved version of every item: an operation naming its parent operations.
CREATE TABLE ops (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,  -- local arrival order (for sync and history)
    op_id    TEXT NOT NULL UNIQUE,
    item_id  TEXT NOT NULL,
    kind     TEXT NOT NULL,
    parents  TEXT NOT NULL,                      -- JSON list of op ids
    deleted  INTEGER NOT NULL DEFAULT 0,         -- a tombstone: the item is gone
    envelope TEXT,                               -- NULL for tombstones and purged history
    device   TEXT NOT NULL                       -- the device that wrote it
);
CREATE INDEX ops_item ON ops(item_id, seq);
CREATE TABLE edges (parent TEXT NOT NULL, child TEXT NOT NULL, PRIMARY KEY (parent, child))
    WITHOUT ROWID;
-- Operations no other operation names as a parent: more than one means a conflict.
CREATE TABLE heads (item_id TEXT NOT NULL, op_id TEXT NOT NULL, PRIMARY KEY (item_id, op_id))
    WITHOUT ROWID;
-- The current state of each item, kept in step with heads in the same transaction.
CREATE TABLE items (
    item_id  TEXT PRIMARY KEY,
    kind     TEXT NOT NULL,
    op_id    TEXT NOT NULL,
    envelope TEXT,
    deleted  INTEGER NOT NULL DEFAULT 0,
    conflict INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX items_kind ON items(kind, deleted);
"""

# Applied in order to stores written by an older version (and after SCHEMA at creation), each
# in the transaction that records the new schema number.
MIGRATIONS: dict[int, str] = {
    # Sync (vault/sync): the operations the shared folder already holds (mine = this device
    # published it), and every device's chain files seen in the folder.
    2: """
CREATE TABLE sync_ops (op_id TEXT PRIMARY KEY, mine INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE sync_files (
    device TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    hash   TEXT NOT NULL,
    kind   TEXT NOT NULL,
    size   INTEGER NOT NULL,
    PRIMARY KEY (device, seq, hash)
) WITHOUT ROWID;
""",
    # Forked items, found without a scan (every sync looks for them).
    3: """
CREATE INDEX IF NOT EXISTS items_conflict ON items(item_id) WHERE conflict = 1;
""",
}


# Accelerators for scan_history, which reads every operation's claims and the end of its
# envelope at every unlock. In the table, `device` and the envelope's end lie past the envelope
# (overflow pages): reading them walks all of the envelopes' bytes. These indexes hold just
# those columns. They are no format change and no new trust: SQLite keeps them in step with the
# tables, an index entry is as forgeable as the row it copies and is checked the same way (the
# claims are the envelope's associated data; the snapshot's version tags cover the tail), and a
# store without them (dropped, or opened read-only) is scanned from the tables as before.
SCAN_INDEXES = {
    "ops_scan": "CREATE INDEX IF NOT EXISTS ops_scan ON ops"
    f"(op_id, item_id, kind, parents, deleted, device, substr(envelope, -{TAG_TAIL}))",
    "items_scan": "CREATE INDEX IF NOT EXISTS items_scan ON items"
    "(item_id, kind, op_id, deleted, conflict)",
}


def db_error(exc: sqlite3.Error, path: Path) -> Exception:
    text = str(exc).lower()
    if "full" in text or "disk i/o error" in text:
        full = disk_full_error(path.parent, f"use {path}")
        if full is not None:
            return full
    if "full" in text:
        return StorageError(f"cannot write {path}: the disk is full; nothing was changed")
    if "locked" in text or "busy" in text:
        return VaultBusyError(
            "the vault is busy in another process (a sync or another vault command); try again"
        )
    if "readonly" in text or "read-only" in text:
        return StorageError(f"cannot write {path}: the file system is read-only")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return NotAVaultError(
            f"{path} is damaged ({text}); restore the vault from a backup or another device"
        )
    return StorageError(f"{path}: {exc}")


def run_script(db: sqlite3.Connection, script: str) -> None:
    """executescript() would commit the open transaction, so run statement by statement."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def migrate(db: sqlite3.Connection, path: Path, schema: int) -> None:
    try:
        with db_transaction(db, path):
            # Re-read inside the write lock: another process may have migrated meanwhile.
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            current = int(row[0]) if row else 0
            if current >= KEYLESS_SCHEMA:
                return
            for version in sorted(v for v in MIGRATIONS if v > current):
                run_script(db, MIGRATIONS[version])
            db.execute(
                "INSERT INTO meta(key, value) VALUES ('schema', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(KEYLESS_SCHEMA),),
            )
    except VaultError:
        db.close()
        raise


def connect(path: Path, *, create: bool) -> sqlite3.Connection:
    if not create and not path.exists():
        raise NotAVaultError(f"{path} is missing")
    old_umask = os.umask(0o077)  # the WAL and shared-memory files must be private too
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit that returned survives a power cut; notes are worth an fsync.
        db.execute("PRAGMA synchronous=FULL")
        # Deleted content (purged notes, replaced envelopes) is overwritten, not left in pages.
        db.execute("PRAGMA secure_delete=ON")
        db.execute("PRAGMA foreign_keys=ON")
    except sqlite3.Error as exc:
        raise db_error(exc, path) from None
    finally:
        os.umask(old_umask)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
    return db


@contextlib.contextmanager
def db_transaction(db: sqlite3.Connection, path: Path) -> Iterator[None]:
    try:
        # IMMEDIATE takes the write lock up front, so two processes never deadlock mid-way.
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise db_error(exc, path) from None
    try:
        yield
    except sqlite3.Error as exc:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise db_error(exc, path) from None
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    try:
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise db_error(exc, path) from None
