"""Sealed blobs: the bytes of attached files, streamed through libsodium's secretstream.

A blob is stored once per content, under a name no one without the key can link to the content:

    content hash  h    = BLAKE3-256(content)                  (in memory only, never stored)
    name               = hex BLAKE2b-256(h, key = blobs subkey, person = "vault blob name")
    key                = BLAKE2b-256(h, key = blobs subkey, person = "vault blob key")

so the same file attached twice (on any device of the vault) is the same blob, and a name says
nothing about the content to anyone without the master key. Name, key and exact size are kept
in the sealed attachment that refers to the blob (`BlobRef`), never in the clear. Blobs of
version 1 (written before BLAKE3) had h = BLAKE2b-256(content); they stay readable and
checkable, and the same content attached now is a second blob of version 2.

The file `<name>.blob`:

    magic      8 bytes   "VAULTBLB"
    version    1 byte    2 (1: older blobs, read as before)
    ss_header 24 bytes   secretstream (XChaCha20-Poly1305) header
    parts                secretstream messages of exactly CHUNK plaintext bytes, the last one
                         tagged FINAL; each message's associated data is "vault-blob" NUL "2"
                         NUL name (version 1: "vault-blob" NUL name)

The plaintext is the content followed by zero bytes up to padme(size) (at least 256): the file's
length tells only a size bucket. The exact size, the file name and its type live in the sealed
attachment that names the blob. Reading (`open`) checks every part under the entry's key with
the name and version in its associated data, that FINAL is last and nothing follows it, and
that the padding is zeros: truncated, reordered, extended or swapped parts, and a blob under
another's name, are an IntegrityError. Only a holder of the key could seal other content under
that key and name, so reading does not hash the content again; `verify` (for `vault check`)
and `receive` (blobs from the sync folder) also check that the content hashes to the name
and key. Memory stays at about one chunk whatever the size, both ways.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import blake3
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
from nacl.exceptions import CryptoError

from vault.errors import IntegrityError, NotFoundError
from vault.fsutil import ensure_private_dir, fsync_dir, replacing
from vault.sealing import crypto

MAGIC = b"VAULTBLB"
VERSION = 2  # what `put` writes
VERSIONS = (1, 2)  # what `open` reads
CHUNK = 1024 * 1024
MIN_PADDED = 256
NAME_PERSON = b"vault blob name"
KEY_PERSON = b"vault blob key"
SUFFIX = ".blob"
_HEAD = len(MAGIC) + 1 + SS_HEADER_BYTES

Progress = Callable[[int, int], None]  # (bytes done, bytes in all)


@dataclass(frozen=True)
class BlobRef:
    """What a sealed attachment keeps to find and open its blob."""

    name: str  # 64 hex digits
    size: int  # exact content size in bytes
    key: bytes  # the blob's secretstream key (kept only inside sealed data)


def padded_length(size: int) -> int:
    return max(MIN_PADDED, crypto.padme(size))


def sealed_length(size: int) -> int:
    """The exact length of the file `<name>.blob` for a content of `size` bytes."""
    total = padded_length(size)
    return _HEAD + total + ((total + CHUNK - 1) // CHUNK) * ABYTES


_NAME = re.compile(r"[0-9a-f]{64}")


def is_blob_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


# libsodium's push, called without PyNaCl's wrapper where the private module is there: the
# wrapper copies every sealed part out of its buffer into new bytes (1 MiB a part, about a
# tenth of attaching a large file); here the part goes from the buffer straight to the file.
try:
    from nacl._sodium import ffi as _ffi
    from nacl._sodium import lib as _sodium
except ImportError:  # pragma: no cover - a PyNaCl without its private module
    _ffi = _sodium = None


class _Pusher:
    """Seals parts of at most CHUNK bytes into one reused buffer and writes them to `out`."""

    def __init__(self, state: crypto_secretstream_xchacha20poly1305_state, ad: bytes) -> None:
        self._state = state
        self._ad = ad
        self._buffer = _ffi.new("unsigned char[]", CHUNK + ABYTES) if _ffi else None

    def push(self, plain: bytes, tag: int, out: BinaryIO) -> None:
        if self._buffer is None or len(plain) > CHUNK:  # pragma: no cover - fallback
            out.write(crypto_secretstream_xchacha20poly1305_push(self._state, plain, self._ad, tag))
            return
        failed = _sodium.crypto_secretstream_xchacha20poly1305_push(
            self._state.statebuf,
            self._buffer,
            _ffi.NULL,
            plain,
            len(plain),
            self._ad,
            len(self._ad),
            tag,
        )
        if failed:  # pragma: no cover - libsodium never fails here
            raise IntegrityError("sealing a blob part failed")
        out.write(_ffi.buffer(self._buffer, len(plain) + ABYTES))


class _Puller:
    """Opens parts into one reused buffer: PyNaCl's pull copies every opened part out of its
    buffer into new bytes. What `pull` returns is valid until the next call."""

    def __init__(self, state: crypto_secretstream_xchacha20poly1305_state, ad: bytes) -> None:
        self._state = state
        self._ad = ad
        self._buffer = _ffi.new("unsigned char[]", CHUNK) if _ffi else None
        self._tag = _ffi.new("unsigned char *") if _ffi else None

    def pull(self, cipher: bytes) -> tuple[bytes | memoryview, int]:
        size = len(cipher) - ABYTES
        if self._buffer is None or not 0 <= size <= CHUNK:  # pragma: no cover - fallback
            return crypto_secretstream_xchacha20poly1305_pull(self._state, cipher, self._ad)
        failed = _sodium.crypto_secretstream_xchacha20poly1305_pull(
            self._state.statebuf,
            self._buffer,
            _ffi.NULL,
            self._tag,
            cipher,
            len(cipher),
            self._ad,
            len(self._ad),
        )
        if failed:
            raise CryptoError("a blob part failed to verify")
        return memoryview(_ffi.buffer(self._buffer, size)), self._tag[0]


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


def _derive(blobs_key: bytes, content_hash: bytes) -> tuple[str, bytes]:
    name = crypto.blake2b(content_hash, key=blobs_key, person=NAME_PERSON).hex()
    key = crypto.blake2b(content_hash, key=blobs_key, person=KEY_PERSON)
    return name, key


def content_ref(blobs_key: bytes, content: bytes, version: int = VERSION) -> BlobRef:
    """The reference (name, size, key) of `content` under `blobs_key` in a blob of `version`."""
    hasher = _content_hash(version)
    hasher.update(content)
    name, key = _derive(blobs_key, hasher.digest())
    return BlobRef(name, len(content), key)


def _ad(name: str, version: int) -> bytes:
    # "vault-blob" NUL "2" NUL name; version 1 had no version field: "vault-blob" NUL name
    prefix = b"vault-blob\x00" if version == 1 else b"vault-blob\x00%d\x00" % version
    return prefix + name.encode("ascii")


def _content_hash(version: int) -> Any:
    """The hash `h` of a blob's content: BLAKE3-256 (version 2), BLAKE2b-256 (version 1)."""
    if version == 1:
        return hashlib.blake2b(digest_size=32)
    return blake3.blake3()


