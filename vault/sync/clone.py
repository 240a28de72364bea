"""Joining a vault that already lives in a sync folder, on a new machine (`vault clone`).

Only the folder and one secret are needed: the folder holds every device's key slots, so the
password of any device that syncs there (or the recovery key) unwraps the master key. The new
local vault keeps the vault id and master key, gets its own device id, and copies the slot that
opened (plus the recovery slots) so the same secret opens it; after a recovery-key clone a new
password is set. Then one ordinary sync fills it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from vault import crypto, keys
from vault.crypto import KdfParams
from vault.errors import (
    AuthError,
    InvalidInputError,
    KeyfileRequiredError,
    NotAVaultError,
    RecoveryKeyError,
    RemoteError,
    UnsupportedFormatError,
    VaultError,
    WrongPasswordError,
)
from vault.notes import Vault
from vault.store import Store
from vault.sync import layout
from vault.sync.engine import ProgressCallback, SyncEngine, SyncReport
from vault.sync.remote import RemoteFolder, RemoteHeader, Unreadable
from vault.sync.state import REMOTE, SyncState


def read_header(remote: RemoteFolder) -> RemoteHeader:
    remote.check_reachable()
    header = remote.read_header()
    if header is None:
        raise RemoteError(
            f"{remote.path} holds no vault (no {layout.HEADER}); if the sync app is still "
            "copying it, wait and try again"
        )
    return header


def remote_slots(remote: RemoteFolder, header: RemoteHeader) -> list[keys.Slot]:
    """Every distinct key slot the devices published for the folder's current master key."""
    found: dict[tuple[str, bytes], keys.Slot] = {}
    for device in remote.key_devices():
        for entry in remote.list_files(device, layout.KEYS_DIR):
            if layout.parse_slot_name(entry.name) is None:
                continue
            try:
                slot = keys.Slot.from_json(remote.read(device, entry.name, layout.KEYS_DIR), "")
            except (Unreadable, NotAVaultError, UnsupportedFormatError, VaultError):
                continue  # half-delivered, damaged or foreign: other slots may still open
            if slot.master_id == header.master_id:
                found.setdefault((slot.slot_id, slot.cipher), slot)
    return sorted(found.values(), key=lambda s: (s.slot_type, s.slot_id))


def unlock_remote(
    slots: list[keys.Slot],
    vault_id: str,
    *,
    password: str | None = None,
    keyfile: Path | None = None,
    recovery_key: str | None = None,
) -> tuple[bytes, keys.Slot]:
    """The master key and the slot that opened it."""
    if not slots:
        raise RemoteError("the sync folder holds no key slots yet; sync another device first")
    if recovery_key is not None:
        secret = keys.Secret(recovery=keys.parse_recovery_key(recovery_key))
        for slot in slots:
            if slot.slot_type == keys.RECOVERY:
                mk = slot.try_open(vault_id, secret)
                if mk is not None:
                    return mk, slot
        raise RecoveryKeyError("this recovery key does not open the vault in that folder")
    if password is None:
        raise AuthError("a password or the recovery key is needed to clone")
    pw_slots = [s for s in slots if s.slot_type != keys.RECOVERY]
    if keyfile is None:
        usable = [s for s in pw_slots if s.slot_type == keys.PASSWORD]
        if not usable and pw_slots:
            raise KeyfileRequiredError("this vault needs its keyfile: pass --keyfile PATH")
    else:
        usable = [s for s in pw_slots if s.slot_type == keys.PASSWORD_KEYFILE]
    for slot in usable:
        mk = slot.try_open(vault_id, keys.Secret(password, keyfile))
        if mk is not None:
            return mk, slot
    raise WrongPasswordError("wrong password for the vault in that folder")


def clone(
    remote_dir: Path,
    local: Path,
    *,
    password: str | None = None,
    keyfile: Path | None = None,
    recovery_key: str | None = None,
    new_password: str | None = None,
    kdf: KdfParams | None = None,
    allow_weak_kdf: bool = False,
    progress: ProgressCallback | None = None,
) -> tuple[Vault, SyncReport]:
    """Create a local vault at `local` from the folder and fill it. Returns it unlocked.

    With `recovery_key`, `new_password` becomes this copy's password (required). If the first
    sync fails, the local vault stays (it is valid, just not full): `vault sync` finishes it.
    """
    remote = RemoteFolder(remote_dir)
    header = read_header(remote)
    local = local.expanduser()
    if Store.exists(local):
        raise InvalidInputError(
            f"there is already a vault at {local}; choose another --vault (after an "
            "interrupted clone, `vault sync` there finishes it)"
        )
    if recovery_key is not None and not new_password:
        raise InvalidInputError("cloning with the recovery key needs a new password")
    slots = remote_slots(remote, header)
    master_key, opened = unlock_remote(
        slots, header.vault_id, password=password, keyfile=keyfile, recovery_key=recovery_key
    )
    if keys.mk_id(master_key) != header.master_id:
        raise RemoteError(f"{remote.path} is damaged: its header names another key")
    local_slots = [s for s in slots if s.slot_type == keys.RECOVERY]
    if opened.slot_type != keys.RECOVERY:
        local_slots.insert(0, opened)
    else:
        assert new_password is not None
        kdf = crypto.creation_kdf(kdf, allow_weak=allow_weak_kdf)
        local_slots.insert(
            0,
            keys.Slot.create(
                header.vault_id, keys.PASSWORD, master_key, keys.Secret(new_password), kdf
            ),
        )
    store = Store.create(local, header.vault_id, crypto.random_id(), header.master_id, local_slots)
    with store.transaction() as db:
        SyncState.set_meta(db, REMOTE, str(remote.path.resolve()))
    vault = Vault(store, master_key)
    try:
        report = SyncEngine(vault, remote).sync(progress)
    except BaseException:
        with contextlib.suppress(Exception):
            vault.lock()
        raise
    return vault, report
