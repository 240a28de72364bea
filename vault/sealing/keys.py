"""Key slots and the recovery key (docs/FORMAT.md, "Key slots").

The master key (MK) is 32 random bytes that never touch the disk unwrapped. Each slot wraps it
under its own key-encryption key (KEK):

- ``password``: KEK from Argon2id(password) with the slot's own salt and parameters;
- ``password+keyfile``: the Argon2id output combined with a digest of a keyfile;
- ``recovery``: KEK from a separate 256-bit recovery key shown once at creation.

A key commitment in each slot tells a wrong secret apart from a damaged slot before any
decryption, and the slot's associated data binds vault id, slot id, slot type and the MK id, so
a slot cannot be moved into another vault or re-labelled.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vault import safejson
from vault.errors import (
    IntegrityError,
    KeyfileError,
    NotAVaultError,
    RecoveryKeyError,
    StorageError,
    UnsupportedFormatError,
)
from vault.fsutil import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, fsync_dir
from vault.sealing import crypto
from vault.sealing.crypto import KdfParams, Label

SLOT_VERSION = 1
PASSWORD = "password"
PASSWORD_KEYFILE = "password+keyfile"
RECOVERY = "recovery"
SLOT_TYPES = (PASSWORD, PASSWORD_KEYFILE, RECOVERY)


def mk_id(master_key: bytes) -> str:
    """Public name of a master key, so slots and store agree on which MK is current."""
    return crypto.blake2b(b"", key=master_key, person=Label.MK_ID, size=16).hex()


def keyfile_digest(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyfileError(f"cannot read keyfile {path}: {exc.strerror}") from None
    if not data:
        raise KeyfileError(f"keyfile {path} is empty; a keyfile needs secret content")
    return crypto.blake2b(data, person=Label.KEYFILE)


KEYFILE_BYTES = 64


def create_keyfile(path: Path) -> None:
    """A new keyfile: 64 random bytes, readable by its owner only, made durable before the
    vault that needs it exists (a keyfile lost to a crash would lock the vault for good).
    Refuses to replace anything already at `path`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(crypto.random_bytes(KEYFILE_BYTES))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise StorageError(f"cannot create keyfile {path}: {exc.strerror}") from None
    fsync_dir(path.parent)


def slot_ad(vault_id: str, slot_id: str, slot_type: str, master_id: str) -> bytes:
    fields = ("vault-slot", str(SLOT_VERSION), vault_id, slot_id, slot_type, master_id)
    return "\x00".join(fields).encode("ascii")


@dataclass(frozen=True)
class Secret:
    """What a person offers to open a slot. Exactly one of password / recovery is set."""

    password: str | None = None
    keyfile: Path | None = None
    recovery: bytes | None = None


def _root_secret(slot_type: str, secret: Secret, kdf: KdfParams | None, salt: bytes) -> bytes:
    """The slot's root secret, from which both its KEK and its commitment are derived."""
    if slot_type == RECOVERY:
        if secret.recovery is None:
            raise RecoveryKeyError("a recovery key is needed for this slot")
        return secret.recovery
    if secret.password is None or kdf is None:
        raise IntegrityError("a password is needed for this slot")
    stretched = crypto.argon2id(crypto.normalise_password(secret.password), salt, kdf)
    if slot_type == PASSWORD:
        return stretched
    if secret.keyfile is None:
        raise KeyfileError("this vault needs its keyfile: pass --keyfile PATH")
    return crypto.blake2b(keyfile_digest(secret.keyfile), key=stretched, person=Label.PW_KEYFILE)


def _kek_and_commit(root: bytes) -> tuple[bytes, bytes]:
    return (
        crypto.blake2b(b"", key=root, person=Label.SLOT_KEK),
        crypto.blake2b(b"", key=root, person=Label.SLOT_COMMIT),
    )


