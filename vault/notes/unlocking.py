"""Opening a vault: what can be known before unlocking, the master key from a password (and
keyfile) or the recovery key, and the envelopes read while the KDF runs.

Nothing here decrypts an item; `Vault.unlock` (vault.notes.vault) puts these together.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from vault import gcpause
from vault.errors import (
    AuthError,
    KeyfileError,
    KeyfileRequiredError,
    RecoveryKeyError,
    VaultError,
    WrongPasswordError,
)
from vault.notes.model import KIND_TYPES
from vault.sealing import keys, snapshot
from vault.sealing.envelope import SealedOp, parse_op
from vault.storage.header import DB_NAME, HEADER
from vault.storage.store import HistoryScan, ItemRow, Store


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


def inspect_vault(path: Path) -> VaultInfo:
    store = Store.open(path)
    try:
        return VaultInfo(path, store.vault_id, tuple(s.slot_type for s in store.slots()))
    finally:
        store.close()


# Every live envelope of a vault, read and checked but not decrypted: ciphertext only, so it
# may be held before the vault is unlocked. Unlocking uses an entry only if the item's current
# version and its claims are still the ones read; anything newer is read again.
Prefetched = dict[str, tuple[ItemRow, SealedOp | VaultError]]


def read_envelopes(store: Store) -> Prefetched:
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
    later only decrypts (the app calls this while the person types the password). Nothing
    when the vault has a snapshot: unlocking then reads it and only what changed since, as
    `Vault.unlock` does without this (at 100,000 notes the parsed envelopes held 450 MiB the
    app never used)."""
    if snapshot.path_in(path).exists():
        return {}
    store = Store.open(path)
    try:
        return read_envelopes(store)
    finally:
        store.close()


class ReadAhead:
    """The vault at a path opened and read as far as it can be without the key, while the
    person types the password (the app): its store, with the history scanned and prepared
    and, without a snapshot, every envelope read (`Prefetch`). `Vault.unlock(read_ahead=...)`
    takes the store over instead of opening it and scanning again after the password; the
    scan is used only if nothing was committed since (`ItemCache._first_load` compares the
    store's data version, on this same connection). Taken at most once; `close` releases it
    if it was not."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files = _files_of(path)
        self.store: Store | None = Store.open(path)
        self.reader: Prefetch | None = None
        try:
            if not self.store.needs_upgrade:
                tails = snapshot.path_in(path).exists()
                reader = Prefetch(self.store, envelopes=not tails, tails=tails)
                reader.start()
                reader.join()
                self.reader = reader
        except BaseException:
            self.close()
            raise

    def take(self, path: Path) -> tuple[Store, Prefetch | None] | None:
        """The store and what was read (once), if they are of the vault at `path`."""
        store, self.store = self.store, None
        if store is None:
            return None
        # The same path is not enough: the folder (or its store or header) may have been
        # replaced meanwhile, as restoring a copy does; the unlock then opens what is there now.
        if path != self.path or _files_of(path) != self.files or self.files is None:
            store.close()
            return None
        return store, self.reader

    def close(self) -> None:
        store, self.store = self.store, None
        if store is not None:
            store.close()


def _files_of(path: Path) -> tuple[tuple[int, int], ...] | None:
    """Which files the vault at `path` is now (device and inode of its store and header)."""
    try:
        return tuple(
            (st.st_dev, st.st_ino) for st in (os.stat(path / n) for n in (DB_NAME, HEADER))
        )
    except OSError:
        return None


class Prefetch(threading.Thread):
    """Scans the history (writing nothing), derives from it what unlocking needs without the
    key (`HistoryScan.prepare`), and reads and parses every live envelope (no decryption, no
    key) in the background."""

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
                self.scan = self.store.scan_history(tails=self.tails, rebuild=False).prepare()
                if self.envelopes:
                    self.result = read_envelopes(self.store)
        except BaseException as exc:  # the first refresh reads the store itself instead
            self.error = exc


def unlock_master_key(
    store: Store,
    password: str | None,
    keyfile: Path | None,
    recovery_key: str | None,
    slots: list[keys.Slot] | None = None,
    opened: list[tuple[keys.Slot, bytes]] | None = None,
) -> bytes:
    """The master key from the slot the secret opens; with `opened`, the password slot that
    opened and its KEK are appended to it (for following a key rotation, vault.sync.rotation)."""
    slots = store.slots() if slots is None else slots
    if not slots:
        if store.damaged_slots:
            raise AuthError(
                f"every key slot of {store.path} is damaged ({_damage(store)}); restore its "
                "keys folder from a backup"
            )
        raise AuthError(f"{store.path} has no key slots left; restore it from a backup")
    vault_id = store.vault_id
    if recovery_key is not None:
        secret = keys.Secret(recovery=keys.parse_recovery_key(recovery_key))
        for slot in slots:
            if slot.slot_type == keys.RECOVERY:
                mk = slot.try_open(vault_id, secret)
                if mk is not None:
                    return mk
        if store.damaged_slots and not any(s.slot_type == keys.RECOVERY for s in slots):
            raise RecoveryKeyError(
                f"the recovery key's slot is damaged ({_damage(store)}); restore the keys "
                "folder from a backup"
            )
        raise RecoveryKeyError("this recovery key does not open this vault")
    if password is None:
        raise AuthError("a password is needed to unlock the vault")
    pw_slots = [s for s in slots if s.slot_type != keys.RECOVERY]
    if not pw_slots:
        why = (
            f"the password's key slot is damaged ({_damage(store)})"
            if store.damaged_slots
            else "no password opens this vault here"
        )
        raise AuthError(f"{why}; the recovery key does: `vault passwd --recovery` sets a password")
    needs_keyfile = all(s.slot_type == keys.PASSWORD_KEYFILE for s in pw_slots)
    if needs_keyfile and keyfile is None:
        raise KeyfileRequiredError("this vault needs its keyfile: pass --keyfile PATH")
    if keyfile is not None and not any(s.slot_type == keys.PASSWORD_KEYFILE for s in pw_slots):
        raise KeyfileError("this vault does not use a keyfile; leave out --keyfile")
    for slot in pw_slots:
        if slot.slot_type == keys.PASSWORD_KEYFILE and keyfile is None:
            continue
        found = slot.try_open_kek(vault_id, keys.Secret(password, keyfile))
        if found is not None:
            if opened is not None:
                opened.append((slot, found[1]))
            return found[0]
    if needs_keyfile:
        raise WrongPasswordError("wrong password or keyfile")
    raise WrongPasswordError("wrong password")


def _damage(store: Store) -> str:
    """The key slot files `store.slots()` skipped, and why, in one line (the first three: a
    folder may hold any number of planted files)."""
    damaged = store.damaged_slots
    named = "; ".join(f"{name}: {why}" for name, why in damaged[:3])
    return named + (f"; and {len(damaged) - 3} more" if len(damaged) > 3 else "")
