"""The backup file format (docs/BACKUP.md): one encrypted file, written and read as a stream.

    magic        8 bytes   b"VAULTBAK"
    header_len   4 bytes   unsigned big-endian
    header       UTF-8 JSON: format, version, vault id, backup id, creation time, MK id,
                 stream parameters and the vault's key slots (each wrapping the master key)
    ss_header    24 bytes  libsodium secretstream (XChaCha20-Poly1305) header
    parts        secretstream messages of exactly `chunk` plaintext bytes each (so every part
                 on disk is chunk + 17 bytes); only the last carries the FINAL tag

The parts' plaintext, read in order, is one stream of records (1 type byte, a 4-byte big-endian
length, the payload): an info record, one record per operation, an end record with counts,
then zeros up to the end of the last part.

Why this shape: the key slots in the header make a backup self-contained (the password or the
recovery key is enough on a bare machine); the stream key comes from the master key, and every
part's associated data is a digest of everything before the stream, so a changed header (a
slot dropped, another vault id) fails on the first part; secretstream numbers its messages
internally, so a reordered, dropped or foreign part fails, and the FINAL tag makes truncation
and appended bytes detectable. Fixed-size parts mean the file's length says nothing about
individual notes.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_ABYTES as ABYTES,
)
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_HEADERBYTES as SS_HEADER_BYTES,
)
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_init_pull,
    crypto_secretstream_xchacha20poly1305_init_push,
    crypto_secretstream_xchacha20poly1305_pull,
    crypto_secretstream_xchacha20poly1305_push,
    crypto_secretstream_xchacha20poly1305_state,
)
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_TAG_FINAL as TAG_FINAL,
)
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_TAG_MESSAGE as TAG_MESSAGE,
)

from vault import safejson
from vault.errors import (
    BackupError,
    IntegrityError,
    KeyfileRequiredError,
    NotAVaultError,
    RecoveryKeyError,
    UnsupportedFormatError,
    VaultError,
    WrongPasswordError,
)
from vault.sealing import crypto, keys
from vault.sealing.crypto import Label
from vault.storage.store import Op

MAGIC = b"VAULTBAK"
FORMAT_NAME = "vault-backup"
FORMAT_VERSION = 1
STREAM_ALG = "xchacha20poly1305-secretstream"
CHUNK = 64 * 1024
MIN_CHUNK = 1024
MAX_CHUNK = 16 * 1024 * 1024
MAX_HEADER = 1024 * 1024  # a header is a few KiB; a bigger one is damage, not data
MAX_RECORD = 256 * 1024 * 1024  # bounds what a damaged length field can make us allocate
# A vault has two slots. Each password slot costs one Argon2 run of up to 4 GiB before anything
# is authenticated, so a hostile header must not multiply that by thousands.
MAX_SLOTS = 16
# Derives the stream key from the backup subkey; 16 bytes, like the labels in crypto.Label.
STREAM_LABEL = b"vault bak stream"

REC_INFO = b"I"  # JSON: when, from which device, with history or not, source counts
REC_OP = b"O"  # JSON: one operation (a sealed item version or a tombstone) with its parents
REC_ATTACHMENT = b"A"  # binary: a blob's name (64 ASCII hex) and the next bytes of its file
REC_END = b"E"  # JSON: how many records came before; must sit in the FINAL part

_LEN = struct.Struct(">I")
_REC_HEAD = struct.Struct(">cI")

Progress = Callable[[int, int | None], None]


def stream_key(master_key: bytes, backup_id: str) -> bytes:
    """The key of one backup's stream: from the master key, through the backup subkey."""
    return crypto.blake2b(
        bytes.fromhex(backup_id), key=crypto.subkey(master_key, Label.BACKUP), person=STREAM_LABEL
    )


def header_digest(prefix: bytes) -> bytes:
    """Associated data of every part: BLAKE2b-256 of magic, length and header bytes."""
    return crypto.blake2b(prefix)


