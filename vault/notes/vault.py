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

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from vault.errors import (
    InvalidInputError,
    KeyfileError,
    RecoveryKeyError,
    StaleSessionError,
    VaultError,
    WeakParametersError,
    WrongPasswordError,
)
from vault.notes import integrity
from vault.notes.cache import SNAPSHOT_MIN_CHANGES, SNAPSHOT_MIN_ITEMS, Bodies, ItemCache
from vault.notes.editing import KEEP, Notes, clean_title, sort_notes
from vault.notes.filing import clean_name, clean_tag
from vault.notes.integrity import CheckReport
from vault.notes.model import forget_shared
from vault.notes.unlocking import (
    Prefetch,
    Prefetched,
    ReadAhead,
    VaultInfo,
    inspect_vault,
    prefetch,
    unlock_master_key,
)
from vault.sealing import crypto, keys, rotation, snapshot
from vault.sealing.crypto import KdfParams, Label
from vault.sealing.envelope import seal_op
from vault.sealing.rotation import ROTATIONS
from vault.storage.store import Store

if TYPE_CHECKING:
    from vault.notes import attachments  # loaded by the methods that use it (and its threads)
    from vault.storage.blobs import BlobRef

# What the faces, sync and tests import from here (the layers live in the modules named).
__all__ = [
    "SNAPSHOT_MIN_CHANGES",
    "SNAPSHOT_MIN_ITEMS",
    "CheckReport",
    "ItemCache",
    "Prefetched",
    "ReadAhead",
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
        pw_slot, kek = keys.Slot.create_kek(
            vault_id, pw_type, master_key, keys.Secret(password, keyfile), kdf
        )
        slots = [
            pw_slot,
            keys.Slot.create(vault_id, keys.RECOVERY, master_key, keys.Secret(recovery=recovery)),
        ]
        store = Store.create(path, vault_id, crypto.random_id(), keys.mk_id(master_key), slots)
        vault = cls(store, master_key)
        vault.keep_kek(pw_slot, kek)
        return vault, recovery_text

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
        bodies: Bodies = True,
        read_ahead: ReadAhead | None = None,
        titled: str | None = None,
    ) -> Vault:
        """Open the vault with a password (and keyfile) or the recovery key.

        `prefetched` is what `prefetch(path)` read earlier (the app reads while the person
        types the password); without it the envelopes are read while the KDF runs.
        `bodies=False` is for reading the notes' other fields (a listing): the notes the
        snapshot holds come without their bodies (`UNLOADED`), which `note(id)` and
        `whole(note)` read, a search is refused, and a change to such a note keeps the body
        of the version it changes. `bodies="later"` (the app): the same at first, then
        `load_bodies` reads them, a slice at a time, from the rest of the same snapshot,
        folds each for search and lets it go: the notes stay without their bodies, which
        `whole`, `note()` and `bodies_of` read from their envelopes; a search meanwhile
        waits for the rest (ItemCache says more). With a
        version 3 snapshot, the app's first screen comes from its head (`first_screen`) and
        the rest of the first load waits until something needs it (`finish_listing`).
        `read_ahead` (the app, while the password is typed): the store already open and read
        without the key (`ReadAhead`), taken over instead of opened and scanned again.
        `titled` (with `bodies=False`; a command that reads the one note a title names): the
        notes titled exactly so are found in the snapshot without building every note, and
        when there are some, the vault is a view without the notes with those beside it
        (`titled`; ItemCache._only_titled says when)."""
        taken = read_ahead.take(path) if read_ahead is not None and kinds is None else None
        store = taken[0] if taken is not None else Store.open(path)
        try:
            slots = store.slots()
            # Scanning the history and reading and parsing every envelope need no key, so they
            # run while the KDF does: with 10,000 notes that is most of the unlock work, hidden.
            # A vault opened for some kinds only (`vault new`, `vault show ID`) needs the scan too.
            reader = None
            if taken is not None:
                reader = taken[1]  # (finished; None before an upgrade, as below)
            elif not store.needs_upgrade:
                tails = kinds is None and snapshot.path_in(path).exists()
                envelopes = kinds is None and prefetched is None and not tails
                reader = Prefetch(store, envelopes=envelopes, tails=tails)
                reader.start()
            opened: list[tuple[keys.Slot, bytes]] = []
            try:
                master_key = unlock_master_key(
                    store, password, keyfile, recovery_key, slots, opened
                )
            finally:
                if reader is not None:
                    reader.join()
            scan = None
            if reader is not None and reader.error is None:
                prefetched, scan = reader.result or prefetched, reader.scan
            store.remove_stale_slots()
            vault = cls(store, master_key, prefetched, kinds, scan, bodies, titled)
            if opened:
                vault.keep_kek(*opened[0])
            return vault
        except BaseException:
            # An opening that failed after decrypting (the first load read the snapshot, then
            # raised) is never locked: the tag names it shared must not stay in the process.
            forget_shared()
            store.close()
            raise

    @classmethod
    def open_with_key(
        cls,
        path: Path,
        master_key: bytes,
        kinds: frozenset[str] | None = None,
        bodies: Bodies = True,
    ) -> Vault:
        """Open the vault with a master key already unwrapped (the unlocked session's), no KDF.
        A key the store does not name as current (the vault was rekeyed since) is refused."""
        store = Store.open(path)
        try:
            if keys.mk_id(master_key) != store.master_id:
                raise StaleSessionError("the unlocked session is for an older key of this vault")
            return cls(store, master_key, kinds=kinds, bodies=bodies)
        except BaseException:
            # An opening that failed after decrypting (the first load read the snapshot, then
            # raised) is never locked: the tag names it shared must not stay in the process.
            forget_shared()
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

    def check_history(self) -> str | None:
        """Check the history against its keyed commitment again if another connection
        committed since the last check (the check at opening, or this): for a vault kept open
        (the session agent, between commands), so rows removed or changed without the key
        after it opened are reported as an own process's opening would. Its own writes keep
        the commitment and need no check. Costs one scan of the history when another process
        wrote, one query when none did."""
        with self._lock:
            version = self.store.others_version()
            if version != self._history_checked:
                scan = self.store.scan_history(rebuild=False)
                self.history_incident = integrity.check_commitment(self.store, scan)
                self._history_checked = version
                if self.history_incident:
                    # Rows changed in place keep their versions, which is all the catch-up
                    # after another process's commit compares: compare every claim instead.
                    self._seen_version = -1
            return self.history_incident

    def acknowledge_history_incident(self) -> None:
        """`vault check` has shown the incident: later openings stop repeating it."""
        integrity.forget_incident(self.store)
        self.history_incident = None

    # --- attachments (vault.notes.attachments) ---------------------------------------------------

    def attachments(self, note_id: str) -> list[attachments.Attachment]:
        from vault.notes import attachments

        return attachments.list_attachments(self, note_id)

    def attach(
        self,
        note_id: str,
        source: Path,
        *,
        name: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> attachments.Attachment:
        from vault.notes import attachments

        return attachments.attach(self, note_id, source, name=name, progress=progress)

    def seal_file(self, source: Path) -> BlobRef:
        """The file sealed as a blob, for `attach_sealed` (see attachments.seal_file)."""
        from vault.notes import attachments

        return attachments.seal_file(self, source)

    def attach_sealed(self, note_id: str, ref: BlobRef, name: str) -> attachments.Attachment:
        from vault.notes import attachments

        return attachments.attach_sealed(self, note_id, ref, name)

    def save_attachment(
        self,
        note_id: str,
        name: str,
        out: BinaryIO,
        progress: Callable[[int, int], None] | None = None,
        *,
        private: bool = False,
    ) -> None:
        from vault.notes import attachments

        attachments.save_attachment(self, note_id, name, out, progress, private=private)

    def remove_attachment(self, note_id: str, name: str) -> None:
        from vault.notes import attachments

        attachments.remove_attachment(self, note_id, name)

    # --- keys ------------------------------------------------------------------------------------

    @property
    def has_password(self) -> bool:
        """Whether a password opens this vault here (else only the recovery key does)."""
        return any(s.slot_type != keys.RECOVERY for s in self.store.slots())

    @property
    def uses_keyfile(self) -> bool:
        """Whether the password opens this vault only with its keyfile."""
        slots = [s for s in self.store.slots() if s.slot_type != keys.RECOVERY]
        return bool(slots) and all(s.slot_type == keys.PASSWORD_KEYFILE for s in slots)

    def check_password(self, password: str, keyfile: Path | None = None) -> None:
        """Raise unless `password` (with `keyfile`) opens this very vault: what the app asks
        for before it changes the password, so an unlocked screen left alone is not enough.
        One key derivation, like an unlock."""
        master_key = unlock_master_key(self.store, password, keyfile, None)
        if not crypto.constant_time_equal(master_key, self.master_key):
            # (a slot of another master key: left over from a rotation not yet followed)
            raise WrongPasswordError("wrong password")

    def check_recovery_key(self, recovery_key: str) -> None:
        """Raise unless `recovery_key` opens this very vault: what the app asks for before it
        sets a password on a vault that has none here (opened with the recovery key)."""
        master_key = unlock_master_key(self.store, None, None, recovery_key)
        if not crypto.constant_time_equal(master_key, self.master_key):
            raise RecoveryKeyError("this recovery key does not open this vault")

    @property
    def damaged_slot_files(self) -> list[str]:
        """The files in keys/ that did not read as key slots when last scanned. A password
        change cannot remove what it cannot read: one of them may still wrap the master key
        under an old password, so whoever changes the password is told to look at them."""
        try:
            self.store.slots()  # (scans again: as the files are now)
        except VaultError:
            return []  # (a keys folder that does not read: the unlock said so already)
        return [name for name, _ in self.store.damaged_slots]

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
            # Only the slot that opened here is known to be this vault's own: any other one in
            # keys/ may be planted (its commitment never checked), and its Argon2 parameters
            # and id must not be taken (a decoy asking m=8 KiB made the new password cheap to
            # guess). Opened with the recovery key: measured anew.
            opened = self._rewrap[0] if self._rewrap is not None else None
            if opened is not None and not any(s.commit == opened.commit for s in old):
                opened = None  # changed by another process since: not here any more
            if kdf is None:
                kdf = opened.kdf if opened is not None and opened.kdf else None
                if kdf is None or not _creatable(kdf):
                    kdf = crypto.calibrate_kdf()
            slot_type = keys.PASSWORD_KEYFILE if keyfile else keys.PASSWORD
            # The same slot id is replaced atomically, so a crash leaves the old or new password.
            slot_id = opened.slot_id if opened is not None else None
            new, kek = keys.Slot.create_kek(
                self.vault_id,
                slot_type,
                self.master_key,
                keys.Secret(new_password, keyfile),
                kdf,
                slot_id=slot_id,
            )
            self.store.write_slot(new)
            self.keep_kek(new, kek)
            for s in old:  # every other password slot: the old password opens nothing more
                if s.slot_id != new.slot_id:
                    self.store.remove_slot(s.slot_id)

    def rekey(
        self,
        password: str,
        *,
        keyfile: Path | None = None,
        kdf: KdfParams | None = None,
        travel: bool = False,
    ) -> str:
        """Rotate the master key: every version of every item is sealed anew and a new recovery
        key replaces the old. Returns the new recovery key, to show once.

        With `travel`, a key rotation record (vault.sealing.rotation: the new key sealed under
        the old, and back) is kept in `meta.mk_rotations` in the same transaction, for sync
        to publish, so the other devices follow (docs/SYNC.md, "Key rotation").

        Order matters for crash safety: new slots are written first (ignored while the store
        names the old key), then one transaction swaps every envelope and names the new key,
        then the old slots are removed."""
        with self._lock:
            old_slots = self.store.slots()
            # The password slot the password opens (a planted one sorting first opens nothing).
            pw_slot, opened = None, None
            for candidate in (s for s in old_slots if s.slot_type != keys.RECOVERY):
                opened = candidate.try_open_kek(self.vault_id, keys.Secret(password, keyfile))
                if opened is not None:
                    pw_slot = candidate
                    break
            if pw_slot is None or opened is None:
                raise WrongPasswordError("wrong password; rekey needs the current password")
            kdf = kdf or pw_slot.kdf
            new_mk = crypto.random_bytes(crypto.KEY_BYTES)
            recovery, recovery_text = keys.new_recovery_key()
            new_pw, new_kek = keys.Slot.create_kek(
                self.vault_id, pw_slot.slot_type, new_mk, keys.Secret(password, keyfile), kdf
            )
            new_slots = [
                new_pw,
                keys.Slot.create(
                    self.vault_id, keys.RECOVERY, new_mk, keys.Secret(recovery=recovery)
                ),
            ]
            # Without travel the new key is linked to nothing: records of earlier rotations
            # would only be records this vault can no longer open.
            meta = {ROTATIONS: "{}"}
            if travel:
                record = rotation.make_record(
                    self.vault_id, self.store.device_id, self.master_key, new_mk, new_slots[1]
                )
                meta[ROTATIONS] = rotation.add_record(self.store.meta(ROTATIONS), record)
            self.switch_key(new_mk, new_slots, meta)
            self.keep_kek(new_pw, new_kek)  # a new salt: the KEK for a later rotation
            return recovery_text

    def keep_kek(self, slot: keys.Slot, kek: bytes) -> None:
        """Remember the password slot that opened this vault and its KEK (see __init__)."""
        if slot.slot_type != keys.RECOVERY:
            self._rewrap = (slot, bytearray(kek))

    def rewrapped_password_slot(self, new_mk: bytes) -> keys.Slot | None:
        """This device's password slot wrapping `new_mk` (same password, keyfile and KDF
        parameters), or None when the vault was not opened with its password here."""
        if self._rewrap is None:
            return None
        slot, kek = self._rewrap
        current = self.store.slots()
        if not any(s.commit == slot.commit and s.kdf_salt == slot.kdf_salt for s in current):
            # The password was changed by another process since this one unlocked: wrapping
            # with the old one would bring it back.
            return None
        taken = {s.slot_id for s in current} | {slot.slot_id}
        slot_id = next(i for i in iter(lambda: crypto.random_bytes(8).hex(), "") if i not in taken)
        return slot.rewrap(self.vault_id, bytes(kek), new_mk, slot_id)

    def switch_key(
        self, new_mk: bytes, new_slots: list[keys.Slot], meta: dict[str, str] | None = None
    ) -> None:
        """Make `new_mk` the vault's master key: write `new_slots` (wrapping it), re-seal every
        operation under it and name it current in one transaction (with `meta`), then remove
        the old key's slots. Used by rekey and by following another device's rotation."""
        with self._lock:
            for slot in new_slots:
                self.store.write_slot(slot)
            new_items_key = crypto.subkey(new_mk, Label.ITEMS)

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
                list(resealed()),
                keys.mk_id(new_mk),
                crypto.subkey(new_mk, Label.OPS_SUM),
                meta=meta,
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
            if self._rewrap is not None:
                pw = next((s for s in new_slots if s.commit == self._rewrap[0].commit), None)
                if pw is not None:
                    self._rewrap = (pw, self._rewrap[1])

    # --- integrity -------------------------------------------------------------------------------

    def check(self, progress: Callable[[int, int | None], None] | None = None) -> CheckReport:
        """Verify every operation of every item against what its row claims (op id, item,
        kind, parents, deleted, device), and the index against the operations, and every
        attachment's blob here whole (its parts and its content hash); report what does not
        verify. `progress(done, total)`, every 256 operations, may raise to stop it."""
        report = integrity.check(
            self.store, self.open_op, self.index_repaired, self.history_incident, progress
        )
        from vault.notes import attachments

        blob_progress = None
        if progress is not None:
            versions = self.store.counts()["versions"]
            progress(versions, versions)

            def blob_progress(done: int, total: int) -> None:
                # (one scale for both parts: an attached file counts as a version)
                progress(versions + done, versions + total)

        checked, damaged = attachments.check_blobs(self, blob_progress)
        return dataclasses.replace(report, blobs=checked, damaged_blobs=damaged)


def _creatable(kdf: KdfParams) -> bool:
    """Whether a new slot may be made with `kdf` (above the floor; `KdfParams.check_creatable`);
    the test parameters count, as they were chosen explicitly for the vault being tested."""
    if kdf == crypto.TEST_KDF:
        return True
    try:
        kdf.check_creatable()
    except WeakParametersError:
        return False
    return True