@dataclass(frozen=True)
class Slot:
    """One key slot as stored in keys/<slot id>.json."""

    slot_id: str
    slot_type: str
    master_id: str
    nonce: bytes
    commit: bytes
    cipher: bytes
    kdf: KdfParams | None = None
    kdf_salt: bytes | None = None

    @staticmethod
    def create(
        vault_id: str,
        slot_type: str,
        master_key: bytes,
        secret: Secret,
        kdf: KdfParams | None = None,
        slot_id: str | None = None,
    ) -> Slot:
        return Slot.create_kek(vault_id, slot_type, master_key, secret, kdf, slot_id)[0]

    @staticmethod
    def create_kek(
        vault_id: str,
        slot_type: str,
        master_key: bytes,
        secret: Secret,
        kdf: KdfParams | None = None,
        slot_id: str | None = None,
    ) -> tuple[Slot, bytes]:
        """A new slot and its KEK (see try_open_kek)."""
        if slot_type not in SLOT_TYPES:
            raise ValueError(slot_type)
        salt = crypto.random_bytes(crypto.SALT_BYTES) if slot_type != RECOVERY else None
        root = _root_secret(slot_type, secret, kdf, salt or b"")
        kek, commit = _kek_and_commit(root)
        slot_id = slot_id or crypto.random_bytes(8).hex()
        master_id = mk_id(master_key)
        nonce = crypto.random_bytes(crypto.NONCE_BYTES)
        cipher = crypto.seal(
            kek, nonce, master_key, slot_ad(vault_id, slot_id, slot_type, master_id)
        )
        slot = Slot(
            slot_id=slot_id,
            slot_type=slot_type,
            master_id=master_id,
            nonce=nonce,
            commit=commit,
            cipher=cipher,
            kdf=kdf if slot_type != RECOVERY else None,
            kdf_salt=salt,
        )
        return slot, kek

    def try_open(self, vault_id: str, secret: Secret) -> bytes | None:
        """The master key, or None if the secret is wrong. Raises if the slot is damaged."""
        opened = self.try_open_kek(vault_id, secret)
        return opened[0] if opened is not None else None

    def try_open_kek(self, vault_id: str, secret: Secret) -> tuple[bytes, bytes] | None:
        """(master key, this slot's key-encryption key), or None if the secret is wrong. The
        KEK lets a device wrap a master key it receives later (a rotation that travels through
        the sync folder) for the same secret, without asking for it again."""
        root = _root_secret(self.slot_type, secret, self.kdf, self.kdf_salt or b"")
        kek, commit = _kek_and_commit(root)
        if not crypto.constant_time_equal(commit, self.commit):
            return None
        master_key = crypto.unseal(
            kek,
            self.nonce,
            self.cipher,
            slot_ad(vault_id, self.slot_id, self.slot_type, self.master_id),
            f"key slot {self.slot_id}",
        )
        if mk_id(master_key) != self.master_id:
            raise IntegrityError(f"key slot {self.slot_id} holds a different master key (tampered)")
        return master_key, kek

    def rewrap(self, vault_id: str, kek: bytes, master_key: bytes, slot_id: str) -> Slot:
        """This slot's secret (its KEK, from try_open_kek) wrapping another master key, as a
        new slot `slot_id`: same type, KDF parameters, salt and commitment, so the same
        password (and keyfile) opens it; a fresh nonce."""
        master_id = mk_id(master_key)
        nonce = crypto.random_bytes(crypto.NONCE_BYTES)
        cipher = crypto.seal(
            kek, nonce, master_key, slot_ad(vault_id, slot_id, self.slot_type, master_id)
        )
        return Slot(
            slot_id=slot_id,
            slot_type=self.slot_type,
            master_id=master_id,
            nonce=nonce,
            commit=self.commit,
            cipher=cipher,
            kdf=self.kdf,
            kdf_salt=self.kdf_salt,
        )

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {
            "v": SLOT_VERSION,
            "slot": self.slot_id,
            "type": self.slot_type,
            "mk_id": self.master_id,
        }
        if self.kdf is not None and self.kdf_salt is not None:
            doc["kdf"] = {
                "alg": "argon2id",
                "version": 19,
                "m": self.kdf.memory_kib,
                "t": self.kdf.time_cost,
                "p": self.kdf.parallelism,
                "salt": crypto.b64e(self.kdf_salt),
            }
        doc.update(
            {
                "alg": crypto.AEAD_ALG,
                "nonce": crypto.b64e(self.nonce),
                "commit": crypto.b64e(self.commit),
                "cipher": crypto.b64e(self.cipher),
            }
        )
        return (json.dumps(doc, indent=2) + "\n").encode("ascii")

    @staticmethod
    def from_json(data: bytes, where: str) -> Slot:
        """A slot from its JSON, or NotAVaultError in one line: slots also come from the sync
        folder, which anyone can write, so the shape of every field is checked."""
        doc = safejson.expect_dict(
            safejson.parse(data, where, NotAVaultError), where, NotAVaultError
        )
        v = doc.get("v")
        if v != SLOT_VERSION or isinstance(v, bool):
            shown = v if isinstance(v, int | str) and len(str(v)) < 20 else "?"
            raise UnsupportedFormatError(f"{where}: unsupported key slot version {shown!r}")
        try:
            slot_type = doc.get("type")
            if slot_type not in SLOT_TYPES or doc.get("alg") != crypto.AEAD_ALG:
                raise ValueError
            kdf = salt = None
            if slot_type != RECOVERY:
                k = doc.get("kdf")
                if not isinstance(k, dict) or k.get("alg") != "argon2id" or k.get("version") != 19:
                    raise ValueError
                if not all(isinstance(k.get(f), int) and not isinstance(k[f], bool) for f in "mtp"):
                    raise ValueError
                kdf = KdfParams(memory_kib=k["m"], time_cost=k["t"], parallelism=k["p"])
                salt = crypto.b64d(k.get("salt"), crypto.SALT_BYTES)
            slot_id = doc.get("slot")
            master_id = doc.get("mk_id")
            if not (_is_hex(slot_id, 16) and _is_hex(master_id, 32)):
                raise ValueError
            slot = Slot(
                slot_id=slot_id,
                slot_type=slot_type,
                master_id=master_id,
                nonce=crypto.b64d(doc.get("nonce"), crypto.NONCE_BYTES),
                commit=crypto.b64d(doc.get("commit"), 32),
                cipher=crypto.b64d(doc.get("cipher"), crypto.KEY_BYTES + crypto.TAG_BYTES),
                kdf=kdf,
                kdf_salt=salt,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise NotAVaultError(f"{where} is not a readable key slot (damaged)") from None
        if kdf is not None:
            kdf.check_readable()
        return slot


def _is_hex(value: object, length: int) -> bool:
    return (
        isinstance(value, str)
        and len(value) == length
        and all(c in "0123456789abcdef" for c in value)
    )


# --- recovery key ------------------------------------------------------------------------------
#
# 32 random bytes plus a 3-byte checksum make 280 bits: 56 base32 characters, shown as 14 groups
# of 4 characters each followed by one check character (5 bits of BLAKE2b over the group and its
# position). The per-group check tells the person *which* group they mistyped; the overall
# checksum catches what slips through.

RECOVERY_GROUPS = 14
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# Characters people confuse with base32 ones (base32 has no 0, 1, 8 or 9).
_LOOKALIKES = str.maketrans({"0": "O", "1": "I", "8": "B"})


def _group_check(index: int, group: str) -> str:
    digest = crypto.blake2b(f"{index}:{group}".encode("ascii"), person=Label.RECOVERY_GROUP)
    return _ALPHABET[digest[0] % 32]


def _b32(data: bytes) -> str:
    import base64

    return base64.b32encode(data).decode("ascii")


def new_recovery_key() -> tuple[bytes, str]:
    """A fresh recovery secret and its display form."""
    secret = crypto.random_bytes(crypto.KEY_BYTES)
    return secret, format_recovery_key(secret)


def format_recovery_key(secret: bytes) -> str:
    check = crypto.blake2b(secret, person=Label.RECOVERY_CHECK, size=3)
    text = _b32(secret + check)
    assert len(text) == RECOVERY_GROUPS * 4
    groups = []
    for i in range(RECOVERY_GROUPS):
        group = text[4 * i : 4 * i + 4]
        groups.append(group + _group_check(i, group))
    return "-".join(groups)


def parse_recovery_key(text: str) -> bytes:
    """Typo-tolerant: any case, any spaces or dashes, 0/1/8 read as O/I/B."""
    import base64

    cleaned = "".join(c for c in text.upper() if not c.isspace() and c != "-")
    cleaned = cleaned.translate(_LOOKALIKES)
    if len(cleaned) != RECOVERY_GROUPS * 5:
        raise RecoveryKeyError(
            f"a recovery key has {RECOVERY_GROUPS} groups of 5 characters; "
            f"this one has {len(cleaned)} characters"
        )
    data = []
    for i in range(RECOVERY_GROUPS):
        chunk = cleaned[5 * i : 5 * i + 5]
        if any(c not in _ALPHABET for c in chunk) or _group_check(i, chunk[:4]) != chunk[4]:
            raise RecoveryKeyError(
                f"recovery key group {i + 1} of {RECOVERY_GROUPS} looks mistyped; check it"
            )
        data.append(chunk[:4])
    raw = base64.b32decode("".join(data))
    secret, check = raw[: crypto.KEY_BYTES], raw[crypto.KEY_BYTES :]
    if not crypto.constant_time_equal(
        check, crypto.blake2b(secret, person=Label.RECOVERY_CHECK, size=3)
    ):
        raise RecoveryKeyError("the recovery key's checksum does not match; check every group")
    return secret
