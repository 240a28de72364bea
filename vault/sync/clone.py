"""Joining a vault that already lives in a sync folder, on a new machine (`vault clone`).

Only the folder and one secret are needed: the folder holds every device's key slots, so the
password of any device that syncs there (or the recovery key) unwraps the master key. The new
local vault keeps the vault id and master key, gets its own device id, and copies the slot that
opened (plus the recovery slots) so the same secret opens it; after a recovery-key clone a new
password is set. Then one ordinary sync fills it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from vault.errors import (
    AuthError,
    IntegrityError,
    InvalidInputError,
    KeyfileRequiredError,
    RecoveryKeyError,
    RemoteError,
    VaultError,
    WrongPasswordError,
)
from vault.notes.vault import Vault
from vault.sealing import crypto, keys
from vault.sealing.crypto import KdfParams
from vault.sealing.rotation import parse_record_name
from vault.storage.store import Store
from vault.sync import layout, rotation
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


# What a clone will read and pay for, whatever the folder holds: anyone with access to the
# folder can add key slots, each asking for up to the highest Argon2 cost a reader accepts.
MAX_SLOT_FILES = 1024  # slot files read in all (each at most 64 KiB)
MAX_TRIES = 64  # slots a secret is tried against
# Argon2 work summed over the slots tried (memory in KiB x passes): six times the costliest
# slot this program calibrates (1 GiB, 10 passes). The cheapest slot is always tried.
KDF_BUDGET = 6 * 1024 * 1024 * 10
MAX_RECOVERY_COPIED = 4


@dataclass(frozen=True)
class FoundSlot:
    slot: keys.Slot
    device: str  # the folder it was published in (anyone may have put it there)


def remote_slots(remote: RemoteFolder, header: RemoteHeader) -> list[FoundSlot]:
    """The distinct key slots (by their bytes, never by the ids they claim) published for the
    folder's master key or a key that rotation records in the folder name (checked once a
    key is open: it must reach the header's key through records that verify), cheapest
    first. A device folder that cannot be read is skipped: the others may still hold a slot
    that opens."""
    found: dict[bytes, FoundSlot] = {}
    budget = MAX_SLOT_FILES
    listings = []
    claimed = {header.master_id}
    for device in remote.key_devices():
        try:
            entries = remote.list_files(device, layout.KEYS_DIR)
        except RemoteError:
            continue
        listings.append((device, entries))
        for entry in entries:
            claimed.update(parse_record_name(entry.name) or ())
    for device, entries in listings:
        for entry in entries:
            if layout.parse_slot_name(entry.name) is None or budget <= 0:
                continue
            budget -= 1
            try:
                data = remote.read(device, entry.name, layout.KEYS_DIR)
                slot = keys.Slot.from_json(data, "a key slot in the sync folder")
            except (Unreadable, VaultError):
                continue  # half-delivered, damaged or foreign: other slots may still open
            if slot.master_id in claimed:
                found.setdefault(slot.to_json(), FoundSlot(slot, device))
    return sorted(found.values(), key=lambda f: (_cost(f.slot), f.slot.slot_type, f.device))


def _cost(slot: keys.Slot) -> int:
    return slot.kdf.memory_kib * slot.kdf.time_cost if slot.kdf is not None else 0


def unlock_remote(
    slots: list[FoundSlot],
    vault_id: str,
    *,
    password: str | None = None,
    keyfile: Path | None = None,
    recovery_key: str | None = None,
) -> tuple[bytes, FoundSlot, bytes]:
    """The master key, the slot that opened it and that slot's KEK, trying cheap slots first
    and stopping at MAX_TRIES slots or KDF_BUDGET of Argon2 work."""
    if not slots:
        raise RemoteError("the sync folder holds no key slots yet; sync another device first")
    if recovery_key is not None:
        secret = keys.Secret(recovery=keys.parse_recovery_key(recovery_key))
        tried = [f for f in slots if f.slot.slot_type == keys.RECOVERY][:MAX_TRIES]
        for found in tried:
            opened = _try(found.slot, vault_id, secret)
            if opened is not None:
                return opened[0], found, opened[1]
        raise RecoveryKeyError("this recovery key does not open the vault in that folder")
    if password is None:
        raise AuthError("a password or the recovery key is needed to clone")
    pw_slots = [f for f in slots if f.slot.slot_type != keys.RECOVERY]
    if keyfile is None:
        usable = [f for f in pw_slots if f.slot.slot_type == keys.PASSWORD]
        if not usable and pw_slots:
            raise KeyfileRequiredError("this vault needs its keyfile: pass --keyfile PATH")
    else:
        usable = [f for f in pw_slots if f.slot.slot_type == keys.PASSWORD_KEYFILE]
    spent = 0
    for tries, found in enumerate(usable):
        cost = _cost(found.slot)
        if tries and (tries >= MAX_TRIES or spent + cost > KDF_BUDGET):
            raise WrongPasswordError(
                f"wrong password for the vault in that folder (tried {tries} of its "
                f"{len(usable)} password slots; a clone tries at most {MAX_TRIES} or about a "
                "minute of key stretching, and the folder may hold forged slots)"
            )
        spent += cost
        opened = _try(found.slot, vault_id, keys.Secret(password, keyfile))
        if opened is not None:
            return opened[0], found, opened[1]
    raise WrongPasswordError("wrong password for the vault in that folder")


def _try(slot: keys.Slot, vault_id: str, secret: keys.Secret) -> tuple[bytes, bytes] | None:
    """A forged slot whose commitment matches but whose cipher does not open is damage in the
    folder, not a reason to stop trying the others."""
    try:
        return slot.try_open_kek(vault_id, secret)
    except IntegrityError:
        return None


def local_slots(opened: FoundSlot, slots: list[FoundSlot]) -> list[keys.Slot]:
    """The slots the new local vault keeps: the one that opened (first: its id wins) and a
    few recovery slots, those published beside it first, each slot id at most once (the ids
    in the folder are not trusted: a recovery slot carrying the password slot's id would
    otherwise replace it)."""
    chosen = [opened.slot]
    ids = {opened.slot.slot_id}
    recovery = sorted(
        (
            f
            for f in slots
            if f.slot.slot_type == keys.RECOVERY and f.slot.master_id == opened.slot.master_id
        ),
        key=lambda f: (f.device != opened.device, f.slot.slot_id),
    )
    for found in recovery:
        if found.slot.slot_id not in ids and len(chosen) <= MAX_RECOVERY_COPIED:
            chosen.append(found.slot)
            ids.add(found.slot.slot_id)
    return chosen


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
    master_key, opened, kek = unlock_remote(
        slots, header.vault_id, password=password, keyfile=keyfile, recovery_key=recovery_key
    )
    master_id = keys.mk_id(master_key)
    if master_id != header.master_id:
        # A key of a rotation: it must reach the folder's key through records that verify
        # (the first sync then follows the chain to its newest key).
        ring = rotation.read_ring(remote, None, header.vault_id, master_key)
        if header.master_id not in ring.keys:
            raise RemoteError(f"{remote.path} is damaged: its header names another key")
    kept = local_slots(opened, slots)
    if opened.slot.slot_type == keys.RECOVERY:
        assert new_password is not None
        kdf = crypto.creation_kdf(kdf, allow_weak=allow_weak_kdf)
        taken = {s.slot_id for s in kept}
        slot_id = next(i for i in iter(lambda: crypto.random_bytes(8).hex(), "") if i not in taken)
        kept.insert(
            0,
            keys.Slot.create(
                header.vault_id,
                keys.PASSWORD,
                master_key,
                keys.Secret(new_password),
                kdf,
                slot_id=slot_id,
            ),
        )
    store = Store.create(local, header.vault_id, crypto.random_id(), master_id, kept)
    with store.transaction() as db:
        SyncState.set_meta(db, REMOTE, str(remote.path.resolve()))
    vault = Vault(store, master_key)
    if opened.slot.slot_type != keys.RECOVERY:
        vault.keep_kek(opened.slot, kek)
    elif new_password:
        # The new password's slot, so a rotation found by the first sync is followed.
        rewrap = kept[0].try_open_kek(header.vault_id, keys.Secret(new_password))
        if rewrap is not None:
            vault.keep_kek(kept[0], rewrap[1])
    try:
        report = SyncEngine(vault, remote).sync(progress)
    except BaseException:
        with contextlib.suppress(Exception):
            vault.lock()
        raise
    return vault, report