def utc_stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(text: object) -> datetime:
    if not isinstance(text, str):
        raise ValueError("not a time")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class BackupHeader:
    """The clear part of a backup: enough to list it and to unwrap its master key."""

    vault_id: str
    backup_id: str
    created: datetime
    mk_id: str
    chunk: int
    slots: tuple[keys.Slot, ...]
    prefix: bytes  # magic, length and header bytes exactly as in the file (hashed into the AD)
    ss_header: bytes

    @property
    def slot_types(self) -> tuple[str, ...]:
        return tuple(s.slot_type for s in self.slots)


def encode_prefix(
    vault_id: str,
    backup_id: str,
    created: datetime,
    mk_id: str,
    slots: list[keys.Slot],
    chunk: int = CHUNK,
) -> bytes:
    doc = {
        "format": FORMAT_NAME,
        "v": FORMAT_VERSION,
        "vault_id": vault_id,
        "backup_id": backup_id,
        "created": utc_stamp(created),
        "mk_id": mk_id,
        "stream": {"alg": STREAM_ALG, "chunk": chunk},
        "slots": [json.loads(s.to_json()) for s in slots],
    }
    header = json.dumps(doc, indent=1).encode("utf-8")
    return MAGIC + _LEN.pack(len(header)) + header


# --- writing -----------------------------------------------------------------------------------


class BackupWriter:
    """Turns records into fixed-size secretstream parts on `out`. The caller owns the file."""

    def __init__(self, out: BinaryIO, prefix: bytes, key: bytes, chunk: int = CHUNK) -> None:
        self._out = out
        self._ad = header_digest(prefix)
        self._chunk = chunk
        self._state = crypto_secretstream_xchacha20poly1305_state()
        ss_header = crypto_secretstream_xchacha20poly1305_init_push(self._state, key)
        out.write(prefix + ss_header)
        self._buf = bytearray()
        self.parts = 0
        self.records = 0
        self.bytes_written = len(prefix) + len(ss_header)

    def record(self, rtype: bytes, payload: bytes) -> None:
        if len(payload) > MAX_RECORD:
            raise BackupError("an item is larger than a backup record can hold (256 MiB)")
        self._buf += _REC_HEAD.pack(rtype, len(payload))
        self._buf += payload
        self.records += 1
        # Strictly more than one part's worth: the last bytes must wait for the FINAL tag.
        if len(self._buf) > self._chunk:
            self._push_full()

    def record_json(self, rtype: bytes, doc: dict[str, Any]) -> None:
        self.record(rtype, json.dumps(doc, separators=(",", ":")).encode("utf-8"))

    def _push_full(self) -> None:
        chunk = self._chunk
        view = memoryview(self._buf)
        start = 0
        while len(self._buf) - start > chunk:
            self._push(bytes(view[start : start + chunk]), TAG_MESSAGE)
            start += chunk
        view.release()
        del self._buf[:start]

    def _push(self, plaintext: bytes, tag: int) -> None:
        cipher = crypto_secretstream_xchacha20poly1305_push(self._state, plaintext, self._ad, tag)
        self._out.write(cipher)
        self.parts += 1
        self.bytes_written += len(cipher)

    def finish(self, end: dict[str, Any]) -> None:
        """Write the end record and the FINAL part, padded with zeros to the part size."""
        end = {**end, "records": self.records}
        self.record_json(REC_END, end)
        self._push_full()
        final = bytes(self._buf) + b"\x00" * (self._chunk - len(self._buf))
        self._buf.clear()
        self._push(final, TAG_FINAL)


# --- reading -----------------------------------------------------------------------------------


def _read_exact(fh: BinaryIO, n: int, name: str) -> bytes:
    """Up to `n` bytes (fewer only at the end of the file). A read the disk refuses (an I/O
    error on a failing drive or a pulled USB stick) is a one-line BackupError."""
    try:
        data = fh.read(n)
        while data and len(data) < n:
            more = fh.read(n - len(data))
            if not more:
                break
            data += more
    except OSError as exc:
        raise BackupError(f"cannot read {name}: {exc.strerror or 'I/O error'}") from None
    return data