def _read_full(src: BinaryIO, size: int) -> bytes:
    parts = []
    while size > 0:
        data = src.read(size)
        if not data:
            break
        parts.append(data)
        size -= len(data)
    return b"".join(parts)


class _Hasher:
    """The content hash of `version` over a stream of parts, each hashed on a helper thread
    while the caller reads, seals or opens the next one (hashlib, blake3 and libsodium all let
    go of the GIL on large buffers, so on two cores the hash costs almost no wall time). Parts
    are hashed in order, at most one at a time: memory stays at two parts. Small contents stay
    on this thread."""

    def __init__(self, size: int, version: int = VERSION) -> None:
        self._hash = _content_hash(version)
        self._pool = ThreadPoolExecutor(1) if size > CHUNK else None
        self._pending: Future[None] | None = None

    def update(self, data: bytes) -> None:
        if self._pool is None:
            self._hash.update(data)
            return
        self._wait()
        self._pending = self._pool.submit(self._hash.update, data)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def digest(self) -> bytes:
        self._wait()
        return self._hash.digest()

    def close(self) -> None:
        if self._pool is not None:
            with contextlib.suppress(Exception):
                self._wait()
            self._pool.shutdown(wait=True)


@contextlib.contextmanager
def _hasher(size: int, version: int = VERSION) -> Iterator[_Hasher]:
    hasher = _Hasher(size, version)
    try:
        yield hasher
    finally:
        hasher.close()


