"""The sealed JSON item envelope (docs/FORMAT.md, "Item envelope").

    {"v": 1, "id": "<32 hex>", "kind": "note", "alg": "xchacha20poly1305-ietf",
     "salt": "<b64 16 bytes>", "nonce": "<b64 24 bytes>", "cipher": "<b64>"}

The reader builds the associated data from what it asked for (format version, vault id, kind,
item id) and never from the envelope, so an envelope cannot be moved to another item, kind or
vault. `alg` is for humans: it must equal the one algorithm that `v` pins. Everything about the
item except its id and kind lives inside `cipher`, padded to a size bucket.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from vault import crypto
from vault.errors import CorruptItemError, UnsupportedFormatError

ENVELOPE_VERSION = 1
KINDS = frozenset({"note", "notebook", "tag"})


def item_ad(vault_id: str, kind: str, item_id: str, v: int = ENVELOPE_VERSION) -> bytes:
    """Associated data: fields are hex or fixed ASCII words, so NUL separators are unambiguous."""
    return f"vault-item\x00{v}\x00{vault_id}\x00{kind}\x00{item_id}".encode("ascii")


def item_key(items_key: bytes, salt: bytes, item_id: str) -> bytes:
    """A key for this one write of this one item."""
    return crypto.blake2b(
        item_id.encode("ascii"), key=items_key, salt=salt, person=crypto.Label.ITEM_KEY
    )


def short(item_id: str) -> str:
    return item_id[:8]


def seal_item(
    items_key: bytes,
    vault_id: str,
    kind: str,
    item_id: str,
    payload: dict[str, Any],
    *,
    salt: bytes | None = None,
    nonce: bytes | None = None,
) -> str:
    """Seal `payload` (the item's JSON) into an envelope string. salt/nonce only for vectors."""
    salt = salt if salt is not None else crypto.random_bytes(crypto.SALT_BYTES)
    nonce = nonce if nonce is not None else crypto.random_bytes(crypto.NONCE_BYTES)
    plaintext = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    cipher = crypto.seal(
        item_key(items_key, salt, item_id),
        nonce,
        crypto.pad(plaintext),
        item_ad(vault_id, kind, item_id),
    )
    envelope = {
        "v": ENVELOPE_VERSION,
        "id": item_id,
        "kind": kind,
        "alg": crypto.AEAD_ALG,
        "salt": crypto.b64e(salt),
        "nonce": crypto.b64e(nonce),
        "cipher": crypto.b64e(cipher),
    }
    return json.dumps(envelope, separators=(",", ":"))


@dataclass(frozen=True)
class Sealed:
    """An envelope checked and decoded, not yet decrypted: the part of opening that needs no
    key, so it can run while the password is still being stretched."""

    kind: str
    item_id: str
    salt: bytes
    nonce: bytes
    cipher: bytes


def _corrupt(kind: str, item_id: str, why: str) -> CorruptItemError:
    return CorruptItemError(f"{kind} {short(item_id)} {why}", item_id=item_id)


def parse_envelope(kind: str, item_id: str, envelope: str | bytes) -> Sealed:
    """Check the envelope is v1, names the item the caller asked for, and decode its fields.
    Raises CorruptItemError (or UnsupportedFormatError) naming the item."""
    try:
        env = json.loads(envelope)
    except (ValueError, UnicodeDecodeError):
        raise _corrupt(kind, item_id, "is not a readable envelope (truncated or corrupt)") from None
    if not isinstance(env, dict):
        raise _corrupt(kind, item_id, "is not a readable envelope (truncated or corrupt)")
    v = env.get("v")
    if v != ENVELOPE_VERSION or isinstance(v, bool):
        if isinstance(v, int) and not isinstance(v, bool) and v > ENVELOPE_VERSION:
            raise UnsupportedFormatError(
                f"{kind} {short(item_id)} was written by a newer version of vault "
                f"(format v{v}); upgrade vault"
            )
        raise _corrupt(kind, item_id, f"has an unknown format version {v!r} (tampered or corrupt)")
    if env.get("alg") != crypto.AEAD_ALG:
        raise _corrupt(kind, item_id, "names an algorithm that format v1 does not allow (tampered)")
    if env.get("id") != item_id or env.get("kind") != kind:
        raise _corrupt(kind, item_id, "holds another item's envelope (swapped or tampered)")
    try:
        salt = crypto.b64d(env.get("salt"), crypto.SALT_BYTES)
        nonce = crypto.b64d(env.get("nonce"), crypto.NONCE_BYTES)
        cipher = crypto.b64d(env.get("cipher"))
    except ValueError:
        raise _corrupt(kind, item_id, "has a malformed field (truncated or corrupt)") from None
    if len(cipher) < crypto.TAG_BYTES + crypto.MIN_PADDED:
        raise _corrupt(kind, item_id, "is truncated")
    return Sealed(kind, item_id, salt, nonce, cipher)


def open_sealed(items_key: bytes, vault_id: str, sealed: Sealed) -> dict[str, Any]:
    """Decrypt a parsed envelope; the AD comes from the kind and id the caller asked for."""
    kind, item_id = sealed.kind, sealed.item_id
    try:
        padded = crypto.unseal(
            item_key(items_key, sealed.salt, item_id),
            sealed.nonce,
            sealed.cipher,
            item_ad(vault_id, kind, item_id),
            kind,
        )
    except Exception:
        raise _corrupt(
            kind, item_id, "failed to verify (tampered, corrupt, or not this vault's)"
        ) from None
    try:
        payload = json.loads(crypto.unpad(padded).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise _corrupt(kind, item_id, "decrypted to malformed content") from None
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        raise _corrupt(kind, item_id, "decrypted to content of another kind")
    return payload


def open_item(
    items_key: bytes, vault_id: str, kind: str, item_id: str, envelope: str | bytes
) -> dict[str, Any]:
    """Open the envelope of the item the caller asked for, or raise CorruptItemError naming it."""
    return open_sealed(items_key, vault_id, parse_envelope(kind, item_id, envelope))