def read_header(fh: BinaryIO, name: str) -> BackupHeader:
    """Parse the clear header; raises BackupError saying what is wrong with it."""
    magic = _read_exact(fh, len(MAGIC), name)
    if magic != MAGIC:
        raise BackupError(f"{name} is not a vault backup")
    raw_len = _read_exact(fh, _LEN.size, name)
    if len(raw_len) < _LEN.size:
        raise BackupError(f"{name} is truncated: it ends inside the backup header")
    (length,) = _LEN.unpack(raw_len)
    if length > MAX_HEADER:
        raise BackupError(f"{name} is damaged: its header length is implausible")
    header = _read_exact(fh, length, name)
    if len(header) < length:
        raise BackupError(f"{name} is truncated: it ends inside the backup header")
    ss_header = _read_exact(fh, SS_HEADER_BYTES, name)
    if len(ss_header) < SS_HEADER_BYTES:
        raise BackupError(f"{name} is truncated: it ends before its first part")
    try:
        doc = safejson.expect_dict(safejson.parse(header, "header"), "header")
    except VaultError:  # not JSON, nested too deep (RecursionError), not an object
        raise BackupError(f"{name} is damaged: its header is not readable") from None
    if doc.get("format") != FORMAT_NAME:
        raise BackupError(f"{name} is damaged: its header does not name the backup format")
    v = doc.get("v")
    if v != FORMAT_VERSION or isinstance(v, bool):
        if isinstance(v, int) and not isinstance(v, bool) and v > FORMAT_VERSION:
            raise UnsupportedFormatError(
                f"{name} uses backup format v{v}, newer than this program; upgrade vault"
            )
        raise BackupError(f"{name} is damaged: unknown backup format version {v!r}")
    try:
        stream = doc["stream"]
        if stream.get("alg") != STREAM_ALG:
            raise ValueError
        chunk = stream.get("chunk")
        if not (isinstance(chunk, int) and MIN_CHUNK <= chunk <= MAX_CHUNK):
            raise ValueError
        vault_id, backup_id, mk_id = doc["vault_id"], doc["backup_id"], doc["mk_id"]
        if not all(_is_hex32(x) for x in (vault_id, backup_id, mk_id)):
            raise ValueError
        created = parse_stamp(doc["created"])
        raw_slots = doc["slots"]
        if not isinstance(raw_slots, list) or not raw_slots:
            raise ValueError
    except (KeyError, TypeError, ValueError, AttributeError):
        raise BackupError(f"{name} is damaged: its header is incomplete or malformed") from None
    if len(raw_slots) > MAX_SLOTS:
        raise BackupError(f"{name} is damaged: its header lists implausibly many key slots")
    slots = []
    for i, raw in enumerate(raw_slots):
        try:
            slot = keys.Slot.from_json(json.dumps(raw).encode("utf-8"), f"key slot {i + 1}")
        except (NotAVaultError, UnsupportedFormatError, VaultError) as exc:
            raise BackupError(f"{name} is damaged: {exc}") from None
        if slot.master_id != mk_id:
            raise BackupError(f"{name} is damaged: a key slot names another master key")
        slots.append(slot)
    return BackupHeader(
        vault_id=vault_id,
        backup_id=backup_id,
        created=created,
        mk_id=mk_id,
        chunk=chunk,
        slots=tuple(slots),
        prefix=MAGIC + raw_len + header,
        ss_header=ss_header,
    )


def _is_hex32(value: object) -> bool:
    return (
        isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value)
    )


