"""Sealed chain files: a device's batches of operations (segments) and snapshots.

    VAULTSYNC2\\n           (VAULTSYNC1 for files written by format version 1, still read)
    {"dev": "<device>", "seq": 7, "kind": "seg", "prev": "<hash of file 6>", "nonce": "<b64>"}\\n
    <XChaCha20-Poly1305 ciphertext>

The clear header says only what the file name already says, plus the previous file's hash and
the nonce. The reader rebuilds the associated data from the vault id it expects and the fields
it checked (device, kind, sequence number, previous hash), so a file cannot be moved to another
vault, device or place in the chain, and each device's log is a hash chain. The padded
plaintext holds the operations, each carrying the item's envelope exactly as it was sealed
where it was written, the writer's acknowledgements of other devices' logs, and its clock.
The file's AEAD authenticates each operation's claims; format 2 envelopes bind them once more,
so the engine verifies every operation against its envelope before it sends or applies it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from vault import safejson
from vault.errors import IntegrityError, UnsupportedFormatError
from vault.sealing import crypto
from vault.storage.store import Op
from vault.sync.layout import FORMAT_VERSION, KINDS, READABLE_VERSIONS, content_hash, is_device_id

MAGIC_PREFIX = b"VAULTSYNC"
MAGIC = MAGIC_PREFIX + str(FORMAT_VERSION).encode("ascii") + b"\n"
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
_MAX_HEADER = 1024


@dataclass(frozen=True)
class ChainFile:
    """One opened chain file."""

    device: str
    seq: int
    kind: str  # layout.SEGMENT or layout.SNAPSHOT
    prev: str  # hash of the device's previous chain file ("" for the first)
    ops: tuple[Op, ...]
    acks: dict[str, int] = field(default_factory=dict)  # device -> highest seq applied in order
    wall: int = 0  # the writer's clock (ms): display and retiring silent devices only
    hash: str = ""
    size: int = 0
    version: int = FORMAT_VERSION  # 1: written by format version 1 (v1 envelopes inside)


def sync_key(master_key: bytes) -> bytes:
    return crypto.subkey(master_key, crypto.Label.SYNC)


def file_ad(
    vault_id: str, device: str, kind: str, seq: int, prev: str, version: int = FORMAT_VERSION
) -> bytes:
    fields = ("vault-sync-file", str(version), vault_id, device, kind, str(seq), prev)
    return "\x00".join(fields).encode("ascii")


def _op_row(op: Op) -> list[Any]:
    return [op.op_id, op.item_id, op.kind, list(op.parents), op.deleted, op.envelope, op.device]


def seal_file(
    key: bytes,
    vault_id: str,
    *,
    device: str,
    seq: int,
    kind: str,
    prev: str,
    ops: list[Op] | tuple[Op, ...],
    acks: dict[str, int],
    wall: int,
) -> bytes:
    """The bytes of a chain file. The caller names it by content_hash() of them."""
    if kind not in KINDS or seq < 1 or not is_device_id(device):
        raise ValueError("bad chain file position")
    body = {"ops": [_op_row(op) for op in ops], "acks": acks, "wall": wall}
    plaintext = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    nonce = crypto.random_bytes(crypto.NONCE_BYTES)
    header = {"dev": device, "seq": seq, "kind": kind, "prev": prev, "nonce": crypto.b64e(nonce)}
    cipher = crypto.seal(
        key, nonce, crypto.pad(plaintext), file_ad(vault_id, device, kind, seq, prev)
    )
    return MAGIC + json.dumps(header, separators=(",", ":")).encode("ascii") + b"\n" + cipher


def file_version(data: bytes, where: str) -> int:
    """The format version a chain file's magic line names (IntegrityError if none)."""
    head = data[: len(MAGIC)]
    if head.startswith(MAGIC_PREFIX) and head.endswith(b"\n") and head[9:10].isdigit():
        version = int(head[9:10])
        if version in READABLE_VERSIONS:
            return version
        if version > FORMAT_VERSION:
            raise UnsupportedFormatError(f"{where} was written by a newer version of vault")
    raise IntegrityError(f"{where} is not a vault sync file (damaged or incomplete)")


