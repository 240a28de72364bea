"""The KDF of an unlock started before the command line loads (vault.__main__): with the
password in VAULT_PASSWORD, Argon2 (which runs outside the GIL) then hides the loading of the
command line's modules instead of following it.

Kept apart from vault.notes.unlocking, and reading the header and the key slots with the
standard library alone (os, json, binascii) and Argon2 (vault.sealing.kdf): what runs before
the KDF starts is what it cannot hide, so not even libsodium, pathlib or the slots' code loads
first. This reading only picks what to derive ahead: the unlock reads and checks the header and
the slots again as always, and takes the derivation only for exactly the same password, salt
and parameters (vault.sealing.kdf.argon2id). Whatever this reading gets wrong costs one
derivation, never a wrong answer.
"""

from __future__ import annotations

import json
import os
import stat

from vault.errors import WeakParametersError
from vault.sealing import kdf

# As vault.storage.header and vault.sealing.keys name them (tests/test_kdf_ahead.py checks).
HEADER = "vault.json"
KEYS_DIR = "keys"
SLOT_VERSION = 1
RECOVERY = "recovery"
PASSWORD_KEYFILE = "password+keyfile"
SMALL = 1 << 20  # as vault.fsutil.SMALL_FILE_LIMIT


def vault_id_of(folder: str) -> str | None:
    """The vault id vault.json at `folder` names, or None if it cannot be read as a header
    (the command then reports why, as it would have)."""
    try:
        doc = json.loads(_read_small(os.path.join(folder, HEADER)))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != "vault":
        return None
    vault_id = doc.get("vault_id")
    return vault_id if isinstance(vault_id, str) and len(vault_id) == 32 else None


def derive_ahead(folder: str, password: str, *, keyfile: bool) -> None:
    """Start the KDF that unlocking the vault at `folder` with `password` asks for first, in a
    thread (vault.sealing.kdf.argon2id_ahead): `unlock_master_key` tries the password slots in
    the order of their file names, a keyfile slot only with a keyfile. The slots of another
    master key (left by an interrupted rekey; the store knows which) are not told apart here:
    one of them first only costs that derivation. A slot that cannot be read first starts
    nothing: the unlock skips it (vault.storage.store: a damaged slot costs only itself), and
    derives then, without the head start."""
    keys = os.path.join(folder, KEYS_DIR)
    try:
        names = sorted(n for n in os.listdir(keys) if n.endswith(".json"))
        for name in names:
            if name.startswith("."):
                continue
            found = _slot_kdf(_read_small(os.path.join(keys, name)), keyfile)
            if found is False:
                continue
            if found is not None:
                params, salt = found
                kdf.argon2id_ahead(kdf.normalise_password(password), salt, params)
            return
    except (OSError, ValueError, RecursionError):
        return


def _slot_kdf(data: bytes, keyfile: bool) -> tuple[kdf.KdfParams, bytes] | bool | None:
    """The Argon2 parameters and salt of a slot the unlock tries (as vault.sealing.keys.Slot
    reads them, `check_readable` included: a hostile slot starts no giant derivation); False
    for a slot it skips (a recovery slot, a keyfile slot without a keyfile); None for one
    that cannot be read (the unlock reports it)."""
    import binascii

    doc = json.loads(data)
    if not isinstance(doc, dict) or doc.get("v") != SLOT_VERSION or type(doc.get("v")) is bool:
        return None
    slot_type = doc.get("type")
    if slot_type == RECOVERY or (slot_type == PASSWORD_KEYFILE and not keyfile):
        return False
    k = doc.get("kdf")
    if not isinstance(k, dict) or k.get("alg") != "argon2id" or k.get("version") != 19:
        return None
    if not all(type(k.get(f)) is int for f in "mtp") or not isinstance(k.get("salt"), str):
        return None
    params = kdf.KdfParams(memory_kib=k["m"], time_cost=k["t"], parallelism=k["p"])
    try:
        params.check_readable()
        salt = binascii.a2b_base64(k["salt"])
    except (WeakParametersError, binascii.Error):
        return None
    return (params, salt) if len(salt) == 16 else None


def _read_small(path: str) -> bytes:
    """A small regular file's bytes, as vault.fsutil.read_small reads one: opening a FIFO or a
    device never waits, and a big file is never read (ValueError)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > SMALL:
            raise ValueError("not a small regular file")
        os.set_blocking(fd, True)
        chunks, total = [], 0
        while chunk := os.read(fd, SMALL + 1 - total):
            chunks.append(chunk)
            total += len(chunk)
            if total > SMALL:  # grew since the fstat
                raise ValueError("not a small regular file")
        return b"".join(chunks)
    finally:
        os.close(fd)