def unlock_header(
    header: BackupHeader,
    name: str,
    *,
    password: str | None = None,
    keyfile: Path | None = None,
    recovery_key: str | None = None,
) -> bytes:
    """The backup's master key, unwrapped from the backup's own key slots."""
    if recovery_key is not None:
        secret = keys.Secret(recovery=keys.parse_recovery_key(recovery_key))
        candidates = [(s, secret) for s in header.slots if s.slot_type == keys.RECOVERY]
    elif password is not None:
        candidates = []
        for s in header.slots:
            if s.slot_type == keys.PASSWORD:
                candidates.append((s, keys.Secret(password)))
            elif s.slot_type == keys.PASSWORD_KEYFILE and keyfile is not None:
                candidates.append((s, keys.Secret(password, keyfile)))
    else:
        raise WrongPasswordError("a password or recovery key is needed to open this backup")
    for slot, secret in candidates:
        try:
            mk = slot.try_open(header.vault_id, secret)
        except IntegrityError as exc:
            raise BackupError(f"{name} is damaged: {exc}") from None
        if mk is not None:
            return _checked(mk, header, name)
    if recovery_key is not None:
        raise RecoveryKeyError("this recovery key does not open this backup")
    if keyfile is None and keys.PASSWORD not in header.slot_types:
        raise KeyfileRequiredError("this backup needs the vault's keyfile: pass --keyfile PATH")
    if keyfile is not None:
        raise WrongPasswordError("wrong password or keyfile for this backup")
    raise WrongPasswordError("wrong password for this backup")


def _checked(master_key: bytes, header: BackupHeader, name: str) -> bytes:
    if keys.mk_id(master_key) != header.mk_id:
        raise BackupError(f"{name} is damaged: its key slots and header disagree")
    return master_key


@dataclass(frozen=True)
class Record:
    rtype: bytes
    payload: bytes

    def json(self, name: str) -> dict[str, Any]:
        try:
            doc = safejson.expect_dict(safejson.parse(self.payload, "record"), "record")
        except VaultError:
            raise BackupError(f"{name} is damaged: a record is not readable") from None
        return doc


def read_records(
    fh: BinaryIO,
    header: BackupHeader,
    master_key: bytes,
    name: str,
    progress: Progress | None = None,
    total: int | None = None,
) -> Iterator[Record]:
    """Decrypt the parts after the header and yield their records, checking the stream's
    integrity as a whole: every part in order, the FINAL tag, nothing after it, and the end
    record's count. Raises BackupError at the first problem, so nothing after it is trusted."""
    state = crypto_secretstream_xchacha20poly1305_state()
    try:
        crypto_secretstream_xchacha20poly1305_init_pull(
            state, header.ss_header, stream_key(master_key, header.backup_id)
        )
    except Exception:
        raise BackupError(f"{name} is damaged: its stream header is unreadable") from None
    ad = header_digest(header.prefix)
    part_size = header.chunk + ABYTES
    done = len(header.prefix) + len(header.ss_header)
    buf = bytearray()
    part = 0
    records = 0
    while True:
        cipher = _read_exact(fh, part_size, name)
        if len(cipher) < part_size:
            where = "in the middle of" if cipher else "before"
            raise BackupError(
                f"{name} is truncated: it ends {where} part {part + 1}, without its end marker"
            )
        part += 1
        try:
            plain, tag = crypto_secretstream_xchacha20poly1305_pull(state, cipher, ad)
        except Exception:
            what = "its header or first part" if part == 1 else f"part {part}"
            raise BackupError(
                f"{name} is damaged or tampered: {what} fails to verify "
                "(changed, reordered, or taken from another backup)"
            ) from None
        done += len(cipher)
        if progress is not None:
            progress(done, total)
        if tag not in (TAG_MESSAGE, TAG_FINAL):
            raise BackupError(f"{name} is damaged: part {part} has an unexpected tag")
        buf += plain
        pos = 0
        while len(buf) - pos >= _REC_HEAD.size:
            rtype, length = _REC_HEAD.unpack_from(buf, pos)
            if length > MAX_RECORD:
                raise BackupError(f"{name} is damaged: a record length is implausible")
            end = pos + _REC_HEAD.size + length
            if end > len(buf):
                break
            payload = bytes(buf[pos + _REC_HEAD.size : end])
            pos = end
            if rtype == REC_END:
                _check_end(Record(rtype, payload), records, buf[pos:], tag, fh, name)
                return
            if records == 0 and rtype != REC_INFO:
                raise BackupError(f"{name} is damaged: it does not start with its info record")
            if rtype not in (REC_INFO, REC_OP, REC_ATTACHMENT):
                raise UnsupportedFormatError(
                    f"{name} holds a record type this version of vault does not know; upgrade"
                )
            records += 1
            yield Record(rtype, payload)
        del buf[:pos]
        if tag == TAG_FINAL:
            raise BackupError(f"{name} is damaged: its last part holds no end marker")


