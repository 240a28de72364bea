"""The local store: one folder holding a header, key slots and an SQLite database.

    <vault>/vault.json          header: format, version, vault id (written last at creation)
    <vault>/keys/<slot>.json    one wrapped master key per slot
    <vault>/store.sqlite        items and their full history (WAL)

The store never sees plaintext: it keeps sealed envelopes and the history graph (operation ids
and parents), which is what sync and revision history both need. Every change is one SQLite
transaction, so a crash leaves the old state or the new one.

Nothing here is trusted by readers: each operation's row is checked against its sealed envelope
(format version 2 binds the row's claims into the envelope's AD), and the tables `edges`,
`heads` and `items` are only an index of the operations, checked against them (`check_index`)
and rebuilt from them when they disagree.

This module is the `Store` class (about 620 lines) and stays one: every method shares the one
SQLite connection, its lock and its transaction, and splitting them would pass those around.
What needs none of them lives apart: the header and file names (vault.storage.header), the
schema, migrations and connecting (vault.storage.schema), the row types and their SQL
(vault.storage.rows) and the keyed commitment (vault.storage.commitment); the names others
import from here are re-exported.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from vault.errors import (
    NotAVaultError,
    UnsupportedFormatError,
    VaultError,
    VaultExistsError,
    VaultNotFoundError,
)
from vault.fsutil import atomic_write, ensure_private_dir, fsync_dir, read_small
from vault.sealing.envelope import TAG_TAIL, tag_of
from vault.sealing.keys import Slot
from vault.storage.commitment import (
    HISTORY_INCIDENT,
    OPS_SUM,
    commitment_of,
    ops_commitment,
    ops_term,
    store_ops_sum,
)
from vault.storage.header import (
    DB_NAME,
    FORMAT_NAME,
    FORMAT_VERSION,
    HEADER,
    KEYS_DIR,
    READABLE_VERSIONS,
    is_aborted_creation,
    read_header,
    remove_aborted_creation,
    write_header,
)
from vault.storage.rows import (
    ITEM_SELECT,
    ONE_PARENT,
    OP_COLUMNS,
    HistoryScan,
    ItemRow,
    Op,
    item_row,
    op_from_row,
    parse_parents,
    shared_name,
)
from vault.storage.schema import (
    KEYLESS_SCHEMA,
    MIGRATIONS,
    SCAN_INDEXES,
    SCHEMA,
    SCHEMA_VERSION,
    connect,
    db_error,
    db_transaction,
    migrate,
    run_script,
)

# What the rest of vault imports from here (the parts live in the modules named).
__all__ = [
    "DB_NAME",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "HEADER",
    "HISTORY_INCIDENT",
    "KEYLESS_SCHEMA",
    "KEYS_DIR",
    "OPS_SUM",
    "READABLE_VERSIONS",
    "SCHEMA_VERSION",
    "HistoryScan",
    "ItemRow",
    "Op",
    "Store",
    "commitment_of",
    "ops_commitment",
    "ops_term",
    "parse_parents",
    "read_header",
    "store_ops_sum",
    "write_header",
]


# The page cache of a bulk write (Store.large_cache), in KiB.
BULK_CACHE_KIB = 64 * 1024


class Store:
    """A vault folder on disk. Thread-safe: one connection guarded by a lock."""

    def __init__(self, path: Path, vault_id: str, db: sqlite3.Connection) -> None:
        self.path = path
        self.vault_id = vault_id
        self._db = db
        self._lock = threading.RLock()
        # PRAGMA data_version moves only for other connections' commits; ours are counted here.
        self._local_writes = 0
        # `data_version()` as the last write transaction began, and as it left it: a cache that
        # was current at the first, and applied that write itself, is current at the second.
        self.last_write: tuple[int, int] | None = None
        # The operations the last write transaction inserted (`_insert`), or None if it also
        # changed rows another way (purge, rekey, an index rebuild): a cache that applied
        # exactly that many of its own writes in it is current after it (`ItemCache.batch`).
        self.last_write_ops: int | None = None
        self._tx_ops: int | None = 0
        # The key slot files the last `slots()` could not read, with why: skipped, so one
        # damaged file costs only its own way in (the others, the recovery key, still open).
        self.damaged_slots: list[tuple[str, str]] = []
        # The key of the commitment over every operation row (`ops_sum`): set by the vault that
        # opened this store; an operation is never written without it.
        self.commit_key: bytes | None = None

    # --- opening and creating ------------------------------------------------------------

    @staticmethod
    def exists(path: Path) -> bool:
        return (path / HEADER).is_file()

    @staticmethod
    def check_can_create(path: Path) -> None:
        """Refuse early (before asking for a password) if a vault cannot be made at `path`."""
        if (path / HEADER).exists():
            raise VaultExistsError(f"there is already a vault at {path}")
        if path.exists() and not path.is_dir():
            raise VaultExistsError(f"{path} exists and is not a folder")
        if path.is_dir() and any(path.iterdir()) and not is_aborted_creation(path):
            raise VaultExistsError(f"{path} is not empty; choose an empty or new folder")

    @staticmethod
    def create(
        path: Path, vault_id: str, device_id: str, master_id: str, slots: list[Slot]
    ) -> Store:
        """Create a vault folder. vault.json is written last: its presence marks a whole vault."""
        path = path.expanduser()
        Store.check_can_create(path)
        if path.is_dir() and any(path.iterdir()):
            remove_aborted_creation(path)
        ensure_private_dir(path)
        ensure_private_dir(path / KEYS_DIR)
        db = connect(path / DB_NAME, create=True)
        try:
            db.executescript(SCHEMA)
            with db_transaction(db, path):
                for version in sorted(MIGRATIONS):
                    run_script(db, MIGRATIONS[version])
                db.executemany(
                    "INSERT INTO meta(key, value) VALUES (?, ?)",
                    [
                        ("schema", str(SCHEMA_VERSION)),
                        ("vault_id", vault_id),
                        ("device_id", device_id),
                        ("mk_id", master_id),
                    ],
                )
        except sqlite3.Error as exc:
            db.close()
            raise db_error(exc, path / DB_NAME) from None
        store = Store(path, vault_id, db)
        store.ensure_scan_indexes()
        for slot in slots:
            store.write_slot(slot)
        write_header(path, vault_id)
        return store

    @staticmethod
    def open(path: Path) -> Store:
        path = path.expanduser()
        if not path.exists():
            raise VaultNotFoundError(f"no vault at {path}; create one with `vault init`")
        if not path.is_dir():
            raise NotAVaultError(f"{path} is not a vault folder")
        vault_id, version = read_header(path)
        db_path = path / DB_NAME
        if not db_path.is_file():
            raise NotAVaultError(
                f"{path} is damaged: {DB_NAME} is missing; restore from a backup or another device"
            )
        db = connect(db_path, create=False)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.Error as exc:
            db.close()
            raise db_error(exc, db_path) from None
        if meta.get("vault_id") != vault_id:
            db.close()
            raise NotAVaultError(f"{path} is damaged: the store belongs to another vault")
        schema = int(meta.get("schema", "0"))
        if schema > SCHEMA_VERSION:
            db.close()
            raise UnsupportedFormatError(
                f"{path} was written by a newer version of vault; upgrade vault"
            )
        if schema < KEYLESS_SCHEMA:
            migrate(db, db_path, schema)
        if schema >= SCHEMA_VERSION and version < FORMAT_VERSION:
            # The upgrade committed but was stopped before it rewrote the header.
            write_header(path, vault_id)
        store = Store(path, vault_id, db)
        store.ensure_scan_indexes()
        return store

    def ensure_scan_indexes(self) -> None:
        """Create the indexes scan_history reads (once per store: about 0.1 s at 10,000
        notes). Best effort: without them the scan reads the tables, only slower."""
        with self._lock:
            try:
                present = {
                    r[0]
                    for r in self._db.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'index'"
                    ).fetchall()
                }
                missing = [sql for name, sql in SCAN_INDEXES.items() if name not in present]
                if missing:
                    with db_transaction(self._db, self.path):
                        for sql in missing:
                            self._db.execute(sql)
            except (sqlite3.Error, VaultError):
                pass

    @property
    def needs_upgrade(self) -> bool:
        """A version 1 store: its operations are sealed anew at the next unlock
        (vault.storage.upgrade)."""
        return int(self.meta("schema", "0") or 0) < SCHEMA_VERSION

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- meta ------------------------------------------------------------------------------

    def previous_master_ids(self) -> list[str]:
        """The ids of the master keys this vault used before its rekeys, oldest first."""
        return [p for p in (self.meta("mk_previous") or "").split(",") if p]

    def ops_sum(self) -> int | None:
        """The recorded commitment over every operation row (None: none recorded)."""
        with self._lock:
            return self._ops_sum(self._db)

    @staticmethod
    def _ops_sum(db: sqlite3.Connection) -> int | None:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (OPS_SUM,)).fetchone()
        try:
            return int(row[0], 16) if row else None
        except (TypeError, ValueError):
            return -1  # not a number: never equal to a computed sum

    def set_ops_sum(self, value: int) -> None:
        with self.transaction() as db:
            store_ops_sum(db, value)

    def meta(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            row = self._query("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self._lock, self.transaction():
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    @property
    def device_id(self) -> str:
        value = self.meta("device_id")
        assert value is not None
        return value

    @property
    def master_id(self) -> str:
        value = self.meta("mk_id")
        assert value is not None
        return value

    def data_version(self) -> int:
        """Changes when any connection (another process too) commits: cheap change detection."""
        with self._lock:
            return self.others_version() + self._local_writes

    def others_version(self) -> int:
        """Changes only when another connection commits (SQLite's data_version ignores this
        connection's own commits)."""
        with self._lock:
            return int(self._query("PRAGMA data_version").fetchone()[0])

    # --- key slots -------------------------------------------------------------------------

    def slots(self, master_id: str | None = None) -> list[Slot]:
        """Slots for the current master key; slots left over by an interrupted rekey are skipped."""
        master_id = master_id or self.master_id
        keys_dir = self.path / KEYS_DIR
        try:
            names = sorted(p for p in keys_dir.iterdir() if p.suffix == ".json")
        except OSError:
            raise NotAVaultError(f"{self.path} is damaged: the keys folder is missing") from None
        slots = []
        damaged: list[tuple[str, str]] = []
        for p in names:
            if p.name.startswith("."):
                continue
            try:
                slot = Slot.from_json(read_small(p), p.name)
            except (OSError, ValueError):
                damaged.append((p.name, "not a readable file"))
                continue
            except VaultError as exc:
                damaged.append((p.name, str(exc).removeprefix(p.name).lstrip(": ")))
                continue
            if slot.master_id == master_id:
                slots.append(slot)
        self.damaged_slots = damaged
        return slots

    def write_slot(self, slot: Slot) -> None:
        atomic_write(self.path / KEYS_DIR / f"{slot.slot_id}.json", slot.to_json())

    def remove_slot(self, slot_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.path / KEYS_DIR / f"{slot_id}.json").unlink()
        fsync_dir(self.path / KEYS_DIR)

    def remove_stale_slots(self) -> None:
        """Delete slots for a master key that is no longer current (an interrupted rekey)."""
        current = self.master_id
        removed = False
        for p in (self.path / KEYS_DIR).glob("*.json"):
            try:
                slot = Slot.from_json(read_small(p), str(p))
            except Exception:
                continue
            if slot.master_id != current:
                p.unlink(missing_ok=True)
                removed = True
        if removed:  # (nothing removed, nothing to make durable: every unlock calls this)
            fsync_dir(self.path / KEYS_DIR)

    # --- transactions ----------------------------------------------------------------------

    @contextlib.contextmanager
    def large_cache(self, kib: int = BULK_CACHE_KIB) -> Iterator[None]:
        """A larger SQLite page cache for the length of one bulk write (a Markdown import).
        Each new operation lands at a random place in several large indexes (random ids); with
        the default 2 MiB cache, a store of 100,000 notes reads and writes most of those pages
        again for every batch (importing 100,000 notes: about 120 s against 80 s here). The
        memory is bounded by `kib` and given back afterwards."""
        with self._lock:
            before = int(self._query("PRAGMA cache_size").fetchone()[0])
            self._query(f"PRAGMA cache_size = {-int(kib)}")
        try:
            yield
        finally:
            with self._lock:
                self._query(f"PRAGMA cache_size = {before}")
                self._query("PRAGMA shrink_memory")

    @property
    def in_transaction(self) -> bool:
        with self._lock:
            return self._db.in_transaction

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db.in_transaction:
                yield self._db  # nested: the outer transaction commits
                return
            self.last_write = None  # until this one commits (a batch's writes: never)
            self.last_write_ops = None
            self._tx_ops = 0
            with db_transaction(self._db, self.path / DB_NAME):
                # Under the write lock: no other connection commits until we have.
                before = self._query("PRAGMA data_version").fetchone()[0] + self._local_writes
                yield self._db
            self._local_writes += 1
            self.last_write = (before, before + 1)
            self.last_write_ops = self._tx_ops

    def _query(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, args)
        except sqlite3.Error as exc:
            raise db_error(exc, self.path / DB_NAME) from None

    # --- items -----------------------------------------------------------------------------

    def items(self, kind: str | None = None, *, include_deleted: bool = False) -> list[ItemRow]:
        sql = ITEM_SELECT
        clauses, args = [], []
        if kind is not None:
            clauses.append("i.kind = ?")
            args.append(kind)
        if not include_deleted:
            clauses.append("o.deleted = 0")
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        with self._lock:
            rows = self._query(sql, tuple(args)).fetchall()
        return [item_row(r) for r in rows]

    def item_states(
        self, kinds: Iterable[str] | None = None, *, envelopes: bool = False
    ) -> dict[str, ItemRow]:
        """Live item id -> its current row (without the envelope unless asked): cheap change
        detection for a cache (which compares the claims it verified). `kinds` limits it."""
        # The end of the envelope is enough for the snapshot's check (envelope.version_tag).
        envelope = f"substr(o.envelope, -{TAG_TAIL})" if envelopes else "NULL"
        sql = (
            f"SELECT i.item_id, i.kind, i.op_id, {envelope}, o.deleted, i.conflict, o.parents, "
            "o.device FROM items i JOIN ops o ON o.op_id = i.op_id WHERE o.deleted = 0"
        )
        params: tuple[str, ...] = ()
        if kinds is not None:
            params = tuple(sorted(kinds))
            sql += f" AND i.kind IN ({','.join('?' * len(params))})"
        with self._lock:
            rows = self._query(sql, params)
            return {r[0]: item_row(r) for r in rows.fetchall()}

    def high_water(self) -> int:
        """The highest op `seq` (AUTOINCREMENT: never reused; every commit adds larger ones)."""
        with self._lock:
            row = self._query("SELECT max(seq) FROM ops").fetchone()
        return int(row[0] or 0)

    def changed_since(self, seq: int, limit: int) -> set[str] | None:
        """The items with an operation whose `seq` is above `seq` (a range of the primary
        key: only the new rows are read), or None if there are more than `limit`."""
        with self._lock:
            rows = self._query(
                "SELECT DISTINCT item_id FROM ops WHERE seq > ? LIMIT ?", (seq, limit + 1)
            ).fetchall()
        return None if len(rows) > limit else {str(r[0]) for r in rows}

    def items_by_id(self, item_ids: list[str]) -> list[ItemRow]:
        rows: list[ItemRow] = []
        with self._lock:
            if len(item_ids) > 2000:  # most of the store: one scan beats many lookups
                wanted = set(item_ids)
                return [r for r in self.items(include_deleted=True) if r.item_id in wanted]
            for i in range(0, len(item_ids), 500):
                chunk = item_ids[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for r in self._query(
                    ITEM_SELECT + f" WHERE i.item_id IN ({marks})", tuple(chunk)
                ).fetchall():
                    rows.append(item_row(r))
        return rows

    def item(self, item_id: str) -> ItemRow | None:
        with self._lock:
            r = self._query(ITEM_SELECT + " WHERE i.item_id = ?", (item_id,)).fetchone()
        return item_row(r) if r else None

    def heads(self, item_id: str) -> list[Op]:
        with self._lock:
            rows = self._query(
                f"SELECT {OP_COLUMNS} FROM ops WHERE op_id IN "
                "(SELECT op_id FROM heads WHERE item_id = ?) ORDER BY op_id",
                (item_id,),
            ).fetchall()
        return [op_from_row(r) for r in rows]

    def op(self, op_id: str) -> Op | None:
        with self._lock:
            r = self._query(f"SELECT {OP_COLUMNS} FROM ops WHERE op_id = ?", (op_id,)).fetchone()
        return op_from_row(r) if r else None

    def history(self, item_id: str) -> list[Op]:
        """Every version of an item, oldest first (local arrival order)."""
        with self._lock:
            rows = self._query(
                f"SELECT {OP_COLUMNS} FROM ops WHERE item_id = ? ORDER BY seq", (item_id,)
            ).fetchall()
        return [op_from_row(r) for r in rows]

    def ops_after(self, seq: int, *, device: str | None = None, limit: int = 10_000) -> list[Op]:
        """Operations that arrived after `seq` (optionally only those one device wrote)."""
        sql = f"SELECT {OP_COLUMNS} FROM ops WHERE seq > ?"
        args: tuple = (seq,)
        if device is not None:
            sql += " AND device = ?"
            args += (device,)
        sql += " ORDER BY seq LIMIT ?"
        with self._lock:
            return [op_from_row(r) for r in self._query(sql, (*args, limit)).fetchall()]

    def all_ops(self) -> Iterator[Op]:
        """Every operation in arrival order, streamed (backups, rekey)."""
        last = 0
        while True:
            batch = self.ops_after(last, limit=2000)
            if not batch:
                return
            yield from batch
            last = batch[-1].seq

    def head_ops(self, batch: int = 2000) -> Iterator[Op]:
        """The current version(s) of every item, tombstones included, in arrival order,
        streamed `batch` at a time (backups without history)."""
        last = 0
        while True:
            with self._lock:
                rows = self._query(
                    f"SELECT {OP_COLUMNS} FROM ops WHERE seq > ? AND EXISTS (SELECT 1 FROM "
                    "heads h WHERE h.item_id = ops.item_id AND h.op_id = ops.op_id) "
                    "ORDER BY seq LIMIT ?",
                    (last, batch),
                ).fetchall()
            if not rows:
                return
            ops = [op_from_row(r) for r in rows]
            yield from ops
            last = ops[-1].seq

    def last_seq(self) -> int:
        """The arrival number of the newest operation (0 for none): changes with every write."""
        with self._lock:
            return int(self._query("SELECT coalesce(max(seq), 0) FROM ops").fetchone()[0])

    def write(self, op: Op) -> Op:
        """Record a new operation sealed on this device (notes.Vault seals it: see
        `Vault.seal_op`)."""
        with self.transaction():
            self._insert(op)
        return op

    def ingest(self, ops: Iterable[Op]) -> list[Op]:
        """Add operations from elsewhere (sync, backup restore). Idempotent: known ops are
        skipped. Returns the ones that were new."""
        added = []
        with self.transaction():
            for op in ops:
                if self._db.execute("SELECT 1 FROM ops WHERE op_id = ?", (op.op_id,)).fetchone():
                    continue
                self._insert(op)
                added.append(op)
        return added

    def ingest_count(self, ops: Iterable[Op]) -> int:
        """`ingest` for a long stream (a backup restore): one transaction, but it counts the
        new operations instead of keeping them, so memory stays flat however many there are."""
        added = 0
        with self.transaction():
            for op in ops:
                if self._db.execute("SELECT 1 FROM ops WHERE op_id = ?", (op.op_id,)).fetchone():
                    continue
                self._insert(op)
                added += 1
        return added

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        """Read-only SQL for modules that keep their own tables here (sync state)."""
        with self._lock:
            return self._query(sql, args).fetchall()

    def conflicted_ids(self) -> list[str]:
        with self._lock:
            rows = self._query("SELECT item_id FROM items WHERE conflict = 1").fetchall()
        return [r[0] for r in rows]

    def has_op(self, op_id: str) -> bool:
        with self._lock:
            return self._query("SELECT 1 FROM ops WHERE op_id = ?", (op_id,)).fetchone() is not None

    def _insert(self, op: Op) -> None:
        db = self._db
        parents = json.dumps(list(op.parents))
        if self.commit_key is None:
            raise RuntimeError("an operation written without the vault's key")
        db.execute(
            "INSERT INTO ops(op_id, item_id, kind, parents, deleted, envelope, device) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (op.op_id, op.item_id, op.kind, parents, int(op.deleted), op.envelope, op.device),
        )
        # In the same transaction as the row: the commitment always covers exactly the rows.
        term = ops_term(
            self.commit_key, (op.op_id, op.item_id, op.kind, parents, int(op.deleted), op.device)
        )
        store_ops_sum(db, (self._ops_sum(db) or 0) ^ term)
        db.executemany(
            "INSERT OR IGNORE INTO edges(parent, child) VALUES (?, ?)",
            [(p, op.op_id) for p in op.parents],
        )
        db.executemany(
            "DELETE FROM heads WHERE item_id = ? AND op_id = ?",
            [(op.item_id, p) for p in op.parents],
        )
        # An op that arrives after one of its children (out-of-order delivery) is not a head.
        if not db.execute("SELECT 1 FROM edges WHERE parent = ?", (op.op_id,)).fetchone():
            db.execute("INSERT INTO heads(item_id, op_id) VALUES (?, ?)", (op.item_id, op.op_id))
        self._refresh_item(op.item_id, op.kind)
        if self._tx_ops is not None:
            self._tx_ops += 1

    def _refresh_item(self, item_id: str, kind: str) -> None:
        """Recompute the item's current row from its heads.

        With several heads (a conflict, or a fork whose history has not all arrived) a live
        version is shown before a deletion, so a concurrent edit and delete keeps the edit;
        then one written on this device, so that a person who goes on typing while another
        device's version waits to be merged edits their own text, not the other's (their next
        edit would otherwise change the same lines twice and turn a clean merge into a
        conflict); among equals the largest op id wins, whatever order operations arrived in.
        """
        heads = self._db.execute(
            "SELECT op_id, deleted, envelope, device FROM ops WHERE op_id IN "
            "(SELECT op_id FROM heads WHERE item_id = ?)",
            (item_id,),
        ).fetchall()
        if not heads:
            return
        op_id, deleted, envelope, _ = max(  # the rule of _shown()
            heads, key=lambda h: (not h[1], h[3] == self.device_id, h[0])
        )
        self._db.execute(
            "INSERT INTO items(item_id, kind, op_id, envelope, deleted, conflict) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(item_id) DO UPDATE SET "
            "kind = excluded.kind, op_id = excluded.op_id, envelope = excluded.envelope, "
            "deleted = excluded.deleted, conflict = excluded.conflict",
            (item_id, kind, op_id, envelope, deleted, int(len(heads) > 1)),
        )

    def erase_history(self, erased: Iterable[tuple[str, str]]) -> None:
        """Replace the sealed content of older versions of an item with sealed erasures
        ((envelope, op id) pairs, made by `Vault.erasures`): purge."""
        with self.transaction() as db:
            self._tx_ops = None
            db.executemany("UPDATE ops SET envelope = ? WHERE op_id = ?", erased)

    def replace_envelopes(
        self,
        envelopes: Iterable[tuple[str, str]],
        master_id: str | None = None,
        commit_key: bytes | None = None,
        *,
        meta: dict[str, str] | None = None,
    ) -> None:
        """Rekey (and the upgrade to format 2): swap op envelopes for ones sealed anew, and
        (rekey) make the new key current, in one transaction (callers write new slots first).
        With `commit_key` (the new key's), the commitment over the rows is made anew under it
        in the same transaction, and the store writes with it from then on."""
        with self.transaction() as db:
            self._tx_ops = None
            if commit_key is not None:
                rows = db.execute("SELECT op_id, item_id, kind, parents, deleted, device FROM ops")
                store_ops_sum(db, ops_commitment(commit_key, rows))
            db.executemany("UPDATE ops SET envelope = ? WHERE op_id = ?", envelopes)
            db.execute(
                "UPDATE items SET envelope = "
                "(SELECT envelope FROM ops WHERE ops.op_id = items.op_id)"
            )
            if master_id is not None:
                # The ids of the keys this vault used before: a sync folder still on one of
                # them was left behind by this device's rekey, not by another device's.
                old = db.execute("SELECT value FROM meta WHERE key = 'mk_id'").fetchone()
                row = db.execute("SELECT value FROM meta WHERE key = 'mk_previous'").fetchone()
                previous = [p for p in (row[0] if row else "").split(",") if p]
                if old and old[0] != master_id and old[0] not in previous:
                    previous.append(old[0])
                db.execute(
                    "INSERT INTO meta(key, value) VALUES ('mk_previous', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (",".join(previous),),
                )
                db.execute("UPDATE meta SET value = ? WHERE key = 'mk_id'", (master_id,))
            for key, value in (meta or {}).items():
                db.execute(
                    "INSERT INTO meta(key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )

        if commit_key is not None:
            self.commit_key = commit_key

    # --- the index, checked against the operations ------------------------------------------

    def scan_history(self, *, tails: bool = False, rebuild: bool = True) -> HistoryScan:
        """Read every ops row once and derive each item's heads from the rows alone (the
        `edges`, `heads` and `items` tables are not consulted), then compare the index tables
        with them; if they differ (someone edited them), rebuild all three from the ops. With
        `tails`, each shown head carries the end of its envelope (for envelope.version_tag).
        Three plain scans: about what one scan with a join costs. With `rebuild=False` nothing
        is written (unlocking scans while the KDF runs, before the password is known to be
        right); `repair_index` then rebuilds what the scan found wrong."""
        version = self.data_version()
        tail = f"substr(envelope, -{TAG_TAIL})" if tails else "NULL"
        sql = f"SELECT op_id, item_id, kind, parents, deleted, device, {tail} FROM ops"
        with self._lock:
            try:  # the index holds exactly these values, without the envelopes' bytes
                ops = self._db.execute(sql + " INDEXED BY ops_scan").fetchall()
            except sqlite3.Error:  # no such index (or a damaged one): read the table
                ops = self._query(sql).fetchall()
            # Compared as plain tuples: an index row that is not exactly 0 or 1 where a flag
            # belongs (only an edit writes that) counts as wrong and is rebuilt.
            index = set(
                self._query("SELECT item_id, kind, op_id, deleted, conflict FROM items").fetchall()
            )
            head_rows = set(self._query("SELECT item_id, op_id FROM heads").fetchall())
        # Written for speed (10,000 notes are opened at every unlock): one parent, the common
        # case, is read by a pattern; anything else through parse_parents.
        named: set[str] = set()
        one = ONE_PARENT.fullmatch
        for p in [r[3] for r in ops if r[3] != "[]"]:
            if isinstance(p, str) and one(p):
                named.add(p[2:-2])
            else:
                named.update(parse_parents(p))
        found: dict[str, list[tuple]] = {}
        for r in [r for r in ops if r[0] not in named]:
            heads = found.get(r[1])
            if heads is None:
                found[r[1]] = [r]
            else:
                heads.append(r)
        shown: dict[str, ItemRow] = {}
        derived_heads: set[tuple[str, str]] = set()
        derived_index: set[tuple] = set()
        vault_id, me = self.vault_id, self.device_id
        for item_id, heads in found.items():
            if len(heads) == 1:
                op_id, _, kind, raw, deleted, device, end = heads[0]
                derived_heads.add((item_id, op_id))
            else:
                derived_heads.update((item_id, h[0]) for h in heads)
                op_id, _, kind, raw, deleted, device, end = max(
                    heads, key=lambda h: (not h[4], h[5] == me, h[0])
                )
            parents = () if raw == "[]" else parse_parents(raw)
            deleted, device, conflict = bool(deleted), str(device), len(heads) > 1
            tag = (
                tag_of(vault_id, kind, item_id, op_id, device, deleted, parents, end)
                if tails
                else ""
            )
            # A cache keeps these rows (and their claims) for as long as the vault is open: a
            # few kinds and devices are one string each, and a tail made into its tag is not
            # kept (at 100,000 notes, 25 MB).
            kind, device = shared_name(kind), shared_name(device)
            shown[item_id] = ItemRow(
                item_id, kind, op_id, None if tag else end, deleted, conflict, parents, device, tag
            )
            derived_index.add((item_id, kind, op_id, deleted, conflict))
        wrong = {i for i, _ in derived_heads ^ head_rows}
        wrong.update(r[0] for r in derived_index ^ index)
        headless = {r[1] for r in ops}
        headless.difference_update(shown)
        scan = HistoryScan(shown, wrong, headless, tails, version, found, ops, len(ops))
        if rebuild:
            self.repair_index(scan)
        return scan

    def repair_index(self, scan: HistoryScan) -> None:
        """Rebuild the index tables from the ops if `scan` found them wrong."""
        if scan.wrong:
            self._rebuild_index(scan.found)

    def check_index(self) -> tuple[set[str], set[str]]:
        """(item ids whose index was wrong and is now rebuilt, item ids with operations but no
        head: a cycle or a version moved to another item). See scan_history."""
        scan = self.scan_history()
        return scan.wrong, scan.headless

    def _rebuild_index(self, found: dict[str, list[tuple]]) -> None:
        with self.transaction() as db:
            self._tx_ops = None
            db.execute("DELETE FROM edges")
            db.execute("DELETE FROM heads")
            db.execute("DELETE FROM items")
            for op in self.all_ops():
                db.executemany(
                    "INSERT OR IGNORE INTO edges(parent, child) VALUES (?, ?)",
                    [(p, op.op_id) for p in op.parents],
                )
            for item_id, heads in found.items():
                db.executemany(
                    "INSERT INTO heads(item_id, op_id) VALUES (?, ?)",
                    [(item_id, h[0]) for h in heads],
                )
                op_id, kind, deleted = _shown(
                    [(h[0], h[2], bool(h[4]), h[5]) for h in heads], self.device_id
                )
                db.execute(
                    "INSERT INTO items(item_id, kind, op_id, envelope, deleted, conflict) "
                    "VALUES (?, ?, ?, (SELECT envelope FROM ops WHERE op_id = ?), ?, ?)",
                    (item_id, kind, op_id, op_id, int(deleted), int(len(heads) > 1)),
                )

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._query(
                "SELECT kind, count(*) FROM items WHERE deleted = 0 GROUP BY kind"
            ).fetchall()
            ops = self._query("SELECT count(*) FROM ops").fetchone()[0]
        result = dict(rows)
        result["versions"] = ops
        return result


# --- helpers -------------------------------------------------------------------------------


def _shown(heads: list[tuple[str, str, bool, str]], me: str) -> tuple[str, str, bool]:
    """(op id, kind, deleted) of the head an item shows, from (op id, kind, deleted, device):
    a live one before a deletion, then one written by this device `me`, then the largest op
    id (the rule of `_refresh_item`)."""
    op_id, kind, deleted, _ = max(heads, key=lambda h: (not h[2], h[3] == me, h[0]))
    return op_id, kind, deleted
