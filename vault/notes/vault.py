"""The domain API: one unlocked vault and everything a person does with its notes.

The CLI and the TUI are two thin faces over `Vault`. It keeps a decrypted cache of the items
in memory (never on disk), refreshed cheaply when another process or a sync changes the store,
and every change it makes is one sealed version appended to the item's history.

`Vault` is built in layers, one module each, each importing only the one below it:
vault.notes.cache (the decrypted items, refresh, sealing a change, the snapshot),
vault.notes.filing (notebooks and the tag registry), vault.notes.editing (notes, search, and
the changes that reach many notes). This module adds creating and unlocking a vault (with
vault.notes.unlocking), changing its keys, `check` (vault.notes.integrity), and the notes'
attached files (vault.notes.attachments).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from vault.errors import InvalidInputError, KeyfileError, StaleSessionError, WrongPasswordError
from vault.notes import attachments, integrity
from vault.notes.cache import SNAPSHOT_MIN_CHANGES, SNAPSHOT_MIN_ITEMS, ItemCache
from vault.notes.editing import KEEP, Notes, clean_title, sort_notes
from vault.notes.filing import clean_name, clean_tag
from vault.notes.integrity import CheckReport
from vault.notes.unlocking import (
    Prefetch,
    Prefetched,
    VaultInfo,
    inspect_vault,
    prefetch,
    unlock_master_key,
)
from vault.sealing import crypto, keys, snapshot
from vault.sealing.crypto import KdfParams, Label
from vault.sealing.envelope import seal_op
from vault.storage.store import Store

# What the faces, sync and tests import from here (the layers live in the modules named).
__all__ = [
    "SNAPSHOT_MIN_CHANGES",
    "SNAPSHOT_MIN_ITEMS",
    "CheckReport",
    "ItemCache",
    "Prefetched",
    "Vault",
    "VaultInfo",
    "clean_name",
    "clean_tag",
    "clean_title",
    "inspect_vault",
    "prefetch",
    "sort_notes",
]


class Vault(Notes):
    """An unlocked vault. Thread-safe; `lock()` drops every decrypted value it holds.

    Built in layers, each a module of its own, each knowing only the one below: the decrypted
    items (vault.notes.cache.ItemCache), notebooks and tags (vault.notes.filing.Filing), notes
    (vault.notes.editing.Notes); this class adds creating and unlocking, the keys and `check`.
    """

    # --- creating and unlocking (locking: ItemCache.lock) ----------------------------------------

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
                reader = Prefetch(store, envelopes=prefetched is None and not tails, tails=tails)
                reader.start()
            try:
                master_key = unlock_master_key(store, password, keyfile, recovery_key, slots)
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
            return unlock_master_key(store, password, keyfile, None)
        finally:
            store.close()

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock()

    def info(self) -> VaultInfo:
        return VaultInfo(self.path, self.vault_id, tuple(s.slot_type for s in self.store.slots()))

    def acknowledge_history_incident(self) -> None:
        """`vault check` has shown the incident: later openings stop repeating it."""
        integrity.forget_incident(self.store)
        self.history_incident = None

    # --- attachments (vault.notes.attachments) ---------------------------------------------------

    def attachments(self, note_id: str) -> list[attachments.Attachment]:
        return attachments.list_attachments(self, note_id)

    def attach(
        self,
        note_id: str,
        source: Path,
        *,
        name: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> attachments.Attachment:
        return attachments.attach(self, note_id, source, name=name, progress=progress)

    def save_attachment(
        self,
        note_id: str,
        name: str,
        out: BinaryIO,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        attachments.save_attachment(self, note_id, name, out, progress)

    def remove_attachment(self, note_id: str, name: str) -> None:
        attachments.remove_attachment(self, note_id, name)

    # --- keys ------------------------------------------------------------------------------------

    def change_password(
        self, new_password: str, *, keyfile: Path | None = KEEP, kdf: KdfParams | None = None
    ) -> None:
        """Re-wrap the master key under a new password (and keyfile): O(1), no item changes.
        keyfile=None removes the keyfile requirement; a path sets or replaces it."""
        if not new_password:
            raise InvalidInputError("the password cannot be empty")
        with self._lock:
            slots = self.store.slots()
            old = [s for s in slots if s.slot_type in (keys.PASSWORD, keys.PASSWORD_KEYFILE)]
            if keyfile is KEEP:
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
        return integrity.check(self.store, self.open_op, self.index_repaired, self.history_incident)