def read_header(data: bytes, where: str) -> tuple[str, int, str, str, bytes, int]:
    """(device, seq, kind, prev, nonce, offset of the ciphertext) from a chain file's clear
    header; raises IntegrityError if it is not one."""
    file_version(data, where)
    end = data.find(b"\n", len(MAGIC), len(MAGIC) + _MAX_HEADER)
    if end < 0:
        raise IntegrityError(f"{where} has a damaged header")
    try:
        header = safejson.expect_dict(
            safejson.parse(data[len(MAGIC) : end], where, IntegrityError), where, IntegrityError
        )
        device, seq, kind, prev = header["dev"], header["seq"], header["kind"], header["prev"]
        nonce = crypto.b64d(header["nonce"], crypto.NONCE_BYTES)
        if not (
            isinstance(device, str)
            and is_device_id(device)
            and isinstance(seq, int)
            and not isinstance(seq, bool)
            and seq >= 1
            and kind in KINDS
            and isinstance(prev, str)
            and (prev == "" or _HEX32.match(prev))
        ):
            raise ValueError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise IntegrityError(f"{where} has a damaged header") from None
    return device, seq, kind, prev, nonce, end + 1


def verify_file(key: bytes, vault_id: str, data: bytes, where: str) -> ChainFile:
    """Check that a chain file authenticates, without parsing what it holds (for a snapshot
    whose operations this device already applied): a ChainFile with no operations, or
    IntegrityError."""
    device, seq, kind, prev, nonce, offset = read_header(data, where)
    version = file_version(data, where)
    ad = file_ad(vault_id, device, kind, seq, prev, version)
    crypto.unseal(key, nonce, data[offset:], ad, where)
    return ChainFile(device, seq, kind, prev, (), {}, 0, content_hash(data), len(data), version)


def open_file(key: bytes, vault_id: str, data: bytes, where: str) -> ChainFile:
    """Verify and open a chain file, or raise IntegrityError: never a partial result."""
    device, seq, kind, prev, nonce, offset = read_header(data, where)
    version = file_version(data, where)
    padded = crypto.unseal(
        key, nonce, data[offset:], file_ad(vault_id, device, kind, seq, prev, version), where
    )
    try:
        body = safejson.parse(crypto.unpad(padded), where, IntegrityError, check_depth=False)
        ops = tuple(_parse_op(row) for row in body["ops"])
        acks = body.get("acks", {})
        wall = body.get("wall", 0)
        if not isinstance(acks, dict) or not all(
            is_device_id(k) and isinstance(v, int) and not isinstance(v, bool)
            for k, v in acks.items()
        ):
            raise ValueError
        if not isinstance(wall, int) or isinstance(wall, bool):
            raise ValueError
    except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError):
        # It verified, so a device holding the key wrote it: a bug or a newer format.
        raise IntegrityError(f"{where} verified but holds malformed content") from None
    return ChainFile(
        device, seq, kind, prev, ops, acks, wall, content_hash(data), len(data), version
    )


def _parse_op(row: Any) -> Op:
    op_id, item_id, kind, parents, deleted, envelope, device = row
    if not (
        isinstance(op_id, str)
        and _HEX32.match(op_id)
        and isinstance(item_id, str)
        and _HEX32.match(item_id)
        and isinstance(kind, str)
        and _KIND.match(kind)
        and isinstance(parents, list)
        and all(isinstance(p, str) and _HEX32.match(p) for p in parents)
        and isinstance(deleted, bool)
        and (envelope is None or isinstance(envelope, str))
        and isinstance(device, str)
        and is_device_id(device)
    ):
        raise ValueError("bad op")
    return Op(op_id, item_id, kind, tuple(parents), deleted, envelope, device)
