"""The sealed snapshot: every current item, decrypted state and all, sealed into one file so the
next unlock reads one stream instead of opening 10,000 envelopes (docs/FORMAT.md, "Snapshot").

It is only ever a hint. Each entry carries the version it was read at, and unlocking still asks
the store for every item's current version: entries whose version moved on are decrypted from
the store as before, entries the store no longer has are dropped. A snapshot that is missing,
truncated, tampered with, from another vault or sealed under an older master key, or that is
not a regular file (a FIFO, a symlink, a folder) or not JSON of the right shape, is ignored as
if it were not there, and the next lock seals a new one. It never holds an item the store
erased: purging a note destroys the snapshot at once.

Layout (version 2): one JSON header line `{"v":2,"vault":…,"mk":…,"ss":<secretstream header>}`,
then secretstream messages, each a 4-byte big-endian length and a padded ciphertext. First the
entries without the notes' bodies as JSON arrays (ids, titles, notebooks, tags, times: what a
listing needs), the last message of them tagged PUSH; then the bodies (an index of ids and byte
lengths, then the bodies' UTF-8 back to back), the last message (empty) tagged FINAL. A listing
reads and decrypts only the first part (`load(bodies=False)`: about 150 bytes a note instead of
the whole vault). It is written as a stream, so sealing it needs no second copy of the vault in
memory. A version 1 file (every entry whole, no PUSH) is still read; the next lock replaces it.

Version 3 puts one more message first, the head (`Head`): every entry that is not a note, the
first `HEAD_NOTES` notes outside the trash in each of the app's orders, the store's highest
operation `seq` when it was sealed and the ids of the notes in the trash, so the app shows its
first screen of notes, exact, before reading the first part (vault.notes.cache). A version 2
file is still read (no head); the next lock replaces it.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import secrets
import stat
import struct
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_init_pull as init_pull,
)
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_init_push as init_push,
)
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_pull as pull,
)
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_push as push,
)
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_state as StreamState,
)
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_TAG_FINAL as TAG_FINAL,
)
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_TAG_MESSAGE as TAG_MESSAGE,
)
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_TAG_PUSH as TAG_PUSH,
)
from nacl.exceptions import CryptoError

from vault import safejson
from vault.errors import VaultError
from vault.fsutil import PRIVATE_FILE_MODE, wipe_file
from vault.sealing import crypto

FILE_NAME = "snapshot.sealed"
VERSION = 3  # 2: the bodies apart, after the rest (a listing reads only the rest); 3: the head
READABLE = (1, 2, 3)
# The head (version 3): this many notes in each order the app lists by, enough for any
# terminal's first screen; the ids it names besides (trash, absent) at most HEAD_IDS, else the
# head says it is of no use (`hw` null) and the reader reads the first part as in version 2.
HEAD_NOTES = 200
HEAD_IDS = 20000
HEAD_ORDERS = ("modified", "created", "title")
CHUNK = 1 << 20  # plaintext bytes per message, before padding
MAX_MESSAGE = 2 * CHUNK + 4096
# Far above any vault a person keeps (a snapshot of 100,000 notes is some hundreds of MiB), and
# a bound on what a planted file can make an unlock read.
MAX_FILE = 8 << 30
_LEN = struct.Struct(">I")

# An entry: [item id, kind, version (op id), conflict, payload].
Entry = tuple[str, str, str, bool, dict[str, Any]]


def path_in(vault_path: Path) -> Path:
    return vault_path / FILE_NAME


def _ad(vault_id: str, master_id: str, version: int = VERSION) -> bytes:
    return "\x00".join(("vault-snapshot", str(version), vault_id, master_id)).encode("ascii")


def write(
    vault_path: Path,
    key: bytes,
    vault_id: str,
    master_id: str,
    entries: Iterable[Entry],
    head: dict[str, Any] | None = None,
) -> None:
    """Replace the snapshot. A crash leaves the old one or the new one; a failure (a full disk)
    leaves no partial file and raises OSError. `head` is the head message's object
    (`head_object`); None writes one of no use (`hw` null)."""
    target = path_in(vault_path)
    tmp = target.with_name(f".{FILE_NAME}.{secrets.token_hex(4)}.tmp")
    state = StreamState()
    header = init_push(state, key)
    ad = _ad(vault_id, master_id)
    line = {"v": VERSION, "vault": vault_id, "mk": master_id}
    line["ss"] = base64.b64encode(header).decode("ascii")
    bodies: list[tuple[str, str]] = []  # the notes' own strings, not copies

    def without_bodies() -> Iterator[Entry]:
        for item_id, kind, version, conflict, payload in entries:
            if "body" in payload:
                payload = dict(payload)
                bodies.append((item_id, payload.pop("body")))
            yield item_id, kind, version, conflict, payload

    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "wb") as out:
            out.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")

            def message(plain: bytes, tag: int) -> None:
                cipher = push(state, crypto.pad(plain), ad, tag)
                out.write(_LEN.pack(len(cipher)) + cipher)

            message(_head_bytes(head), TAG_MESSAGE)  # the head: always the first message
            for chunk in _chunks(without_bodies()):
                message(chunk, TAG_MESSAGE)
            message(b"", TAG_PUSH)  # the end of what a listing reads
            for chunk in _body_chunks(bodies):
                message(chunk, TAG_MESSAGE)
            message(b"", TAG_FINAL)
        # No fsync: a snapshot lost to a crash only costs the next unlock some time.
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


NO_HEAD: dict[str, Any] = {
    "hw": None,
    "k": HEAD_NOTES,
    "complete": False,
    "trash": [],
    "absent": [],
    "entries": [],
}


def head_object(
    high_water: int,
    entries: Sequence[Entry],
    complete: bool,
    trash: Iterable[str],
    absent: Iterable[str],
) -> dict[str, Any]:
    """The head's object (FORMAT.md, "The snapshot"): the store's highest op seq when it was
    sealed, `entries` (every item that is not a note, then the first `HEAD_NOTES` notes
    outside the trash in each of `HEAD_ORDERS`, without their bodies), whether those are all
    the notes outside the trash, the ids of the notes in the trash and of the live notes the
    snapshot leaves out (`absent`: not verified when it was sealed). Too many ids: a head of
    no use (`NO_HEAD`)."""
    trash, absent = sorted(trash), sorted(absent)
    if len(trash) + len(absent) > HEAD_IDS:
        return dict(NO_HEAD)
    return {
        "hw": high_water,
        "k": HEAD_NOTES,
        "complete": complete,
        "trash": trash,
        "absent": absent,
        "entries": list(entries),
    }


def _head_bytes(head: dict[str, Any] | None) -> bytes:
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    data = dumps(head if head is not None else NO_HEAD).encode("utf-8")
    if len(data) > CHUNK:  # (thousands of notebooks): a head of no use, not a file no one reads
        data = dumps(NO_HEAD).encode("utf-8")
    return data


def _body_chunks(bodies: Iterable[tuple[str, str]]) -> Iterator[bytes]:
    """Messages of bodies: a length-prefixed JSON index of `[item id, byte length]`, then the
    bodies' UTF-8 back to back (no JSON escaping to undo: a third of the time to read)."""
    index: list[tuple[str, int]] = []
    parts: list[bytes] = []
    size = 0
    dumps = json.JSONEncoder(separators=(",", ":")).encode

    def message() -> bytes:
        head = dumps(index).encode("ascii")
        return _LEN.pack(len(head)) + head + b"".join(parts)

    for item_id, body in bodies:
        data = body.encode("utf-8")
        index.append((item_id, len(data)))
        parts.append(data)
        size += len(data) + len(item_id) + 16
        if size >= CHUNK:
            yield message()
            index, parts, size = [], [], 0
    if index:
        yield message()


