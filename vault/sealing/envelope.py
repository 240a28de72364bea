"""The sealed JSON item envelope (docs/FORMAT.md, "Item envelope").

    {"v": 2, "id": "<32 hex>", "kind": "note", "op": "<32 hex>", "alg": "xchacha20poly1305-ietf",
     "salt": "<b64 16 bytes>", "nonce": "<b64 24 bytes>", "cipher": "<b64>"}

Version 2 seals one operation (one version of one item): the associated data binds everything
the store's row claims about it (op id, item id, kind, device, the deleted flag, the parents),
so a reader that builds the AD from the row it distrusts learns whether the row tells the truth.
Tombstones are sealed too, and so is the erasure of a purged version's content. The reader
builds the AD from what it asked for and never from the envelope. `alg` is for humans: it must
equal the one algorithm that `v` pins. Everything else lives inside `cipher`, padded.

Version 1 envelopes (AD: vault, kind and item id only) are still opened, by the upgrade to
version 2 and by readers of older sync files and backups: `open_item` and friends.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from vault import safejson
from vault.errors import CorruptItemError, UnsupportedFormatError, VaultError
from vault.sealing import crypto

ENVELOPE_VERSION = 1  # the version 1 functions below (seal_item, open_item, ...)
OP_ENVELOPE_VERSION = 2
KINDS = frozenset({"note", "notebook", "tag"})
_ID = re.compile(r"[0-9a-f]{32}\Z")
# version_tag covers the end of the envelope string, which holds the end of the ciphertext and
# so its 16-byte authentication tag (base64 of 16 bytes is 24 characters).
TAG_TAIL = 64


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
    _, salt, nonce, cipher = _load(kind, item_id, envelope, ENVELOPE_VERSION)
    return Sealed(kind, item_id, salt, nonce, cipher)


def _load(
    kind: str, item_id: str, envelope: str | bytes, version: int
) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """The checks both envelope versions share: readable JSON (depth-bounded), the version,
    the algorithm, the item it names; then the decoded salt, nonce and cipher."""
    try:
        env = safejson.parse(envelope, "envelope", VaultError)
    except VaultError:
        raise _corrupt(kind, item_id, "is not a readable envelope (truncated or corrupt)") from None
    if not isinstance(env, dict):
        raise _corrupt(kind, item_id, "is not a readable envelope (truncated or corrupt)")
    v = env.get("v")
    if v != version or isinstance(v, bool):
        if isinstance(v, int) and not isinstance(v, bool) and v > version:
            raise UnsupportedFormatError(
                f"{kind} {short(item_id)} was written by a newer version of vault "
                f"(format v{v}); upgrade vault"
            )
        raise _corrupt(kind, item_id, f"has an unknown format version {v!r} (tampered or corrupt)")
    if env.get("alg") != crypto.AEAD_ALG:
        raise _corrupt(
            kind, item_id, f"names an algorithm that format v{version} does not allow (tampered)"
        )
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
    return env, salt, nonce, cipher


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
    return _payload(kind, item_id, padded)


def _payload(kind: str, item_id: str, padded: bytes) -> dict[str, Any]:
    """The decrypted, unpadded payload, checked to be an object of the kind asked for."""
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


# --- version 2: one sealed operation ------------------------------------------------------------


@dataclass(frozen=True)
class Claims:
    """What a stored operation says about itself; sealing binds all of it."""

    op_id: str
    item_id: str
    kind: str
    parents: tuple[str, ...]
    deleted: bool
    device: str


def _is_id(value: object) -> bool:
    return isinstance(value, str) and _ID.match(value) is not None


def op_ad(vault_id: str, claims: Claims) -> bytes:
    """Associated data of a version 2 envelope. Every field is checked to be hex or a known
    word first (one pattern over the whole AD), so the NUL and comma separators are
    unambiguous; a row whose claims are not even well formed raises CorruptItemError."""
    c = claims
    fields = (
        "vault-item",
        str(OP_ENVELOPE_VERSION),
        vault_id,
        str(c.kind),
        str(c.item_id),
        str(c.op_id),
        str(c.device),
        "1" if c.deleted else "0",
        ",".join(map(str, c.parents)),
    )
    text = "\x00".join(fields)
    if _AD.match(text) is None or not isinstance(c.deleted, bool):
        raise _corrupt(str(c.kind)[:16], str(c.item_id)[:32], "has a malformed history row")
    return text.encode("ascii")


_AD = re.compile(
    r"vault-item\x002\x00[0-9a-f]{32}\x00(?:note|notebook|tag)(?:\x00[0-9a-f]{32}){3}\x00[01]"
    r"\x00(?:[0-9a-f]{32}(?:,[0-9a-f]{32})*)?\Z"
)


def version_tag(vault_id: str, claims: Claims, envelope: str | None) -> str:
    """A digest of an operation's claims and of the end of its envelope (which holds the AEAD
    tag: any other envelope, an older one or another item's, ends otherwise), for caches of
    decrypted items (the snapshot): an entry is used only while the store holds what it was
    read from, so a rewritten row or a replaced envelope is opened (and refused) instead.
    `envelope` may be the whole string or only its last TAG_TAIL characters."""
    c = claims
    return tag_of(vault_id, c.kind, c.item_id, c.op_id, c.device, c.deleted, c.parents, envelope)


def tag_of(
    vault_id: str,
    kind: str,
    item_id: str,
    op_id: str,
    device: str,
    deleted: bool,
    parents: tuple[str, ...],
    envelope: str | None,
) -> str:
    """version_tag from the row's fields as they are (not checked: a digest only compares)."""
    text = "\x00".join(
        (
            "vault-item",
            str(OP_ENVELOPE_VERSION),
            vault_id,
            kind,
            item_id,
            op_id,
            device,
            "1" if deleted else "0",
            ",".join(parents),
            (envelope or "")[-TAG_TAIL:],
        )
    )
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def tombstone_payload(kind: str) -> dict[str, Any]:
    return {"kind": kind}


