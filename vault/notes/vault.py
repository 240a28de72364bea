"""The domain API: one unlocked vault and everything a person does with its notes.

The CLI and the TUI are two thin faces over `Vault`. It keeps a decrypted cache of the items
in memory (never on disk), refreshed cheaply when another process or a sync changes the store,
and every change it makes is one sealed version appended to the item's history.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from vault import gcpause
from vault.errors import (
    AmbiguousError,
    AuthError,
    CorruptItemError,
    InvalidInputError,
    KeyfileError,
    KeyfileRequiredError,
    NotFoundError,
    RecoveryKeyError,
    StaleSessionError,
    VaultError,
    WrongPasswordError,
)
from vault.notes import attachments as _attachments
from vault.notes.model import (
    KIND_TYPES,
    Item,
    Note,
    Notebook,
    NoteVersion,
    Tag,
    TagCount,
    now_ms,
)
from vault.notes.search import Hit, Query, SearchIndex, parse_query
from vault.sealing import crypto, keys, snapshot
from vault.sealing.crypto import KdfParams, Label
from vault.sealing.envelope import (
    Claims,
    SealedOp,
    erased_payload,
    is_erased,
    open_op,
    open_sealed_op,
    parse_op,
    seal_op,
    short,
    version_tag,
)
from vault.storage import upgrade
from vault.storage.store import (
    HISTORY_INCIDENT,
    HistoryScan,
    ItemRow,
    Op,
    Store,
    ops_commitment,
    store_ops_sum,
)

_KEEP: Any = object()  # "leave this field as it is" in update calls


@dataclass(frozen=True)
class VaultInfo:
    """What can be known about a vault without unlocking it."""

    path: Path
    vault_id: str
    slot_types: tuple[str, ...]

    @property
    def needs_keyfile(self) -> bool:
        return keys.PASSWORD_KEYFILE in self.slot_types and keys.PASSWORD not in self.slot_types

    @property
    def has_recovery(self) -> bool:
        return keys.RECOVERY in self.slot_types


@dataclass(frozen=True)
class CheckReport:
    items: int
    versions: int
    corrupt: dict[str, str]  # item id -> one-line reason
    conflicts: list[str]
    history: str | None = None  # the history was altered without the key (Vault.history_incident)

    @property
    def ok(self) -> bool:
        return not self.corrupt and self.history is None


def inspect_vault(path: Path) -> VaultInfo:
    store = Store.open(path)
    try:
        return VaultInfo(path, store.vault_id, tuple(s.slot_type for s in store.slots()))
    finally:
        store.close()


def clean_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise InvalidInputError("a note needs a title")
    return title


def clean_name(name: str, what: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidInputError(f"a {what} needs a name")
    if "/" in name:
        raise InvalidInputError(f"a {what} name cannot contain '/' (it separates nested notebooks)")
    return name


def clean_tag(name: str) -> str:
    name = " ".join(name.strip().lstrip("#").split())
    if not name:
        raise InvalidInputError("a tag needs a name")
    if "," in name:
        raise InvalidInputError("a tag name cannot contain ','")
    return name


# A snapshot is sealed only for vaults this big (smaller ones open fast anyway), and only once
# this many items (or 2%) changed since the last one.
SNAPSHOT_MIN_ITEMS = 200
SNAPSHOT_MIN_CHANGES = 32


class _Items(dict[str, Item]):
    """The decrypted items, counting changes so views derived from them (the notebook and tag
    maps) are rebuilt only when something changed, not once per note shown."""

    generation = 0

    def __setitem__(self, key: str, value: Item) -> None:
        self.generation += 1
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.generation += 1
        super().__delitem__(key)

    def pop(self, key: str, *default: Any) -> Any:  # type: ignore[override]
        self.generation += 1
        return super().pop(key, *default)

    def clear(self) -> None:
        self.generation += 1
        super().clear()


class Vault:
    """An unlocked vault. Thread-safe; `lock()` drops every decrypted value it holds."""

    def __init__(
        self,
        store: Store,
        master_key: bytes,
        prefetched: Prefetched | None = None,
        kinds: frozenset[str] | None = None,
        scan: HistoryScan | None = None,
    ) -> None:
        self.store = store
        # Only items of these kinds are read (None: all). `vault new` needs the notebooks and
        # tags, not 10,000 notes; such a vault must not be asked for its notes.
        self._kinds = kinds
        self.path = store.path
        self.vault_id = store.vault_id
        self._mk = bytearray(master_key)
        self._items_key = crypto.subkey(master_key, Label.ITEMS)
        self._tag_key = crypto.subkey(master_key, Label.TAG_ID)
        store.commit_key = crypto.subkey(master_key, Label.OPS_SUM)
        # Set when the rows no longer match their commitment: versions were removed or the store
        # rolled back without the key (FORMAT.md, "The commitment over the operations").
        self.history_incident: str | None = None
        self._lock = threading.RLock()
        self._items = _Items()
        self._derived: dict[str, tuple[int, Any]] = {}  # name -> (items generation, value)
        self._views: dict[str, Any] = {}  # name -> an object kept up to date by itself (view())
        self.corrupt: dict[str, str] = {}
        # The claims (op id, parents, deleted, device) each cached item was verified with, and
        # the version tags the snapshot vouches for (vault.sealing.envelope.version_tag).
        self._claims: dict[str, tuple] = {}  # item id -> ItemRow.key it was verified with
        self._tags: dict[str, str] = {}  # item id -> version tag the snapshot vouched for
        self._snap_tags: dict[str, str] = {}
        self._heads_checked: set[Claims] = set()  # other heads of conflicts, verified
        self._seen_version = -1
        self._index = SearchIndex()
        self._prefetched = prefetched
        if upgrade.upgrade(store, master_key):
            self._prefetched = None  # read before the upgrade sealed every envelope anew
            scan = None
        with gcpause.paused():  # a bulk load: no cycles to find among these objects
            self._first_load(store, kinds, scan)

    def _first_load(
        self, store: Store, kinds: frozenset[str] | None, scan: HistoryScan | None
    ) -> None:
        # The index tables are checked against the operations (and rebuilt if someone edited
        # them): what is shown comes from the sealed history, not from a row that says so.
        # The same scan gives the first refresh its states (no second read of the store).
        # A scan made while the KDF ran is used only if nothing was committed since it began.
        tails = kinds is None and snapshot.path_in(self.path).exists()
        if scan is not None and scan.tails == tails and scan.version == store.data_version():
            store.repair_index(scan)
        else:
            scan = store.scan_history(tails=tails)
        self.index_repaired, headless = scan.wrong, scan.headless
        self._check_commitment(store, scan)
        self._first_states: dict[str, ItemRow] | None = {
            i: r
            for i, r in scan.shown.items()
            if not r.deleted and (kinds is None or r.kind in kinds)
        }
        for item_id in headless:
            self.corrupt[item_id] = (
                f"item {short(item_id)} has no current version: its history rows were altered "
                "(tampered)"
            )
        if kinds is None:  # a partial view reads its few items from the store directly
            self._load_snapshot()
        self._snapped = self._items.generation
        self._verify_deletions(headless, [r for r in scan.shown.values() if r.deleted])
        self.refresh()

    def acknowledge_history_incident(self) -> None:
        """`vault check` has shown the incident: later openings stop repeating it."""
        with self.store.transaction() as db:
            db.execute("DELETE FROM meta WHERE key = ?", (HISTORY_INCIDENT,))
        self.history_incident = None

    def _check_commitment(self, store: Store, scan: HistoryScan) -> None:
        """The rows must match the keyed commitment kept with every write. A mismatch means
        rows were removed, added or changed without the key (or the store was put back to an
        older copy): it is reported at this and every later opening until `vault check` has
        shown it, and the commitment is made anew over the rows as they are, so later writes
        keep it true."""
        key = store.commit_key
        assert key is not None
        computed = ops_commitment(key, scan.rows)
        recorded = store.ops_sum()
        if recorded == computed or (recorded is None and not scan.rows):
            self.history_incident = store.meta(HISTORY_INCIDENT)
            return
        message = (
            "this vault's history was altered without the key (versions removed, or the store "
            "put back to an older copy); your other devices and backups still hold what they "
            "had: compare, and restore from a backup or clone again if notes are missing"
        )
        with store.transaction() as db:
            store_ops_sum(db, computed)
            db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (HISTORY_INCIDENT, message),
            )
        self.history_incident = message

    # --- creating, unlocking, locking -----------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: Path,
        password: str,
        *,
        keyfile: Path | None = None,
        kdf: KdfParams | None = None,
        allow_weak_kdf: bool = False,
    ) -> tuple[Vault, str]:
        """Create a vault; returns it unlocked and the recovery key to show once."""
        if not password:
            raise InvalidInputError("the password cannot be empty")
        kdf = crypto.creation_kdf(kdf, allow_weak=allow_weak_kdf)
        master_key = crypto.random_bytes(crypto.KEY_BYTES)
        vault_id = crypto.random_id()
        recovery, recovery_text = keys.new_recovery_key()
        pw_type = keys.PASSWORD_KEYFILE if keyfile else keys.PASSWORD
        slots = [
            keys.Slot.create(vault_id, pw_type, master_key, keys.Secret(password, keyfile), kdf),
            keys.Slot.create(vault_id, keys.RECOVERY, master_key, keys.Secret(recovery=recovery)),
        ]
        store = Store.create(path, vault_id, crypto.random_id(), keys.mk_id(master_key), slots)
        return cls(store, master_key), recovery_text

    @classmethod
    def unlock(
        cls,
        path: Path,
        *,
        password: str | None = None,
        keyfile: Path | None = None,
        recovery_key: str | None = None,
        prefetched: Prefetched | None = None,
        kinds: frozenset[str] | None = None,
    ) -> Vault:
        """Open the vault with a password (and keyfile) or the recovery key.

        `prefetched` is what `prefetch(path)` read earlier (the app reads while the person
        types the password); without it the envelopes are read while the KDF runs."""
        store = Store.open(path)
        try:
            slots = store.slots()
            # Scanning the history and reading and parsing every envelope need no key, so they
            # run while the KDF does: with 10,000 notes that is most of the unlock work, hidden.
            reader = None
            if kinds is None and not store.needs_upgrade:
                tails = snapshot.path_in(path).exists()
                reader = _Prefetch(store, envelopes=prefetched is None and not tails, tails=tails)
                reader.start()
            try:
                master_key = _unlock_master_key(store, password, keyfile, recovery_key, slots)
            finally:
                if reader is not None:
                    reader.join()
            scan = None
            if reader is not None and reader.error is None:
                prefetched, scan = reader.result or prefetched, reader.scan
            store.remove_stale_slots()
            return cls(store, master_key, prefetched, kinds, scan)
        except BaseException:
            store.close()
            raise

    @classmethod
    def open_with_key(
        cls, path: Path, master_key: bytes, kinds: frozenset[str] | None = None
    ) -> Vault:
        """Open the vault with a master key already unwrapped (the unlocked session's), no KDF.
        A key the store does not name as current (the vault was rekeyed since) is refused."""
        store = Store.open(path)
        try:
            if keys.mk_id(master_key) != store.master_id:
                raise StaleSessionError("the unlocked session is for an older key of this vault")
            return cls(store, master_key, kinds=kinds)
        except BaseException:
            store.close()
            raise

    @staticmethod
    def unwrap_master_key(
        path: Path, *, password: str | None = None, keyfile: Path | None = None
    ) -> bytes:
        """Only the master key, for handing to the unlocked session: no item is decrypted."""
        store = Store.open(path)
        try:
            return _unlock_master_key(store, password, keyfile, None)
        finally:
            store.close()

    def lock(self) -> None:
        """Forget every decrypted value and the keys (as far as Python lets us), after sealing
        a new snapshot if many items changed since the last."""
        with self._lock:
            if any(self._mk):
                # Never a reason for locking to fail: without a snapshot, unlocking is slower.
                with contextlib.suppress(VaultError, OSError):
                    self._save_snapshot()
            self._items.clear()
            self._index.clear()
            self._derived.clear()  # the notebook and tag maps hold decrypted names
            self._views.clear()  # and the link index, decrypted notes
            for i in range(len(self._mk)):
                self._mk[i] = 0
            self._items_key = b""
            self._tag_key = b""
            self.store.commit_key = None
            self.store.close()

    close = lock

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock()

    @property
    def master_key(self) -> bytes:
        """For sync and backup, which derive their own subkeys from it."""
        return bytes(self._mk)

    def info(self) -> VaultInfo:
        return VaultInfo(self.path, self.vault_id, tuple(s.slot_type for s in self.store.slots()))

    # --- the decrypted cache ---------------------------------------------------------------------

    @property
    def _unsnapped(self) -> int:
        """Changes to the items since the snapshot was read or written (vault.sealing.snapshot):
        when enough have, locking seals a new one."""
        return self._items.generation - self._snapped

    @_unsnapped.setter
    def _unsnapped(self, changes: int) -> None:
        self._snapped = self._items.generation - changes

    def _snapshot_key(self) -> bytes:
        return crypto.subkey(bytes(self._mk), Label.SNAPSHOT)

    def _load_snapshot(self) -> None:
        entries = snapshot.read(
            self.path, self._snapshot_key(), self.vault_id, keys.mk_id(bytes(self._mk))
        )
        if not entries:
            return
        for item_id, kind, version, conflict, payload in entries:
            item_type = KIND_TYPES.get(kind)
            op_id, _, tag = str(version).partition(":")
            if item_type is not None and isinstance(payload, dict) and tag:
                self._items[item_id] = item_type.from_payload(item_id, payload, op_id, conflict)
                self._snap_tags[item_id] = tag

    def _save_snapshot(self, *, force: bool = False) -> None:
        """Seal the current items for the next unlock, if it saves that unlock real work."""
        count = len(self._items)
        if count < SNAPSHOT_MIN_ITEMS or self._kinds is not None:
            return
        if not force and self._unsnapped < max(SNAPSHOT_MIN_CHANGES, count // 50):
            return
        self.refresh()

        def entries() -> Iterator[snapshot.Entry]:
            # Tags are computed here, not at every decrypt: from the claims this cache
            # verified and the envelope the store holds for them now.
            states = self.store.item_states(envelopes=True)
            for item in list(self._items.values()):
                claims, state = self._claims.get(item.id), states.get(item.id)
                if claims is None or state is None or state.key != claims:
                    continue  # not verified as the store holds it now: the next unlock opens it
                tag = self._tags.get(item.id) or version_tag(
                    self.vault_id, state.claims, state.envelope
                )
                payload = item.to_payload()
                conflict = getattr(item, "conflict", False)
                version = f"{item.version}:{tag}"
                yield item.id, payload["kind"], version, conflict, payload

        try:
            snapshot.write(
                self.path, self._snapshot_key(), self.vault_id, self.store.master_id, entries()
            )
        except OSError:
            return  # a full disk: the next unlock just opens every envelope again
        self._unsnapped = 0

    def refresh(self) -> bool:
        """Bring the cache up to date with the store; only changed items are decrypted.
        Returns whether anything changed."""
        with self._lock:
            version = self.store.data_version()
            if version == self._seen_version:
                return False
            states = self._first_states
            self._first_states = None
            if states is None:
                states = self.store.item_states(self._kinds, envelopes=bool(self._snap_tags))
            changed = False
            for item_id in [i for i in self._items if i not in states]:
                del self._items[item_id]
                self._claims.pop(item_id, None)
                self._index.forget(item_id)
                changed = True
            for item_id in [i for i in self.corrupt if i not in states and i not in self._dead]:
                del self.corrupt[item_id]
            stale = []
            for item_id, state in states.items():
                cached = self._items.get(item_id)
                if cached is None or not self._fresh(item_id, state):
                    stale.append(item_id)
                elif isinstance(cached, Note | Notebook) and cached.conflict != state.conflict:
                    self._items[item_id] = dataclasses.replace(cached, conflict=state.conflict)
                    changed = True
            self._snap_tags.clear()  # each entry is used at most once, at the first load
            prefetched = self._prefetched or {}
            self._prefetched = None  # good for the first load only
            ready = [
                prefetched[i]
                for i in stale
                if i in prefetched and prefetched[i][0].key == states[i].key
            ]
            fetched = {r[0].item_id for r in ready}
            rows = ready + [
                (row, None)
                for row in self.store.items_by_id([i for i in stale if i not in fetched])
            ]
            for row, sealed in rows:
                if row.deleted or row.kind not in KIND_TYPES:
                    continue
                try:
                    if sealed is None:
                        sealed = parse_op(row.claims, row.envelope)
                    if isinstance(sealed, VaultError):
                        raise sealed
                    payload = open_sealed_op(self._items_key, self.vault_id, sealed)
                    if is_erased(payload):
                        raise CorruptItemError(
                            f"{row.kind} {short(row.item_id)}: its current version was erased "
                            "(tampered)",
                            item_id=row.item_id,
                        )
                except VaultError as exc:  # tampered, corrupt, or written by a newer version
                    self.corrupt[row.item_id] = str(exc)
                    self._items.pop(row.item_id, None)
                    self._claims.pop(row.item_id, None)
                    continue
                self.corrupt.pop(row.item_id, None)
                self._items[row.item_id] = KIND_TYPES[row.kind].from_payload(
                    row.item_id, payload, row.op_id, row.conflict
                )
                self._claims[row.item_id] = row.key
                self._tags.pop(row.item_id, None)
                changed = True
            changed |= self._verify_conflicts(states)
            self._seen_version = version
            return changed

    _dead: frozenset[str] = frozenset()  # refused items that are not live: no head, or a
    # deletion that does not verify

    def _fresh(self, item_id: str, state: ItemRow) -> bool:
        """Is the cached item the verified content of the operation the store now names, with
        the same claims? (From the snapshot: the claims tag it was sealed with.)"""
        key = state.key
        if self._claims.get(item_id) == key:
            return True
        tag = self._snap_tags.get(item_id)
        if tag is None:
            return False
        if tag != (state.tag or version_tag(self.vault_id, state.claims, state.envelope)):
            return False
        self._claims[item_id] = key
        self._tags[item_id] = tag
        return True

    def _verify_conflicts(self, states: dict[str, ItemRow]) -> bool:
        """Every version of a forked item is verified, not only the one shown: a row added to
        the history (a forged version or deletion) or one whose parents were rewritten (which
        turns an older version into a head) makes a fork, and must not pass unnoticed. Forks
        are rare and short-lived, so this costs little."""
        changed = False
        for item_id in [i for i, s in states.items() if s.conflict and i in self._items]:
            for head in self.store.history(item_id):
                if head.claims in self._heads_checked:
                    continue
                try:
                    open_op(self._items_key, self.vault_id, head.claims, head.envelope)
                except VaultError as exc:
                    self.corrupt[item_id] = str(exc)
                    self._items.pop(item_id, None)
                    self._claims.pop(item_id, None)
                    changed = True
                    break
                self._heads_checked.add(head.claims)
        return changed

    def _verify_deletions(self, headless: set[str], deleted: list[ItemRow]) -> None:
        """An item whose current version is a deletion is gone only if that deletion is sealed:
        a tombstone row written into the store without the key is refused here. Items with no
        head at all stay reported too (`refresh` forgets only what a live item replaced)."""
        dead = set(headless)
        for row in deleted:
            if self._kinds is not None and row.kind not in self._kinds:
                continue
            op = self.store.op(row.op_id)
            try:
                if op is None or op.claims != row.claims:
                    raise CorruptItemError(f"item {short(row.item_id)} changed while opening")
                open_op(self._items_key, self.vault_id, op.claims, op.envelope)
            except VaultError as exc:
                self.corrupt[row.item_id] = str(exc)
                dead.add(row.item_id)
        self._dead = frozenset(dead)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Many changes as one transaction (an import): one fsync instead of one per change,
        and all or nothing: if the block fails, none of it is kept and the cache forgets it.
        Keep batches short; the store is locked while one is open."""
        with self._lock:
            try:
                with self.store.transaction():
                    yield
            except BaseException:
                self._seen_version = -1  # drop what the rolled-back writes put in the cache
                self.refresh()
                raise

    def seal_op(
        self,
        kind: str,
        item_id: str,
        payload: dict[str, Any] | None,
        parents: Iterable[str],
        *,
        op_id: str | None = None,
        items_key: bytes | None = None,
    ) -> Op:
        """A new operation written on this device, sealed with its claims: a version of the
        item (`payload`) or its deletion (None)."""
        claims = Claims(
            op_id or crypto.random_id(),
            item_id,
            kind,
            tuple(parents),
            payload is None,
            self.store.device_id,
        )
        key = items_key if items_key is not None else self._items_key
        envelope = seal_op(key, self.vault_id, claims, payload)
        return Op(
            claims.op_id, item_id, kind, claims.parents, claims.deleted, envelope, claims.device
        )

    def open_op(self, op: Op | ItemRow) -> dict[str, Any]:
        """Verify an operation's envelope against what its row claims and open it (a deletion
        or an erased version opens to a payload with no content; see vault.sealing.envelope)."""
        return open_op(self._items_key, self.vault_id, op.claims, op.envelope)

    def erasures(self, ops: Iterable[Op]) -> list[tuple[str, str]]:
        """(envelope, op id) of sealed erasures replacing these versions' content (purge)."""
        return [
            (seal_op(self._items_key, self.vault_id, op.claims, erased_payload(op.kind)), op.op_id)
            for op in ops
            if not op.deleted
        ]

    def _write(self, item: Item, parents: Iterable[str], op_id: str | None = None) -> Item:
        """Seal and store a new version of `item`; returns it as the cache now holds it.
        `op_id` is for changes every device makes alike (sync's repairs), which must not fork."""
        kind = item.to_payload()["kind"]
        op = self.store.write(self.seal_op(kind, item.id, item.to_payload(), parents, op_id=op_id))
        row = self.store.item(item.id)
        if row is None or row.op_id != op.op_id:
            # A concurrent writer's version is the one shown (the store's display rule); the
            # cache follows the store, and both versions stay in the history.
            self.refresh()
            return self._items.get(item.id, item)
        if isinstance(item, Tag):
            written: Item = dataclasses.replace(item, version=op.op_id)
        else:
            written = dataclasses.replace(item, version=op.op_id, conflict=row.conflict)
        self._items[item.id] = written
        self._claims[item.id] = (op.op_id, op.kind, op.parents, op.deleted, op.device)
        self._tags.pop(item.id, None)
        return written

    def _parents(self, item: Item) -> list[str]:
        return [item.version] if item.version else []

    def _delete(self, item: Item, op_id: str | None = None) -> None:
        kind = item.to_payload()["kind"]
        self.store.write(self.seal_op(kind, item.id, None, self._parents(item), op_id=op_id))
        self._items.pop(item.id, None)
        self._index.forget(item.id)

    def view(self, name: str, build: Callable[[], Any]) -> Any:
        """An object derived from the decrypted notes that keeps itself current (the link
        index, vault.notes.links), made once by `build` and dropped when the vault locks."""
        with self._lock:
            made = self._views.get(name)
            if made is None:
                made = self._views[name] = build()
            return made

    @property
    def generation(self) -> int:
        """A counter that moves whenever the items in memory change (refreshed from the store
        first, so edits from sync or another process count): views derived from the notes,
        such as links and backlinks (`vault.notes.links`), are rebuilt only when it moves."""
        with self._lock:
            self.refresh()
            return self._items.generation

    # --- notes -----------------------------------------------------------------------------------

    def all_notes(self) -> list[Note]:
        if self._kinds is not None and "note" not in self._kinds:
            raise RuntimeError("this vault was opened without its notes")
        with self._lock:
            self.refresh()
            return [i for i in self._items.values() if isinstance(i, Note)]

    def notes(
        self,
        *,
        notebook: str | None = None,
        tag: str | None = None,
        trashed: bool = False,
        pinned: bool | None = None,
        sort: str = "modified",
    ) -> list[Note]:
        """Notes in a notebook (and its sub-notebooks), with a tag, or in the trash."""
        notes = [n for n in self.all_notes() if n.in_trash == trashed]
        if notebook is not None:
            inside = self.notebook_descendants(notebook)
            notes = [n for n in notes if n.notebook in inside]
        if tag is not None:
            folded = tag.casefold()
            notes = [n for n in notes if any(t.casefold() == folded for t in n.tags)]
        if pinned is not None:
            notes = [n for n in notes if n.pinned == pinned]
        return sort_notes(notes, sort)

    def note(self, note_id: str) -> Note:
        with self._lock:
            self.refresh()
            item = self._items.get(note_id)
        if not isinstance(item, Note):
            if note_id in self.corrupt:
                raise CorruptItemError(self.corrupt[note_id], item_id=note_id)
            raise NotFoundError(f"no note with id {short(note_id)}")
        return item

    def read_note(self, note_id: str) -> Note | None:
        """One note by its full id, read and decrypted from the store alone: works in a partial
        view, and costs one envelope, not the whole vault. None if there is no such note."""
        with self._lock:
            row = self.store.item(note_id)
        if row is None or row.kind != "note" or row.deleted:
            return None
        try:
            payload = self.open_op(row)
        except VaultError as exc:
            raise CorruptItemError(str(exc), item_id=note_id) from None
        if is_erased(payload):
            raise CorruptItemError(f"note {short(note_id)} was erased (tampered)", item_id=note_id)
        return Note.from_payload(row.item_id, payload, row.op_id, row.conflict)

    def find_note(self, ref: str, *, trashed: bool | None = None) -> Note:
        """A note by id, short id, title or part of the title (vault.notes.lookup says how)."""
        from vault.notes import lookup  # it names Vault in its annotations

        return lookup.find_note(self, ref, trashed=trashed)

    def create_note(
        self,
        title: str,
        body: str = "",
        *,
        notebook: str | None = None,
        tags: Iterable[str] = (),
        pinned: bool = False,
    ) -> Note:
        now = now_ms()
        return self.import_note(
            title, body, created=now, modified=now, notebook=notebook, tags=tags, pinned=pinned
        )

    def import_note(
        self,
        title: str,
        body: str,
        *,
        created: int,
        modified: int,
        notebook: str | None = None,
        tags: Iterable[str] = (),
        pinned: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> Note:
        """A note brought in from elsewhere (Markdown import): it keeps its own timestamps, and
        `extra` keeps fields this version has no use for (another app's front matter)."""
        with self._lock:
            if notebook is not None:
                self.notebook(notebook)
            note = Note(
                id=crypto.random_id(),
                title=clean_title(title),
                body=body,
                notebook=notebook,
                tags=self._register_tags(tags),
                pinned=pinned,
                created=created,
                modified=modified,
                extra=dict(extra or {}),
            )
            written = self._write(note, [])
            assert isinstance(written, Note)
            return written

    def update_note(
        self,
        note: Note,
        *,
        title: str = _KEEP,
        body: str = _KEEP,
        notebook: str | None = _KEEP,
        tags: Iterable[str] = _KEEP,
        pinned: bool = _KEEP,
    ) -> Note:
        """Save changes to `note` as a new version whose parent is the version `note` was read
        at. Nothing changed means nothing written. If another writer saved in between, both
        versions are kept and the note is flagged as a conflict rather than one being lost."""
        changes: dict[str, Any] = {}
        if title is not _KEEP:
            changes["title"] = clean_title(title)
        if body is not _KEEP:
            changes["body"] = body
        if notebook is not _KEEP:
            if notebook is not None:
                self.notebook(notebook)
            changes["notebook"] = notebook
        if pinned is not _KEEP:
            changes["pinned"] = bool(pinned)
        with self._lock:
            if tags is not _KEEP:
                changes["tags"] = self._register_tags(tags)
            updated = dataclasses.replace(note, **changes)
            if updated.content_equal(note):
                return note
            if updated.title != note.title or updated.body != note.body:
                # "modified" follows the words only: pinning, tagging or moving a note must
                # not reorder a list sorted by it. Sync needs no time of its own for those
                # changes: merges follow the versions' parents, and "modified" merges by max.
                updated = dataclasses.replace(updated, modified=max(now_ms(), note.modified + 1))
            written = self._write(updated, self._parents(note))
            assert isinstance(written, Note)
            return written

    def trash_note(self, note: Note) -> Note:
        if note.in_trash:
            return note
        with self._lock:
            trashed = dataclasses.replace(note, trashed=now_ms(), pinned=False)
            written = self._write(trashed, self._parents(note))
            assert isinstance(written, Note)
            return written

    def restore_note(self, note: Note) -> Note:
        if not note.in_trash:
            return note
        with self._lock:
            notebook = note.notebook if note.notebook in self._notebook_map() else None
            restored = dataclasses.replace(note, trashed=None, notebook=notebook)
            written = self._write(restored, self._parents(note))
            assert isinstance(written, Note)
            return written

    def purge_note(self, note: Note) -> None:
        """Delete for good: a tombstone, and the sealed content of older versions erased.

        History is erased only when the tombstone is the note's one head. If other versions
        were saved concurrently (elsewhere, or by another process), they are edits the purge
        never saw: the note stays, with them, and nothing of theirs is erased."""
        with self._lock, self.store.transaction():
            self._delete(note)
            row = self.store.item(note.id)
            if row is not None and row.deleted and len(self.store.heads(note.id)) == 1:
                older = [op for op in self.store.history(note.id) if op.op_id != row.op_id]
                self.store.erase_history(self.erasures(older))
        # The snapshot still holds the note: it goes now, and locking seals a new one.
        snapshot.destroy(self.path)
        self._unsnapped = max(self._unsnapped, SNAPSHOT_MIN_CHANGES)
        if _attachments.FIELD in note.extra:  # its files, if no other note uses them
            _attachments.collect_garbage(self)

    def empty_trash(self) -> int:
        trashed = self.notes(trashed=True)
        for note in trashed:
            self.purge_note(note)
        return len(trashed)

    def note_history(self, note: Note) -> list[NoteVersion]:
        """Every saved version of a note, oldest first."""
        versions = []
        for op in self.store.history(note.id):
            old: Note | None = None
            if not op.deleted:
                try:
                    payload = self.open_op(op)
                    if not is_erased(payload):
                        old = Note.from_payload(note.id, payload, op.op_id)
                except VaultError:
                    old = None
            versions.append(NoteVersion(op.op_id, old, op.device, op.seq))
        return versions

    # --- attachments (vault.notes.attachments) ---------------------------------------------------

    def attachments(self, note_id: str) -> list[_attachments.Attachment]:
        return _attachments.list_attachments(self, note_id)

    def attach(
        self,
        note_id: str,
        source: Path,
        *,
        name: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> _attachments.Attachment:
        return _attachments.attach(self, note_id, source, name=name, progress=progress)

    def save_attachment(
        self,
        note_id: str,
        name: str,
        out: BinaryIO,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        _attachments.save_attachment(self, note_id, name, out, progress)

    def remove_attachment(self, note_id: str, name: str) -> None:
        _attachments.remove_attachment(self, note_id, name)

    def search(
        self,
        query: str | Query,
        *,
        trashed: bool = False,
        notebook: str | None = None,
        tag: str | None = None,
        rank_limit: int | None = None,
    ) -> list[Hit]:
        notes = self.notes(trashed=trashed, notebook=notebook, tag=tag)
        return self.filter_notes(notes, query, rank_limit=rank_limit)

    def filter_notes(
        self, notes: list[Note], query: str | Query, *, rank_limit: int | None = None
    ) -> list[Hit]:
        """Search within a list the caller already holds (the app's current view)."""
        with self._lock:
            parsed = query if isinstance(query, Query) else parse_query(query)
            return self._index.search(notes, parsed, rank_limit=rank_limit)

    # --- notebooks -------------------------------------------------------------------------------

    def _notebook_map(self) -> dict[str, Notebook]:
        with self._lock:
            self.refresh()
            return self._derive("notebooks", Notebook)

    def _derive(self, name: str, kind: type[Item]) -> dict[str, Any]:
        """Every item of `kind` by id, rebuilt only after the items changed (callers hold the
        lock and have refreshed). Callers must not change the dict they get."""
        generation = self._items.generation
        cached = self._derived.get(name)
        if cached is None or cached[0] != generation:
            cached = (generation, {i.id: i for i in self._items.values() if isinstance(i, kind)})
            self._derived[name] = cached
        return cached[1]

    def notebooks(self) -> list[Notebook]:
        """All notebooks, parents before children, siblings by name."""
        by_id = self._notebook_map()
        children: dict[str | None, list[Notebook]] = {}
        for nb in by_id.values():
            parent = nb.parent if nb.parent in by_id else None  # orphans show at the top
            children.setdefault(parent, []).append(nb)
        ordered: list[Notebook] = []
        seen: set[str] = set()

        def walk(parent: str | None) -> None:
            for nb in sorted(children.get(parent, []), key=lambda n: (n.name.casefold(), n.id)):
                if nb.id in seen:
                    continue  # a cycle made by concurrent moves: show each notebook once
                seen.add(nb.id)
                ordered.append(nb)
                walk(nb.id)

        walk(None)
        # notebooks caught in a cycle with no way down from the top level
        for nb in sorted(by_id.values(), key=lambda n: n.name.casefold()):
            if nb.id not in seen:
                seen.add(nb.id)
                ordered.append(dataclasses.replace(nb, parent=None))
                walk(nb.id)
        return ordered

    def notebook(self, notebook_id: str) -> Notebook:
        nb = self._notebook_map().get(notebook_id)
        if nb is None:
            raise NotFoundError(f"no notebook with id {short(notebook_id)}")
        return nb

    def notebook_path(self, notebook_id: str | None) -> str:
        """'Work/Projects' for a nested notebook; '' for the top level. From the items as last
        read: callers name notebooks of notes they just listed, often thousands in a row, and
        asking the store for changes each time was most of `vault ls --json`."""
        if notebook_id is None:
            return ""
        with self._lock:
            by_id = self._derive("notebooks", Notebook)
        names: list[str] = []
        seen: set[str] = set()
        current: str | None = notebook_id
        while current is not None and current in by_id and current not in seen:
            seen.add(current)
            names.append(by_id[current].name)
            current = by_id[current].parent
        return "/".join(reversed(names))

    def notebook_descendants(self, notebook_id: str) -> set[str]:
        by_parent: dict[str | None, list[str]] = {}
        for nb in self._notebook_map().values():
            by_parent.setdefault(nb.parent, []).append(nb.id)
        result = {notebook_id}
        stack = [notebook_id]
        while stack:
            for child in by_parent.get(stack.pop(), []):
                if child not in result:
                    result.add(child)
                    stack.append(child)
        return result

    def find_notebook(self, ref: str) -> Notebook:
        """A notebook by path ('Work/Projects'), id, or unique id prefix."""
        ref = ref.strip().strip("/")
        if not ref:
            raise InvalidInputError("name a notebook by its path, such as Work/Projects")
        by_id = self._notebook_map()
        if ref in by_id:
            return by_id[ref]
        matches = [nb for nb in by_id.values() if self.notebook_path(nb.id) == ref]
        if not matches:
            folded = ref.casefold()
            matches = [
                nb for nb in by_id.values() if self.notebook_path(nb.id).casefold() == folded
            ]
        if not matches and len(ref) >= 4:
            matches = [nb for nb in by_id.values() if nb.id.startswith(ref.lower())]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            ids = ", ".join(short(nb.id) for nb in matches)
            raise AmbiguousError(f"notebook '{ref}' matches {len(matches)} notebooks ({ids})")
        raise NotFoundError(f"no notebook '{ref}'; `vault notebooks` lists them")

    def ensure_notebook(self, path: str) -> tuple[Notebook, bool]:
        """The notebook at `path`, creating missing levels. Returns it and whether it was new."""
        parts = [p for p in path.strip().split("/") if p.strip()]
        if not parts:
            raise InvalidInputError("name a notebook by its path, such as Work/Projects")
        with self._lock:
            parent: str | None = None
            created = False
            nb: Notebook | None = None
            for part in parts:
                name = clean_name(part, "notebook")
                siblings = [
                    n
                    for n in self._notebook_map().values()
                    if n.parent == parent and n.name.casefold() == name.casefold()
                ]
                if siblings:
                    nb = min(siblings, key=lambda n: (n.created, n.id))
                else:
                    nb = self.create_notebook(name, parent)
                    created = True
                parent = nb.id
            assert nb is not None
            return nb, created

    def create_notebook(self, name: str, parent: str | None = None) -> Notebook:
        with self._lock:
            if parent is not None:
                self.notebook(parent)
            now = now_ms()
            nb = Notebook(
                id=crypto.random_id(),
                name=clean_name(name, "notebook"),
                parent=parent,
                created=now,
                modified=now,
            )
            written = self._write(nb, [])
            assert isinstance(written, Notebook)
            return written

    def rename_notebook(self, nb: Notebook, name: str) -> Notebook:
        with self._lock:
            renamed = dataclasses.replace(nb, name=clean_name(name, "notebook"), modified=now_ms())
            written = self._write(renamed, self._parents(nb))
            assert isinstance(written, Notebook)
            return written

    def move_notebook(self, nb: Notebook, parent: str | None) -> Notebook:
        with self._lock:
            if parent is not None and parent in self.notebook_descendants(nb.id):
                raise InvalidInputError("a notebook cannot move inside itself")
            if parent is not None:
                self.notebook(parent)
            moved = dataclasses.replace(nb, parent=parent, modified=now_ms())
            written = self._write(moved, self._parents(nb))
            assert isinstance(written, Notebook)
            return written

    def delete_notebook(self, nb: Notebook) -> int:
        """Delete a notebook and its sub-notebooks; their notes go to the trash (restorable to
        the top level). Returns how many notes were trashed."""
        with self._lock:
            inside = self.notebook_descendants(nb.id)
            notes = [n for n in self.all_notes() if n.notebook in inside and not n.in_trash]
            for note in notes:
                self.trash_note(note)
            by_id = self._notebook_map()
            for nb_id in inside:
                if nb_id in by_id:
                    self._delete(by_id[nb_id])
            return len(notes)

    # --- tags ------------------------------------------------------------------------------------

    def tag_id(self, name: str) -> str:
        return crypto.blake2b(
            clean_tag(name).casefold().encode("utf-8"), key=self._tag_key, size=16
        ).hex()

    def _tag_map(self) -> dict[str, Tag]:
        with self._lock:
            self.refresh()
            return self._derive("tags", Tag)

    def _register_tags(self, names: Iterable[str]) -> tuple[str, ...]:
        """Clean and de-duplicate tag names, using an existing tag's spelling, and record new
        tags in the registry."""
        tags = dict(self._tag_map())  # added to below; the shared map stays as it is
        result: list[str] = []
        seen: set[str] = set()
        for raw in names:
            name = clean_tag(raw)
            tag_id = self.tag_id(name)
            if tag_id in seen:
                continue
            seen.add(tag_id)
            existing = tags.get(tag_id)
            if existing is None:
                existing = Tag(id=tag_id, name=name, created=now_ms())
                self._write(existing, [])
                tags[tag_id] = existing
            result.append(existing.name)
        return tuple(result)

    def tags(self) -> list[TagCount]:
        """Every tag with the number of notes (outside the trash) carrying it."""
        counts: dict[str, int] = {}
        names: dict[str, str] = {}
        for tag in self._tag_map().values():
            key = tag.name.casefold()
            counts.setdefault(key, 0)
            names[key] = tag.name
        for note in self.all_notes():
            if note.in_trash:
                continue
            for t in note.tags:
                key = t.casefold()
                counts[key] = counts.get(key, 0) + 1
                names.setdefault(key, t)
        return sorted(
            (TagCount(names[k], c) for k, c in counts.items()), key=lambda t: t.name.casefold()
        )

    def rename_tag(self, old: str, new: str) -> int:
        """Rename a tag on every note carrying it (merging into `new` if it exists)."""
        old_key, new_name = clean_tag(old).casefold(), clean_tag(new)
        with self._lock:
            if not any(t.name.casefold() == old_key for t in self.tags()):
                raise NotFoundError(f"no tag '{old}'; `vault tags` lists them")
            changed = 0
            for note in self.all_notes():
                if any(t.casefold() == old_key for t in note.tags):
                    tags = [new_name if t.casefold() == old_key else t for t in note.tags]
                    self.update_note(note, tags=tags)
                    changed += 1
            if old_key != new_name.casefold():
                self._drop_tag_item(old)
            self._register_tags([new_name])
            return changed

    def delete_tag(self, name: str) -> int:
        """Remove a tag from every note (the notes stay) and from the registry."""
        key = clean_tag(name).casefold()
        with self._lock:
            if not any(t.name.casefold() == key for t in self.tags()):
                raise NotFoundError(f"no tag '{name}'; `vault tags` lists them")
            changed = 0
            for note in self.all_notes():
                if any(t.casefold() == key for t in note.tags):
                    self.update_note(note, tags=[t for t in note.tags if t.casefold() != key])
                    changed += 1
            self._drop_tag_item(name)
            return changed

    def _drop_tag_item(self, name: str) -> None:
        tag = self._tag_map().get(self.tag_id(name))
        if tag is not None:
            self._delete(tag)

    # --- keys ------------------------------------------------------------------------------------

    def change_password(
        self, new_password: str, *, keyfile: Path | None = _KEEP, kdf: KdfParams | None = None
    ) -> None:
        """Re-wrap the master key under a new password (and keyfile): O(1), no item changes.
        keyfile=None removes the keyfile requirement; a path sets or replaces it."""
        if not new_password:
            raise InvalidInputError("the password cannot be empty")
        with self._lock:
            slots = self.store.slots()
            old = [s for s in slots if s.slot_type in (keys.PASSWORD, keys.PASSWORD_KEYFILE)]
            if keyfile is _KEEP:
                if any(s.slot_type == keys.PASSWORD_KEYFILE for s in old):
                    raise KeyfileError("pass the keyfile to keep, or choose --no-keyfile")
                keyfile = None
            if kdf is None:
                kdf = (
                    next((s.kdf for s in old if s.kdf is not None), None) or crypto.calibrate_kdf()
                )
            slot_type = keys.PASSWORD_KEYFILE if keyfile else keys.PASSWORD
            # The same slot id is replaced atomically, so a crash leaves the old or new password.
            slot_id = old[0].slot_id if old else None
            new = keys.Slot.create(
                self.vault_id,
                slot_type,
                self.master_key,
                keys.Secret(new_password, keyfile),
                kdf,
                slot_id=slot_id,
            )
            self.store.write_slot(new)
            for s in old[1:]:
                self.store.remove_slot(s.slot_id)

    def rekey(
        self, password: str, *, keyfile: Path | None = None, kdf: KdfParams | None = None
    ) -> str:
        """Rotate the master key: every version of every item is sealed anew and a new recovery
        key replaces the old. Returns the new recovery key, to show once.

        Order matters for crash safety: new slots are written first (ignored while the store
        names the old key), then one transaction swaps every envelope and names the new key,
        then the old slots are removed."""
        with self._lock:
            old_slots = self.store.slots()
            pw_slot = next((s for s in old_slots if s.slot_type != keys.RECOVERY), None)
            if (
                pw_slot is None
                or pw_slot.try_open(self.vault_id, keys.Secret(password, keyfile)) is None
            ):
                raise WrongPasswordError("wrong password; rekey needs the current password")
            kdf = kdf or pw_slot.kdf
            new_mk = crypto.random_bytes(crypto.KEY_BYTES)
            new_items_key = crypto.subkey(new_mk, Label.ITEMS)
            recovery, recovery_text = keys.new_recovery_key()
            new_slots = [
                keys.Slot.create(
                    self.vault_id, pw_slot.slot_type, new_mk, keys.Secret(password, keyfile), kdf
                ),
                keys.Slot.create(
                    self.vault_id, keys.RECOVERY, new_mk, keys.Secret(recovery=recovery)
                ),
            ]
            for slot in new_slots:
                self.store.write_slot(slot)

            def resealed() -> Iterable[tuple[str, str]]:
                for op in self.store.all_ops():
                    payload = self.open_op(op)
                    yield (
                        seal_op(
                            new_items_key,
                            self.vault_id,
                            op.claims,
                            None if op.deleted else payload,
                        ),
                        op.op_id,
                    )

            self.store.replace_envelopes(
                list(resealed()), keys.mk_id(new_mk), crypto.subkey(new_mk, Label.OPS_SUM)
            )
            self.store.remove_stale_slots()
            snapshot.destroy(self.path)  # sealed under the old key; locking seals a new one
            self._unsnapped = max(self._unsnapped, SNAPSHOT_MIN_CHANGES)
            self._mk = bytearray(new_mk)
            self._items_key = new_items_key
            self._tag_key = crypto.subkey(new_mk, Label.TAG_ID)
            self._seen_version = -1
            self._items.clear()
            self._claims.clear()
            self._heads_checked.clear()
            self.refresh()
            return recovery_text

    # --- integrity -------------------------------------------------------------------------------

    def check(self) -> CheckReport:
        """Verify every operation of every item against what its row claims (op id, item,
        kind, parents, deleted, device), and the index against the operations; report what
        does not verify."""
        corrupt: dict[str, str] = {}
        for item_id in self.index_repaired:
            corrupt[item_id] = (
                f"item {short(item_id)}: the store's index of its history had been altered "
                "(tampered); it was rebuilt from the sealed history"
            )
        repaired, headless = self.store.check_index()
        for item_id in repaired | headless:
            corrupt.setdefault(
                item_id,
                f"item {short(item_id)} has no current version: its history rows were "
                "altered (tampered)",
            )
        versions = 0
        for op in self.store.all_ops():
            try:
                payload = self.open_op(op)
            except VaultError as exc:
                corrupt.setdefault(op.item_id, str(exc))
                continue
            versions += not op.deleted and not is_erased(payload)
        rows = self.store.items(include_deleted=True)
        conflicts = [r.item_id for r in rows if r.conflict]
        live = sum(1 for r in rows if not r.deleted)
        return CheckReport(live, versions, corrupt, conflicts, self.history_incident)


def sort_notes(notes: list[Note], sort: str = "modified") -> list[Note]:
    """Pinned first, then by the chosen order (ids break ties so the order is stable)."""
    if sort == "title":
        key = lambda n: (not n.pinned, n.title.casefold(), n.id)  # noqa: E731
    elif sort == "created":
        key = lambda n: (not n.pinned, -n.created, n.id)  # noqa: E731
    elif sort == "modified":
        key = lambda n: (not n.pinned, -n.modified, n.id)  # noqa: E731
    else:
        raise InvalidInputError(f"unknown sort order '{sort}' (modified, created or title)")
    return sorted(notes, key=key)


# Every live envelope of a vault, read and checked but not decrypted: ciphertext only, so it
# may be held before the vault is unlocked. Unlocking uses an entry only if the item's current
# version and its claims are still the ones read; anything newer is read again.
Prefetched = dict[str, tuple[ItemRow, SealedOp | VaultError]]


def _read_envelopes(store: Store) -> Prefetched:
    result: Prefetched = {}
    for row in store.items():
        if row.kind not in KIND_TYPES:
            continue
        try:
            parsed: SealedOp | VaultError = parse_op(row.claims, row.envelope)
        except VaultError as exc:
            parsed = exc
        result[row.item_id] = (row, parsed)
    return result


def prefetch(path: Path) -> Prefetched:
    """Read and parse the envelopes of the vault at `path` without any key, so that unlocking
    later only decrypts (the app calls this while the person types the password)."""
    store = Store.open(path)
    try:
        return _read_envelopes(store)
    finally:
        store.close()


class _Prefetch(threading.Thread):
    """Scans the history (writing nothing) and reads and parses every live envelope (no
    decryption, no key) in the background."""

    def __init__(self, store: Store, *, envelopes: bool, tails: bool) -> None:
        super().__init__(name="vault-prefetch", daemon=True)
        self.store = store
        self.envelopes, self.tails = envelopes, tails
        self.result: Prefetched = {}
        self.scan: HistoryScan | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with gcpause.paused():  # tens of thousands of parsed envelopes, no cycles
                self.scan = self.store.scan_history(tails=self.tails, rebuild=False)
                if self.envelopes:
                    self.result = _read_envelopes(self.store)
        except BaseException as exc:  # the first refresh reads the store itself instead
            self.error = exc


def _unlock_master_key(
    store: Store,
    password: str | None,
    keyfile: Path | None,
    recovery_key: str | None,
    slots: list[keys.Slot] | None = None,
) -> bytes:
    slots = store.slots() if slots is None else slots
    if not slots:
        raise AuthError(f"{store.path} has no key slots left; restore it from a backup")
    vault_id = store.vault_id
    if recovery_key is not None:
        secret = keys.Secret(recovery=keys.parse_recovery_key(recovery_key))
        for slot in slots:
            if slot.slot_type == keys.RECOVERY:
                mk = slot.try_open(vault_id, secret)
                if mk is not None:
                    return mk
        raise RecoveryKeyError("this recovery key does not open this vault")
    if password is None:
        raise AuthError("a password is needed to unlock the vault")
    pw_slots = [s for s in slots if s.slot_type != keys.RECOVERY]
    needs_keyfile = all(s.slot_type == keys.PASSWORD_KEYFILE for s in pw_slots)
    if needs_keyfile and keyfile is None:
        raise KeyfileRequiredError("this vault needs its keyfile: pass --keyfile PATH")
    if keyfile is not None and not any(s.slot_type == keys.PASSWORD_KEYFILE for s in pw_slots):
        raise KeyfileError("this vault does not use a keyfile; leave out --keyfile")
    for slot in pw_slots:
        if slot.slot_type == keys.PASSWORD_KEYFILE and keyfile is None:
            continue
        mk = slot.try_open(vault_id, keys.Secret(password, keyfile))
        if mk is not None:
            return mk
    if needs_keyfile:
        raise WrongPasswordError("wrong password or keyfile")
    raise WrongPasswordError("wrong password")