class _Tee:
    """A reader over `chunks` (for `BlobStore._open`) that copies every byte read to `out`;
    more than `limit` bytes in all is an IntegrityError."""

    def __init__(self, chunks: Iterable[bytes], out: BinaryIO, limit: int, name: str) -> None:
        self._chunks = iter(chunks)
        self._out = out
        self._limit = limit
        self._name = name
        self._buffer = bytearray()
        self._got = 0

    def read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            data = next(self._chunks, None)
            if data is None:
                break
            self._got += len(data)
            if self._got > self._limit:
                raise IntegrityError(f"blob {self._name[:8]} is longer than it should be")
            self._buffer += data
        result = bytes(self._buffer[:size])
        del self._buffer[:size]
        self._out.write(result)
        return result


class BlobStore:
    """The sealed blobs of one vault, in one folder (`<vault>/blobs`)."""

    def __init__(self, folder: Path, blobs_key: bytes) -> None:
        self.folder = folder
        self._key = blobs_key

    def path(self, name: str) -> Path:
        if not is_blob_name(name):
            raise NotFoundError("not a blob name")
        return self.folder / f"{name}{SUFFIX}"

    def has(self, name: str) -> bool:
        return self.path(name).is_file()

    def names(self) -> set[str]:
        if not self.folder.is_dir():
            return set()
        return {
            p.name[: -len(SUFFIX)]
            for p in self.folder.iterdir()
            if p.name.endswith(SUFFIX) and len(p.name) == 64 + len(SUFFIX)
        }

    def put(
        self, source: Path, progress: Progress | None = None, *, version: int = VERSION
    ) -> BlobRef:
        """Seal the file at `source`; a content already here is not stored again. (`version`
        1 writes the former kind of blob: for tests and vectors only.)"""
        if version not in VERSIONS:
            raise ValueError(f"no blob version {version}")
        with open(source, "rb") as src:
            size = os.fstat(src.fileno()).st_size
            done = 0
            with _hasher(size, version) as hasher:
                while chunk := src.read(CHUNK):
                    hasher.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done // 2, size)
                content_hash = hasher.digest()
            size = done  # the file may have changed size since fstat; what was read counts
            name, key = _derive(self._key, content_hash)
            ref = BlobRef(name, size, key)
            if self.has(name) and self._sound(ref):
                # Sealed again: the collector's grace starts anew, or a blob no note used for
                # a while (a purge) could go between this and the note that is about to use it.
                with contextlib.suppress(OSError):
                    os.utime(self.path(name))
                if progress:
                    progress(size, size)
                return ref
            src.seek(0)
            self._write(src, ref, content_hash, progress, version)
        return ref

    def _write(
        self,
        src: BinaryIO,
        ref: BlobRef,
        content_hash: bytes,
        progress: Progress | None,
        version: int,
    ) -> None:
        ensure_private_dir(self.folder)
        target = self.path(ref.name)
        total = padded_length(ref.size)
        state = crypto_secretstream_xchacha20poly1305_state()
        ad = _ad(ref.name, version)
        with replacing(target) as out, _hasher(ref.size, version) as check:
            out.write(MAGIC + bytes([version]))
            out.write(crypto_secretstream_xchacha20poly1305_init_push(state, ref.key))
            pusher = _Pusher(state, ad)
            written = 0
            while written < total:
                want = min(CHUNK, total - written)
                data = _read_full(src, min(want, max(0, ref.size - written)))
                check.update(data)
                plain = data + b"\x00" * (want - len(data))
                written += want
                tag = TAG_FINAL if written == total else TAG_MESSAGE
                pusher.push(plain, tag, out)
                if progress:
                    progress(ref.size // 2 + min(written, ref.size) // 2, ref.size)
            if check.digest() != content_hash:
                # the file changed between the two reads: what was sealed is not what was named
                raise IntegrityError("the file changed while it was being attached; try again")
        fsync_dir(self.folder)

    def open(self, ref: BlobRef, out: BinaryIO, progress: Progress | None = None) -> None:
        """Write the content of `ref` to `out`, checking every part on the way (see above).
        On an error part of the content may already be in `out`: callers write to a private
        temporary file and keep it only when this returns."""
        with self._source(ref) as src:
            self._open(src, ref, out, progress, check_content=False)

    @contextlib.contextmanager
    def _source(self, ref: BlobRef) -> Iterator[BinaryIO]:
        path = self.path(ref.name)
        try:
            src = open(path, "rb")  # noqa: SIM115 - closed below, errors mapped first
        except FileNotFoundError:
            raise NotFoundError(f"blob {ref.name[:8]} is not here (yet)") from None
        with src:
            yield src

    def _open(
        self,
        src: BinaryIO,
        ref: BlobRef,
        out: BinaryIO,
        progress: Progress | None,
        *,
        check_content: bool,
    ) -> None:
        what = f"blob {ref.name[:8]}"
        head = _read_full(src, _HEAD)
        version = head[len(MAGIC)] if len(head) == _HEAD else 0
        if head[: len(MAGIC)] != MAGIC or version not in VERSIONS:
            raise IntegrityError(f"{what} is not a sealed blob (truncated or damaged)")
        state = crypto_secretstream_xchacha20poly1305_state()
        try:
            crypto_secretstream_xchacha20poly1305_init_pull(state, head[len(MAGIC) + 1 :], ref.key)
        except (CryptoError, ValueError):
            raise IntegrityError(f"{what} failed to verify") from None
        puller = _Puller(state, _ad(ref.name, version))
        if not check_content:
            self._pull_parts(src, ref, out, progress, puller, None)
            return
        with _hasher(ref.size, version) as hasher:
            content_hash = self._pull_parts(src, ref, out, progress, puller, hasher)
        name, key = _derive(self._key, content_hash)
        if (name == ref.name) != (key == ref.key):
            raise IntegrityError(f"{what} does not hold the content its name says")
        # Both differ only for a blob named under a former master key (`vault rekey` keeps
        # every blob as it was: its name and key live in the sealed entries that use it); its
        # parts then answered for themselves under the entry's key and name.

    def _pull_parts(
        self,
        src: BinaryIO,
        ref: BlobRef,
        out: BinaryIO,
        progress: Progress | None,
        puller: _Puller,
        hasher: _Hasher | None,
    ) -> bytes:
        what = f"blob {ref.name[:8]}"
        total = padded_length(ref.size)
        expected = (total + CHUNK - 1) // CHUNK
        emitted = 0
        for index in range(expected):
            want = min(CHUNK, total - index * CHUNK)
            cipher = _read_full(src, want + ABYTES)
            if len(cipher) != want + ABYTES:
                raise IntegrityError(f"{what} is truncated")
            try:
                plain, tag = puller.pull(cipher)
            except (CryptoError, ValueError):
                raise IntegrityError(
                    f"{what} failed to verify (tampered, reordered or not this vault's)"
                ) from None
            last = index == expected - 1
            if (tag == TAG_FINAL) != last:
                raise IntegrityError(f"{what} is truncated or extended")
            keep = max(0, min(len(plain), ref.size - emitted))
            if keep < len(plain) and bytes(plain[keep:]).strip(b"\x00"):
                raise IntegrityError(f"{what} failed to verify (bad padding)")
            data = plain[:keep] if keep < len(plain) else plain
            if hasher is not None:
                hasher.update(bytes(data))  # hashed on the helper thread: a copy of its own
            out.write(data)
            emitted += keep
            if progress:
                progress(emitted, ref.size)
        if src.read(1):
            raise IntegrityError(f"{what} has data after its end (extended)")
        return hasher.digest() if hasher is not None else b""

    def _sound(self, ref: BlobRef) -> bool:
        """Whether the blob already here for this content checks whole. The same content is
        stored only once, so a damaged copy (a bad disk, a damaged restore) would leave every
        later attach of it unreadable: it is written again instead."""
        try:
            self.verify(ref)
        except (IntegrityError, NotFoundError):
            return False
        return True

    def verify(self, ref: BlobRef) -> None:
        """Check the blob of `ref` whole, writing nothing: every part (as `open` does) and
        that its content hashes to its name and key (what `vault check` does for each blob)."""
        with self._source(ref) as src:
            self._open(src, ref, _Discard(), None, check_content=True)  # type: ignore[arg-type]

    def receive(
        self, chunks: Iterable[bytes], ref: BlobRef, progress: Progress | None = None
    ) -> None:
        """Take the sealed file of `ref` from elsewhere (the sync folder, a backup), chunk by
        chunk: it goes to a private temporary file here, is checked as it arrives (every part, the
        order, the end, the padding and the content's hash, as `verify` checks) and only then
        takes its name. More bytes than the exact length the size gives, or fewer, or any
        failed check, is an IntegrityError and leaves nothing behind."""
        ensure_private_dir(self.folder)
        target = self.path(ref.name)
        expected = sealed_length(ref.size)
        with replacing(target) as out:
            # Checked as it arrives: a hostile file of a huge claimed size is refused at its
            # first bad part, not after all of it was copied here.
            source = _Tee(chunks, out, expected, ref.name)
            self._open(source, ref, _Discard(), progress, check_content=True)  # type: ignore[arg-type]
        fsync_dir(self.folder)

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(name).unlink()
