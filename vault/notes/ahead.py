"""The KDF of an unlock started before the command line loads (vault.__main__): with the
password in VAULT_PASSWORD, Argon2 (which runs outside the GIL) then hides the loading of the
command line's modules instead of following it.

Kept apart from vault.notes.unlocking so that starting it loads only the key slots' code, not
the store's and the snapshot's: what runs before the KDF starts is what it cannot hide.
"""

from __future__ import annotations

from pathlib import Path

from vault.errors import VaultError
from vault.fsutil import read_small
from vault.sealing import crypto, keys
from vault.storage.header import KEYS_DIR


def derive_ahead(path: Path, password: str, *, keyfile: bool) -> None:
    """Start the KDF that unlocking the vault at `path` with `password` asks for first, in a
    thread (vault.sealing.crypto.argon2id_ahead): `unlock_master_key` tries the password
    slots in the order of their file names, a keyfile slot only with a keyfile. The slots of
    another master key (left by an interrupted rekey; the store knows which) are not told
    apart here: one of them first only costs that derivation. A vault whose slots cannot be
    read starts nothing (the unlock reports what is wrong)."""
    try:
        names = sorted(p for p in (path / KEYS_DIR).iterdir() if p.suffix == ".json")
        for name in names:
            if name.name.startswith("."):
                continue
            slot = keys.Slot.from_json(read_small(name), f"{name}")
            if slot.slot_type == keys.RECOVERY:
                continue
            if slot.slot_type == keys.PASSWORD_KEYFILE and not keyfile:
                continue
            if slot.kdf is not None and slot.kdf_salt is not None:
                password_bytes = crypto.normalise_password(password)
                crypto.argon2id_ahead(password_bytes, slot.kdf_salt, slot.kdf)
            return
    except (VaultError, OSError, ValueError):
        return