def _chunks(entries: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    lines: list[bytes] = []
    size = 0
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for entry in entries:
        line = dumps(entry).encode("utf-8")
        lines.append(line)
        size += len(line) + 1
        if size >= CHUNK:
            yield b"[" + b",".join(lines) + b"]"
            lines, size = [], 0
    if lines:
        yield b"[" + b",".join(lines) + b"]"


class Head:
    """The head of a version 3 snapshot (FORMAT.md, "The snapshot"), read and authenticated,
    with the rest of the same file still open: `listing()` reads on (the first part, as
    `load_listing` gives it). Only a hint, as every entry is: vault.notes.cache vouches for
    each entry against the store before showing it."""

    def __init__(
        self,
        fh: BinaryIO,
        state: StreamState,
        ad: bytes,
        high_water: int,
        notes: int,
        complete: bool,
        trash: frozenset[str],
        absent: frozenset[str],
        entries: list[Entry],
    ) -> None:
        self._fh: BinaryIO | None = fh
        self._state, self._ad = state, ad
        self.high_water = high_water  # the store's highest op seq when it was sealed
        self.notes = notes  # how many notes it holds in each order, unless `complete`
        self.complete = complete  # every note outside the trash is among `entries`
        self.trash = trash  # the notes in the trash then
        self.absent = absent  # the live notes the snapshot left out (not verified then)
        self.entries = entries

    def listing(self) -> tuple[list[Entry], bool, int, BodyStream | None] | None:
        """The first part (the head's entries again among them), and the bodies' stream, as
        `load_listing` gives them, or None if the rest of the file does not read. Once."""
        fh, self._fh = self._fh, None
        if fh is None:
            return None
        try:
            held: list[tuple[StreamState, bytes]] = []
            found = _read_rest(fh, self._state, self._ad, VERSION, False, held)
            if found is not None and held:
                return (*found, BodyStream(fh, *held[0]))
            fh.close()
            return None if found is None else (*found, None)
        except _UNREADABLE:
            fh.close()
            return None
        except BaseException:
            fh.close()
            raise

    def close(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            with contextlib.suppress(OSError):
                fh.close()


def load_head(vault_path: Path, key: bytes, vault_id: str, master_id: str) -> Head | None:
    """The head of a version 3 snapshot, the file left open to read on (`Head.listing`), or
    None: no snapshot that opens, one of another version, or a head of no use (`hw` null)."""
    try:
        fh = _open_file(path_in(vault_path))
    except _UNREADABLE:
        return None
    try:
        begun = _begin(fh, key, vault_id, master_id)
        if begun is None or begun[3] is None:
            fh.close()
            return None
        _, state, ad, head = begun
        return _head_of(fh, state, ad, head)
    except _UNREADABLE:
        fh.close()
        return None
    except BaseException:
        fh.close()
        raise


def _head_of(fh: BinaryIO, state: StreamState, ad: bytes, head: dict[str, Any]) -> Head | None:
    if head["hw"] is None:
        fh.close()
        return None
    return Head(
        fh,
        state,
        ad,
        head["hw"],
        head["k"],
        head["complete"],
        frozenset(head["trash"]),
        frozenset(head["absent"]),
        head["entries"],
    )


def read(vault_path: Path, key: bytes, vault_id: str, master_id: str) -> list[Entry] | None:
    """Every entry, or None if there is no snapshot that opens whole under this key. Whatever
    the file is (a FIFO, a symlink, a folder, a giant, the wrong JSON), the answer is None."""
    found = load(vault_path, key, vault_id, master_id, bodies=True)
    return None if found is None else found[0]


_UNREADABLE = (OSError, ValueError, KeyError, TypeError, CryptoError, VaultError, RecursionError)


def load(
    vault_path: Path, key: bytes, vault_id: str, master_id: str, *, bodies: bool = True
) -> tuple[list[Entry], bool, int] | None:
    """(entries, whether they hold the notes' bodies, the file's version), or None as for
    `read`. `bodies=False` reads and decrypts only the first part of a version 2 snapshot,
    the entries without the bodies (a version 1 file is read whole either way)."""
    try:
        with _open_regular(path_in(vault_path)) as fh:
            return _read(fh, key, vault_id, master_id, bodies)
    except _UNREADABLE:
        return None


def load_listing(
    vault_path: Path, key: bytes, vault_id: str, master_id: str
) -> tuple[list[Entry], bool, int, BodyStream | None] | None:
    """As `load(bodies=False)`, and the rest of the same file still open to read the bodies
    from, a message at a time (`BodyStream`), or None when the entries came whole (a version
    1 file) or the file ended there. The bodies then come from the very file the entries came
    from, whatever replaces it meanwhile."""
    try:
        fh = _open_file(path_in(vault_path))
    except _UNREADABLE:
        return None
    try:
        held: list[tuple[StreamState, bytes]] = []
        found = _read(fh, key, vault_id, master_id, False, held)
        if found is not None and held:
            return (*found, BodyStream(fh, *held[0]))  # the file stays open for the stream
        fh.close()
        return None if found is None else (*found, None)
    except _UNREADABLE:
        fh.close()
        return None
    except BaseException:
        fh.close()
        raise


class BodyStream:
    """The bodies' part of a version 2 snapshot, read on from where `load_listing` stopped:
    `next()` decrypts one more message (about 1 MiB of bodies) and gives its bodies by item
    id. Each message is authenticated on its own, in order, under the file's key; an error,
    a second body for one note, or anything after the final message ends the stream
    (`ValueError`), and the bodies not read by then are for the caller to read elsewhere."""

    def __init__(self, fh: BinaryIO, state: StreamState, ad: bytes) -> None:
        self._fh: BinaryIO | None = fh
        self._state = state
        self._ad = ad
        self._seen: set[str] = set()

    @property
    def done(self) -> bool:
        return self._fh is None

    def next(self) -> dict[str, str]:
        """The next message's bodies ({} at the end: `done` is then True)."""
        fh = self._fh
        if fh is None:
            return {}
        try:
            raw = fh.read(_LEN.size)
            if len(raw) != _LEN.size:
                raise ValueError("the snapshot ends before its final message")
            (length,) = _LEN.unpack(raw)
            if length > MAX_MESSAGE:
                raise ValueError("a snapshot message too large")
            plain, tag = pull(self._state, fh.read(length), self._ad)
            body = crypto.unpad(plain)
            pairs = _pairs(body) if body else {}
            if not self._seen.isdisjoint(pairs):
                raise ValueError("one body per note")
            self._seen.update(pairs)
            if tag == TAG_FINAL:
                if fh.read(1):
                    raise ValueError("something after the snapshot's end")
                self.close()
            elif tag != TAG_MESSAGE:
                raise ValueError("a second PUSH in the snapshot")
            return pairs
        except _UNREADABLE as exc:
            self.close()
            raise ValueError("the snapshot's bodies could not be read") from exc

    def close(self) -> None:
        fh, self._fh = self._fh, None
        self._seen = set()
        if fh is not None:
            with contextlib.suppress(OSError):
                fh.close()


@contextlib.contextmanager
def _open_regular(path: Path) -> Iterator[BinaryIO]:
    with _open_file(path) as fh:
        yield fh


def _open_file(path: Path) -> BinaryIO:
    """The snapshot opened for reading only if it is a regular file of plausible size: no
    symlink is followed and opening a FIFO or a device never waits (O_NONBLOCK)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE:
            raise ValueError("not a snapshot")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _header(line: bytes) -> dict[str, Any]:
    head = safejson.expect_dict(safejson.parse(line, "the snapshot header"), "the snapshot header")
    for name in ("vault", "mk", "ss"):
        safejson.field(head, name, str, "the snapshot header")
    return head


def _entries(body: bytes) -> list[Entry]:
    """The entries of one message. Its bytes were authenticated, so this only guards against a
    writer of another version: anything but a list of [id, kind, version, conflict, payload]
    makes the whole snapshot unusable (ValueError)."""
    # One JSON array per message: one parse, not one per item. The depth scan is skipped for
    # these megabytes of authenticated data; a RecursionError is still caught.
    return _rows(safejson.parse(body, "the snapshot", check_depth=False))


def _head(body: bytes) -> dict[str, Any]:
    """The head message's object (version 3), checked as `_entries` checks entries: anything
    else makes the whole snapshot unusable (ValueError)."""
    # Authenticated, as the entries are: no depth scan (a RecursionError is still caught).
    parsed = safejson.parse(body, "the snapshot", check_depth=False)
    head = safejson.expect_dict(parsed, "the snapshot head")
    high_water = head.get("hw")
    ids = (head.get("trash"), head.get("absent"))
    if not (
        (high_water is None or (type(high_water) is int and high_water >= 0))
        and type(head.get("k")) is int
        and head["k"] >= 1
        and type(head.get("complete")) is bool
        and all(type(i) is list and all(type(x) is str for x in i) for i in ids)
    ):
        raise ValueError("not a snapshot head")
    head["entries"] = _rows(head.get("entries"))
    return head


def _rows(rows: Any) -> list[Entry]:
    rows = safejson.expect_list(rows, "rows")
    if not rows:
        return []
    # Checked column by column, in C (map, set, zip): not a Python loop per entry.
    if set(map(type, rows)) != {list} or set(map(len, rows)) != {5}:
        raise ValueError("not a snapshot entry")
    ids, kinds, versions, conflicts, payloads = zip(*rows, strict=True)
    if not (
        set(map(type, ids)) == {str}
        and set(map(type, kinds)) == {str}
        and set(map(type, versions)) == {str}
        and set(map(type, conflicts)) <= {bool, int}
        and set(map(type, payloads)) == {dict}
    ):
        raise ValueError("not a snapshot entry")
    return list(zip(ids, kinds, versions, map(bool, conflicts), payloads, strict=True))


def _pairs(body: bytes) -> dict[str, str]:
    """The bodies of one message of the second part, by item id. Checked column by column in
    C; when the bodies are ASCII (most are), they are decoded at once and cut as text."""
    if len(body) < _LEN.size:
        raise ValueError("not a snapshot body")
    (size,) = _LEN.unpack_from(body)
    end = _LEN.size + size
    head = safejson.parse(body[_LEN.size : end], "the snapshot", check_depth=False)
    index = safejson.expect_list(head, "rows")
    if not index:
        if end != len(body):
            raise ValueError("not a snapshot body")
        return {}
    if set(map(type, index)) != {list} or set(map(len, index)) != {2}:
        raise ValueError("not a snapshot body")
    ids, lengths = zip(*index, strict=True)
    if not (
        set(map(type, ids)) == {str}
        and set(map(type, lengths)) == {int}
        and min(lengths) >= 0
        and end + sum(lengths) == len(body)
        and len(set(ids)) == len(ids)
    ):
        raise ValueError("not a snapshot body")
    cuts = list(itertools.accumulate(lengths, initial=end))
    data = body[end:]
    if data.isascii():
        text = data.decode("ascii")
        cuts = [c - end for c in cuts]
        return dict(zip(ids, map(text.__getitem__, map(slice, cuts, cuts[1:])), strict=True))
    # strict UTF-8 per body: a length that cuts a character in two fails
    return {i: body[a:b].decode("utf-8") for i, a, b in zip(ids, cuts, cuts[1:], strict=False)}


def _begin(
    fh: BinaryIO, key: bytes, vault_id: str, master_id: str
) -> tuple[int, StreamState, bytes, dict[str, Any] | None] | None:
    """The header line read and the stream opened: (version, stream state, AD, the head's
    object in version 3, else None), or None for another version, vault or master key."""
    head = _header(fh.readline(4096))
    version = head.get("v")
    if version not in READABLE or head["vault"] != vault_id or head["mk"] != master_id:
        return None  # another version, vault or master key: not ours to use
    state = StreamState()
    init_pull(state, base64.b64decode(head["ss"], validate=True), key)
    ad = _ad(vault_id, master_id, version)
    if version != 3:
        return version, state, ad, None
    tag, body = _message(fh, state, ad)
    if tag != TAG_MESSAGE:
        raise ValueError("the snapshot's head is not its first message")
    return version, state, ad, _head(body)


def _message(fh: BinaryIO, state: StreamState, ad: bytes) -> tuple[int, bytes]:
    """The next message: (its tag, its unpadded plaintext); ValueError if the file ends first
    or the length field is out of bounds, CryptoError if it does not open."""
    raw = fh.read(_LEN.size)
    if len(raw) != _LEN.size:
        raise ValueError("the snapshot ends before its final message")
    (length,) = _LEN.unpack(raw)
    if length > MAX_MESSAGE:
        raise ValueError("a snapshot message too large")
    plain, tag = pull(state, fh.read(length), ad)
    return tag, crypto.unpad(plain)


def _read(
    fh: BinaryIO,
    key: bytes,
    vault_id: str,
    master_id: str,
    bodies: bool,
    held: list[tuple[StreamState, bytes]] | None = None,
) -> tuple[list[Entry], bool, int] | None:
    begun = _begin(fh, key, vault_id, master_id)
    if begun is None:
        return None
    version, state, ad, _ = begun  # (the head's entries come again in the first part)
    return _read_rest(fh, state, ad, version, bodies, held)


def _read_rest(
    fh: BinaryIO,
    state: StreamState,
    ad: bytes,
    version: int,
    bodies: bool,
    held: list[tuple[StreamState, bytes]] | None = None,
) -> tuple[list[Entry], bool, int] | None:
    entries: list[Entry] = []
    while True:
        tag, body = _message(fh, state, ad)
        if body:
            entries.extend(_entries(body))
        if version == 1:
            if tag == TAG_FINAL:
                return (entries, True, 1) if not fh.read(1) else None
            continue
        if tag == TAG_PUSH:
            if not bodies:
                if held is not None:
                    held.append((state, ad))  # where the bodies' part begins
                return entries, False, version
            # The bodies' part, read as the app's stream reads it (one body per note, one
            # PUSH, nothing after the end: else ValueError, which `load` turns into None).
            stream = BodyStream(fh, state, ad)
            found: dict[str, str] = {}
            while not stream.done:
                found.update(stream.next())
            return _joined(entries, found), True, version
        if tag == TAG_FINAL:
            return None  # the bodies' part missing


def _joined(entries: list[Entry], found: dict[str, str]) -> list[Entry]:
    """The entries with their notes' bodies back in their payloads (in place)."""
    joined = 0
    get = found.get
    for item_id, _, _, _, payload in entries:
        body = get(item_id)
        if body is not None:
            payload["body"] = body
            joined += 1
    if joined != len(found):
        raise ValueError("a body of no entry")
    return entries


def destroy(vault_path: Path) -> None:
    """Remove the snapshot, overwriting it first: it may hold what was just purged."""
    wipe_file(path_in(vault_path))