def _check_end(
    end: Record, records: int, rest: bytes | bytearray, tag: int, fh: BinaryIO, name: str
) -> None:
    if tag != TAG_FINAL:
        raise BackupError(f"{name} is damaged: its end marker is not in its last part")
    if any(rest):
        raise BackupError(f"{name} is damaged: data follows its end marker")
    if _read_exact(fh, 1, name):
        raise BackupError(f"{name} has data after its last part (appended or tampered)")
    count = end.json(name).get("records")
    if count != records:
        raise BackupError(
            f"{name} is damaged: its end marker counts {count} records but {records} were read"
        )


def op_to_json(op: Op) -> dict[str, Any]:
    return {
        "op": op.op_id,
        "item": op.item_id,
        "kind": op.kind,
        "parents": list(op.parents),
        "deleted": op.deleted,
        "device": op.device,
        "envelope": op.envelope,
    }


def op_from_record(record: Record, name: str) -> Op:
    doc = record.json(name)
    try:
        op_id, item_id, kind, device = doc["op"], doc["item"], doc["kind"], doc["device"]
        parents, deleted, envelope = doc["parents"], doc["deleted"], doc["envelope"]
        if not all(_is_id(x) for x in (op_id, item_id, device)):
            raise ValueError
        if not (isinstance(kind, str) and kind.isascii() and kind.isalpha() and len(kind) <= 32):
            raise ValueError
        if not (isinstance(parents, list) and all(_is_id(p) for p in parents)):
            raise ValueError
        if not isinstance(deleted, bool) or not (envelope is None or isinstance(envelope, str)):
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise BackupError(f"{name} is damaged: an operation record is malformed") from None
    return Op(op_id, item_id, kind, tuple(parents), deleted, envelope, device)


def _is_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 128 and value.isascii()


# --- attachments ---------------------------------------------------------------------------------

BLOB_NAME_BYTES = 64
ATTACHMENT_PIECE = 1 << 20  # bytes of a blob file per `A` record


def attachment_records(writer: BackupWriter, name: str, path: Path) -> None:
    """The sealed blob file at `path` as a run of `A` records (BACKUP.md, "Attachments")."""
    head = name.encode("ascii")
    assert len(head) == BLOB_NAME_BYTES
    with open(path, "rb") as src:
        first = True
        while True:
            piece = src.read(ATTACHMENT_PIECE)
            if not piece and not first:
                break
            writer.record(REC_ATTACHMENT, head + piece)
            first = False
            if len(piece) < ATTACHMENT_PIECE:
                break


def attachment_piece(record: Record, name: str) -> tuple[str, bytes]:
    """(blob name, bytes) of an `A` record; BackupError if its name is not one."""
    raw = record.payload[:BLOB_NAME_BYTES]
    try:
        blob = raw.decode("ascii")
    except UnicodeDecodeError:
        blob = ""
    if len(blob) != BLOB_NAME_BYTES or any(c not in "0123456789abcdef" for c in blob):
        raise BackupError(f"{name} is damaged: an attachment record has no blob name")
    return blob, record.payload[BLOB_NAME_BYTES:]