def erased_payload(kind: str) -> dict[str, Any]:
    """What replaces a purged version's content: it keeps the version's claims sealed."""
    return {"kind": kind, "erased": True}


def is_erased(payload: dict[str, Any]) -> bool:
    return payload.get("erased") is True


def seal_op(
    items_key: bytes,
    vault_id: str,
    claims: Claims,
    payload: dict[str, Any] | None,
    *,
    salt: bytes | None = None,
    nonce: bytes | None = None,
) -> str:
    """Seal one operation: `payload` for a version, None for a tombstone. salt/nonce only for
    vectors."""
    if payload is None:
        payload = tombstone_payload(claims.kind)
    salt = salt if salt is not None else crypto.random_bytes(crypto.SALT_BYTES)
    nonce = nonce if nonce is not None else crypto.random_bytes(crypto.NONCE_BYTES)
    plaintext = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    cipher = crypto.seal(
        item_key(items_key, salt, claims.item_id),
        nonce,
        crypto.pad(plaintext),
        op_ad(vault_id, claims),
    )
    envelope = {
        "v": OP_ENVELOPE_VERSION,
        "id": claims.item_id,
        "kind": claims.kind,
        "op": claims.op_id,
        "alg": crypto.AEAD_ALG,
        "salt": crypto.b64e(salt),
        "nonce": crypto.b64e(nonce),
        "cipher": crypto.b64e(cipher),
    }
    return json.dumps(envelope, separators=(",", ":"))


@dataclass(frozen=True)
class SealedOp:
    """A version 2 envelope checked and decoded against the row's claims, not yet decrypted
    (this part needs no key, so it can run while the password is being stretched)."""

    claims: Claims
    salt: bytes
    nonce: bytes
    cipher: bytes


def envelope_version(envelope: str | bytes | None) -> int | None:
    """The `v` of an envelope (None for no envelope or one that does not parse)."""
    if envelope is None:
        return None
    try:
        v = safejson.parse(envelope, "envelope", VaultError).get("v")
    except (VaultError, AttributeError):
        return None
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def parse_op(claims: Claims, envelope: str | bytes | None) -> SealedOp:
    """Check a version 2 envelope answers for the row's claims and decode it, or raise
    CorruptItemError (UnsupportedFormatError for a newer version) naming the item."""
    kind, item_id = claims.kind, claims.item_id
    if envelope is None:
        what = "deletion" if claims.deleted else "version"
        raise _corrupt(kind, item_id, f"has a {what} that is not sealed (tampered)")
    env, salt, nonce, cipher = _load(kind, item_id, envelope, OP_ENVELOPE_VERSION)
    if env.get("op") != claims.op_id:
        raise _corrupt(kind, item_id, "holds another version's envelope (replayed or tampered)")
    return SealedOp(claims, salt, nonce, cipher)


def open_sealed_op(items_key: bytes, vault_id: str, sealed: SealedOp) -> dict[str, Any]:
    """Decrypt; the AD is built from the row's claims, so any claim that differs from what was
    sealed fails the tag. Returns the payload (a tombstone's or an erasure's is tiny)."""
    claims = sealed.claims
    kind, item_id = claims.kind, claims.item_id
    ad = op_ad(vault_id, claims)
    try:
        padded = crypto.unseal(
            item_key(items_key, sealed.salt, item_id), sealed.nonce, sealed.cipher, ad, kind
        )
    except Exception:
        raise _corrupt(
            kind,
            item_id,
            "failed to verify: its history row or envelope was altered (tampered, corrupt, "
            "or not this vault's)",
        ) from None
    return _payload(kind, item_id, padded)


def open_op(
    items_key: bytes, vault_id: str, claims: Claims, envelope: str | bytes | None
) -> dict[str, Any]:
    """Verify and open one operation's envelope against its claims (CorruptItemError if not)."""
    return open_sealed_op(items_key, vault_id, parse_op(claims, envelope))


def upgrade_envelope(items_key: bytes, vault_id: str, claims: Claims, envelope: str | None) -> str:
    """A version 2 envelope for an operation of a version 1 store, sync file or backup: a v1
    envelope is opened (its own AD) and sealed again with the claims; a v1 tombstone (no
    envelope) becomes a sealed tombstone; v1 content erased by a purge (no envelope, not
    deleted) a sealed erasure. The claims must come from something authenticated or trusted
    (the sync file's AEAD, the backup's, the local store at the upgrade). A v2 envelope is
    verified and returned as it is. CorruptItemError if it does not open."""
    if envelope is not None and envelope_version(envelope) != ENVELOPE_VERSION:
        open_op(items_key, vault_id, claims, envelope)
        return envelope
    if envelope is None:
        kind = claims.kind
        payload = None if claims.deleted else erased_payload(kind)
    else:
        payload = open_item(items_key, vault_id, claims.kind, claims.item_id, envelope)
        if claims.deleted:
            payload = None
    return seal_op(items_key, vault_id, claims, payload)
