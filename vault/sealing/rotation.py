"""Key rotation records: a new master key sealed under the old one, and back (docs/SYNC.md,
"Key rotation").

A record says "the vault moved from master key OLD to master key NEW" and carries two boxes:

- *forward*, under Subkey(OLD, "vault rotation"): NEW, followed by the new recovery slot's
  file bytes, so a device that holds only OLD can follow the rotation and take the new
  recovery key's slot from an authenticated source;
- *back*, under Subkey(NEW, "vault rotation"): OLD, so a device that holds only NEW (a clone
  made after the rotation) can still read what was written under OLD.

Both boxes bind the vault id, the rotating device, both key ids and which box they are, so a
record cannot be moved to another vault, relabelled, or have one box swapped for another's.
Nothing here touches the folder: `vault.sync.rotation` does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from vault import safejson
from vault.errors import IntegrityError, UnsupportedFormatError, VaultError
from vault.sealing import crypto, keys

FORMAT_NAME = "vault-rotation"
VERSION = 1
SUFFIX = ".rot"
MAX_BYTES = 16 * 1024  # a record is about 1 KiB
FORWARD = "forward"
BACK = "back"

# The local store's meta key holding the records this vault made or followed, as a JSON object
# {record file name: b64 of its bytes}: ciphertext only. Kept across sync folders, so the
# chain of keys is never lost with one folder.
ROTATIONS = "mk_rotations"
MAX_KEPT = 64

_HEX32 = re.compile(r"[0-9a-f]{32}")
# `<old>-<new>.rot` (the name kept in the store, and in folders written before the tags), or
# `<old>-<new>-o<tag>.rot` / `<old>-<new>-n<tag>.rot` (what a sync publishes: one copy named
# with a tag under the old key, one under the new).
_NAME = re.compile(r"([0-9a-f]{32})-([0-9a-f]{32})(?:-([on])([0-9a-f]{16}))?\.rot")
TAG_BYTES = 8
OLD_SIDE, NEW_SIDE = "o", "n"


def record_name(old: str, new: str) -> str:
    return f"{old}-{new}{SUFFIX}"


def parse_record_name(name: str) -> tuple[str, str] | None:
    """(old, new) as a record's file name claims them (unverified), or None."""
    m = _NAME.fullmatch(name)
    return (m.group(1), m.group(2)) if m else None


def parse_name_tag(name: str) -> tuple[str, str] | None:
    """(side, tag) of a tagged file name (unverified), or None for a plain or foreign name."""
    m = _NAME.fullmatch(name)
    return (m.group(3), m.group(4)) if m and m.group(3) else None


def name_tag(mk: bytes, vault_id: str, device: str, old: str, new: str, side: str) -> str:
    """A tag only a holder of `mk` (the record's old key for side "o", its new key for "n")
    can make, bound to the device folder the copy is published in: a reader checks a name
    before it reads the file, so forged files, and real names copied elsewhere, are skipped
    unread."""
    fields = ("vault-rotation-name", vault_id, device, old, new, side)
    key = crypto.subkey(mk, crypto.Label.ROTATION_NAME)
    return crypto.blake2b("\x00".join(fields).encode("ascii"), key=key, size=TAG_BYTES).hex()


def folder_names(
    vault_id: str, device: str, ring: dict[str, bytes], old: str, new: str
) -> list[str]:
    """The names a record of OLD -> NEW is published under in `keys/<device>/`: one for each
    of its keys that `ring` (mk id -> key) holds."""
    sides = ((OLD_SIDE, old), (NEW_SIDE, new))
    return [
        f"{old}-{new}-{side}{name_tag(ring[mk_id], vault_id, device, old, new, side)}{SUFFIX}"
        for side, mk_id in sides
        if mk_id in ring
    ]


def name_verifies(name: str, vault_id: str, device: str, ring: dict[str, bytes]) -> bool:
    """Whether a tagged name in `keys/<device>/` is exactly the one a key of `ring` makes."""
    ids, tagged = parse_record_name(name), parse_name_tag(name)
    if ids is None or tagged is None:
        return False
    side, tag = tagged
    mk_id = ids[0] if side == OLD_SIDE else ids[1]
    if mk_id not in ring:
        return False
    expected = name_tag(ring[mk_id], vault_id, device, *ids, side)
    return crypto.constant_time_equal(tag.encode(), expected.encode())


def record_ad(vault_id: str, device: str, old: str, new: str, box: str) -> bytes:
    fields = ("vault-rotation", str(VERSION), vault_id, device, old, new, box)
    return "\x00".join(fields).encode("ascii")


@dataclass(frozen=True)
class Record:
    """A rotation record as read (its boxes not opened yet)."""

    vault_id: str
    device: str
    old: str
    new: str
    forward_nonce: bytes
    forward: bytes
    back_nonce: bytes
    back: bytes

    @property
    def name(self) -> str:
        return record_name(self.old, self.new)

    def open_forward(self, old_mk: bytes) -> tuple[bytes, keys.Slot]:
        """The new master key and the new recovery slot; IntegrityError if the record was not
        made with this key (tampered, or forged by someone without it)."""
        if keys.mk_id(old_mk) != self.old:
            raise IntegrityError("key rotation record: not for this key")
        plain = crypto.unseal(
            crypto.subkey(old_mk, crypto.Label.ROTATION),
            self.forward_nonce,
            self.forward,
            record_ad(self.vault_id, self.device, self.old, self.new, FORWARD),
            f"key rotation record {self.name}",
        )
        new_mk, slot_bytes = plain[: crypto.KEY_BYTES], plain[crypto.KEY_BYTES :]
        if len(new_mk) != crypto.KEY_BYTES or keys.mk_id(new_mk) != self.new:
            raise IntegrityError(f"key rotation record {self.name} holds another key (tampered)")
        try:
            slot = keys.Slot.from_json(slot_bytes, f"key rotation record {self.name}")
        except VaultError:
            raise IntegrityError(f"key rotation record {self.name} is malformed") from None
        if slot.slot_type != keys.RECOVERY or slot.master_id != self.new:
            raise IntegrityError(f"key rotation record {self.name} is malformed")
        return new_mk, slot

    def open_back(self, new_mk: bytes) -> bytes:
        """The old master key, for reading what was written under it."""
        if keys.mk_id(new_mk) != self.new:
            raise IntegrityError("key rotation record: not for this key")
        old_mk = crypto.unseal(
            crypto.subkey(new_mk, crypto.Label.ROTATION),
            self.back_nonce,
            self.back,
            record_ad(self.vault_id, self.device, self.old, self.new, BACK),
            f"key rotation record {self.name}",
        )
        if keys.mk_id(old_mk) != self.old:
            raise IntegrityError(f"key rotation record {self.name} holds another key (tampered)")
        return old_mk


def make_record(
    vault_id: str,
    device: str,
    old_mk: bytes,
    new_mk: bytes,
    recovery_slot: keys.Slot,
    *,
    nonces: tuple[bytes, bytes] | None = None,
) -> bytes:
    """The bytes of a record (indented JSON, ASCII, keys in this order). `nonces` only for
    known-answer vectors."""
    old, new = keys.mk_id(old_mk), keys.mk_id(new_mk)
    fwd_nonce, back_nonce = nonces or (
        crypto.random_bytes(crypto.NONCE_BYTES),
        crypto.random_bytes(crypto.NONCE_BYTES),
    )
    forward = crypto.seal(
        crypto.subkey(old_mk, crypto.Label.ROTATION),
        fwd_nonce,
        new_mk + recovery_slot.to_json(),
        record_ad(vault_id, device, old, new, FORWARD),
    )
    back = crypto.seal(
        crypto.subkey(new_mk, crypto.Label.ROTATION),
        back_nonce,
        old_mk,
        record_ad(vault_id, device, old, new, BACK),
    )
    doc = {
        "format": FORMAT_NAME,
        "v": VERSION,
        "vault_id": vault_id,
        "device": device,
        "old": old,
        "new": new,
        "alg": crypto.AEAD_ALG,
        "forward_nonce": crypto.b64e(fwd_nonce),
        "forward": crypto.b64e(forward),
        "back_nonce": crypto.b64e(back_nonce),
        "back": crypto.b64e(back),
    }
    return (json.dumps(doc, indent=2) + "\n").encode("ascii")


def parse_record(data: bytes, where: str) -> Record:
    """A record from its bytes, every field's shape checked; IntegrityError in one line."""
    if len(data) > MAX_BYTES:
        raise IntegrityError(f"{where} is too big to be a key rotation record")
    doc = safejson.parse(data, where, IntegrityError)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise IntegrityError(f"{where} is not a key rotation record")
    v = doc.get("v")
    if v != VERSION or isinstance(v, bool):
        if isinstance(v, int) and not isinstance(v, bool) and v > VERSION:
            raise UnsupportedFormatError(f"{where} was written by a newer version of vault")
        raise IntegrityError(f"{where} is not a readable key rotation record")
    try:
        ids = [doc.get(f) for f in ("vault_id", "device", "old", "new")]
        if doc.get("alg") != crypto.AEAD_ALG or not all(
            isinstance(i, str) and _HEX32.fullmatch(i) for i in ids
        ):
            raise ValueError
        vault_id, device, old, new = ids
        if old == new:
            raise ValueError
        return Record(
            vault_id=vault_id,
            device=device,
            old=old,
            new=new,
            forward_nonce=crypto.b64d(doc.get("forward_nonce"), crypto.NONCE_BYTES),
            forward=crypto.b64d(doc.get("forward")),
            back_nonce=crypto.b64d(doc.get("back_nonce"), crypto.NONCE_BYTES),
            back=crypto.b64d(doc.get("back"), crypto.KEY_BYTES + crypto.TAG_BYTES),
        )
    except (ValueError, TypeError, AttributeError):
        raise IntegrityError(f"{where} is a damaged key rotation record") from None


def kept_records(value: str | None) -> dict[str, bytes]:
    """The records in `meta.mk_rotations` (unverified here: they are checked when used)."""
    try:
        doc = json.loads(value or "{}")
        return {
            n: crypto.b64d(b)
            for n, b in doc.items()
            if isinstance(n, str) and parse_record_name(n) is not None
        }
    except (ValueError, TypeError, AttributeError):
        return {}


def add_record(value: str | None, data: bytes) -> str:
    """`meta.mk_rotations` with one more record (named by what it verifies as)."""
    record = parse_record(data, "a key rotation record")
    kept = kept_records(value)
    kept[record.name] = data
    names = list(kept)[-MAX_KEPT:]  # the newest (in the order they were added) stay
    return json.dumps({n: crypto.b64e(kept[n]) for n in names}, separators=(",", ":"))
