"""Sealed blobs: the bytes of attached files, sealed in parts of 1 MiB on a few threads.

A blob is stored once per content, under a name no one without the key can link to the content:

    content hash  h    = BLAKE2b-256(le64(size) || BLAKE3-256 of each 1 MiB piece,
                                     person = "vault blob hash")   (in memory only, never stored)
    name               = hex BLAKE2b-256(h, key = blobs subkey, person = "vault blob name")
    key                = BLAKE2b-256(h, key = blobs subkey, person = "vault blob key")

so the same file attached twice (on any device of the vault) is the same blob, and a name says
nothing about the content to anyone without the master key. Name, key and exact size are kept
in the sealed attachment that refers to the blob (`BlobRef`), never in the clear. Blobs of
version 1 (h = BLAKE2b-256 of the content) and 2 (h = BLAKE3-256 of the content, one
secretstream over all parts) stay readable and checkable; the same content attached now is a
blob of version 3.

The file `<name>.blob` (version 3; docs/FORMAT.md, "Blobs", has every version):

    magic      8 bytes   "VAULTBLB"
    version    1 byte    3
    base      24 bytes   random; part i's nonce is base[:16] || le64(i)
    parts                part i = XChaCha20-Poly1305-IETF(plaintext part || flag byte) under the
                         key, with associated data "vault-blob" NUL "3" NUL name NUL i NUL count;
                         flag 1 in the last part, 0 in the others

The plaintext is the content followed by zero bytes up to padme(size) (at least 256): the file's
length tells only a size bucket (and is the same in every version). Parts are independent, so
`put` seals them and `open` opens them on a pool of threads (libsodium and blake3 let go of the
GIL), with a few parts in flight: memory stays flat whatever the size. Reading checks every part
under the entry's key with the name, version, index and count in its associated data, the flag
and the padding: truncated, reordered, repeated, extended or swapped parts, and a blob under
another's name, are an IntegrityError. Only a holder of the key could seal other content under
that key and name, so reading does not hash the content again; `verify` (for `vault check`) and
`receive` (blobs from the sync folder) also check that the content hashes to the name and key.
Attaching reads the file twice (name, then seal); each piece sealed must hash to its digest from
the first pass, so a file that changed meanwhile is refused.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import fcntl
import hashlib
import itertools
import os
import re
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import blake3
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
    crypto_secretstream_xchacha20poly1305_init_pull,
    crypto_secretstream_xchacha20poly1305_init_push,
    crypto_secretstream_xchacha20poly1305_pull,
    crypto_secretstream_xchacha20poly1305_push,
    crypto_secretstream_xchacha20poly1305_state,
)
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_ABYTES as ABYTES,
)
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_HEADERBYTES as SS_HEADER_BYTES,
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
VERSION = 3  # what `put` writes
VERSIONS = (1, 2, 3)  # what `open` reads
CHUNK = 1024 * 1024
MIN_PADDED = 256
NAME_PERSON = b"vault blob name"
KEY_PERSON = b"vault blob key"
HASH_PERSON = b"vault blob hash"  # version 3: h over the size and the parts' BLAKE3 digests
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
    if version == 3:
        content_hash = v3_hash(len(content), part_digests(content))
    else:
        hasher = _content_hash(version)
        hasher.update(content)
        content_hash = hasher.digest()
    name, key = _derive(blobs_key, content_hash)
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


# --- version 3: independent parts, sealed and opened on a few threads --------------------------


def _workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


WORKERS = _workers()  # threads that seal, open and hash the parts of one large blob


def part_count(size: int) -> int:
    """How many parts the blob of a content of `size` bytes has (every version)."""
    return (padded_length(size) + CHUNK - 1) // CHUNK


def part_digests(content: bytes) -> list[bytes]:
    """Version 3: BLAKE3-256 of each whole or last piece of CHUNK bytes of `content`."""
    view = memoryview(content)
    return [blake3.blake3(view[i : i + CHUNK]).digest() for i in range(0, len(content), CHUNK)]


def v3_hash(size: int, digests: Iterable[bytes]) -> bytes:
    """Version 3's content hash `h`: BLAKE2b-256(le64(size) || d_0 || ... , person "vault
    blob hash") over the BLAKE3-256 digests d_i of the content's pieces of CHUNK bytes."""
    return crypto.blake2b(size.to_bytes(8, "little") + b"".join(digests), person=HASH_PERSON)


def _ad3(name: str, index: int, count: int) -> bytes:
    # "vault-blob" NUL "3" NUL name NUL index NUL count (decimal)
    return b"vault-blob\x003\x00%s\x00%d\x00%d" % (name.encode("ascii"), index, count)


def _nonce3(base: bytes, index: int) -> bytes:
    return base[:16] + index.to_bytes(8, "little")


def _seal3(plain: memoryview, ad: bytes, nonce: bytes, key: bytes, into: Any) -> Any:
    if into is None:  # pragma: no cover - a PyNaCl without its private module
        return crypto_aead_xchacha20poly1305_ietf_encrypt(bytes(plain), ad, nonce, key)
    _sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        into, _ffi.NULL, _ffi.from_buffer(plain), len(plain), ad, len(ad), _ffi.NULL, nonce, key
    )
    return _ffi.buffer(into, len(plain) + ABYTES - 1)


def _unseal3(cipher: memoryview, ad: bytes, nonce: bytes, key: bytes, into: Any) -> memoryview:
    size = len(cipher) - (ABYTES - 1)
    if into is None:  # pragma: no cover - a PyNaCl without its private module
        return memoryview(crypto_aead_xchacha20poly1305_ietf_decrypt(bytes(cipher), ad, nonce, key))
    failed = _sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        into, _ffi.NULL, _ffi.NULL, _ffi.from_buffer(cipher), len(cipher), ad, len(ad), nonce, key
    )
    if failed:
        raise CryptoError("a blob part failed to verify")
    return memoryview(_ffi.buffer(into, size))


def _new_sealed_buffer() -> Any:
    return _ffi.new("unsigned char[]", CHUNK + ABYTES) if _ffi else None


def _pread_into(fd: int, view: memoryview, offset: int) -> int:
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if got == 0:
            break
        done += got
    return done


def _pwrite_all(fd: int, data: Any, offset: int) -> None:
    view = memoryview(data)
    while view:
        done = os.pwrite(fd, view, offset)
        view, offset = view[done:], offset + done


def _read_into(src: BinaryIO, view: memoryview) -> int:
    readinto = getattr(src, "readinto", None)
    if readinto is None:
        data = _read_full(src, len(view))
        view[: len(data)] = data
        return len(data)
    done = 0
    while done < len(view):
        got = readinto(view[done:])
        if not got:
            break
        done += got
    return done


@contextlib.contextmanager
def _pool(size: int) -> Iterator[ThreadPoolExecutor | None]:
    """Threads for the parts of a content of `size` bytes: none for one part."""
    if size <= CHUNK or WORKERS < 2:
        yield None
        return
    pool = ThreadPoolExecutor(WORKERS)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _in_order(
    pool: ThreadPoolExecutor | None, work: Callable[[Any], Any], jobs: Iterable[Any], window: int
) -> Iterator[Any]:
    """`work(job)` for each job on `pool`, the results in order, at most `window` jobs in
    flight (and only one until the first is done: a hostile file is refused at its first
    part, not after `window` of them were read)."""
    if pool is None:
        for job in jobs:
            yield work(job)
        return
    pending: collections.deque[Future[Any]] = collections.deque()
    submitted = 0
    try:
        for job in jobs:
            pending.append(pool.submit(work, job))
            submitted += 1
            if len(pending) >= min(window, submitted):
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        concurrent.futures.wait(pending)


class _Buffers(threading.local):
    """Each thread's own buffers for one part: its plaintext (with the flag byte) and its
    sealed form."""

    def __init__(self) -> None:
        self.plain = bytearray(CHUNK + 1)
        self.sealed = _new_sealed_buffer()


class _Hash3:
    """Pass one of attaching (version 3): reads and hashes piece `index` of the file."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffers = _Buffers()

    def __call__(self, index: int) -> tuple[int, bytes]:
        view = memoryview(self._buffers.plain)[:CHUNK]
        got = _pread_into(self._fd, view, index * CHUNK)
        return got, blake3.blake3(view[:got]).digest() if got else b""


class _Seal3:
    """Pass two of attaching (version 3): part `index` read again from the file, checked
    against its digest from pass one (the file did not change), padded, sealed and written to
    its place in the blob. Parts are independent, so any thread may seal any one."""

    def __init__(self, src: int, out: int, ref: BlobRef, base: bytes, digests: list[bytes]):
        self._src, self._out, self._ref, self._base = src, out, ref, base
        self._digests = digests
        self._total = padded_length(ref.size)
        self._count = part_count(ref.size)
        self._buffers = _Buffers()

    def __call__(self, index: int) -> int:
        buffers = self._buffers
        view = memoryview(buffers.plain)
        length = min(CHUNK, self._total - index * CHUNK)
        keep = max(0, min(length, self._ref.size - index * CHUNK))
        if keep and (
            _pread_into(self._src, view[:keep], index * CHUNK) != keep
            or blake3.blake3(view[:keep]).digest() != self._digests[index]
        ):
            # the file changed between the two reads: what was sealed is not what was named
            raise IntegrityError("the file changed while it was being attached; try again")
        if keep < length:
            view[keep:length] = bytes(length - keep)
        view[length] = 1 if index == self._count - 1 else 0
        ad = _ad3(self._ref.name, index, self._count)
        sealed = _seal3(
            view[: length + 1], ad, _nonce3(self._base, index), self._ref.key, buffers.sealed
        )
        _pwrite_all(self._out, sealed, _HEAD + index * (CHUNK + ABYTES))
        return length


class _Slot:
    """A part being opened: its sealed bytes as read, and the buffer it opens into."""

    def __init__(self) -> None:
        self.sealed = bytearray(CHUNK + ABYTES)
        self.plain = _new_sealed_buffer()


class _Open3:
    """Opens part `index` (version 3) from its slot and checks it: its flag, its padding and,
    when asked, the BLAKE3 digest of its content."""

    def __init__(self, ref: BlobRef, base: bytes, digest: bool) -> None:
        self._ref, self._base, self._digest = ref, base, digest
        self._total = padded_length(ref.size)
        self._count = part_count(ref.size)
        self._what = f"blob {ref.name[:8]}"

    def __call__(self, job: tuple[int, _Slot]) -> tuple[_Slot, memoryview, bytes]:
        index, slot = job
        length = min(CHUNK, self._total - index * CHUNK)
        plain = self._open(index, length, memoryview(slot.sealed)[: length + ABYTES], slot.plain)
        data, digest = self._check(index, length, plain)
        return slot, data, digest

    def _check(self, index: int, length: int, plain: memoryview) -> tuple[memoryview, bytes]:
        if plain[length] != (1 if index == self._count - 1 else 0):
            raise IntegrityError(f"{self._what} is truncated or extended")
        keep = max(0, min(length, self._ref.size - index * CHUNK))
        if keep < length and bytes(plain[keep:length]).strip(b"\x00"):
            raise IntegrityError(f"{self._what} failed to verify (bad padding)")
        data = plain[:keep]
        return data, blake3.blake3(data).digest() if self._digest and keep else b""

    def _open(self, index: int, length: int, sealed: memoryview, into: Any) -> memoryview:
        ad = _ad3(self._ref.name, index, self._count)
        try:
            return _unseal3(sealed, ad, _nonce3(self._base, index), self._ref.key, into)
        except (CryptoError, ValueError):
            raise IntegrityError(
                f"{self._what} failed to verify (tampered, reordered or not this vault's)"
            ) from None


class _OpenAt3(_Open3):
    """Opens part `index` read from its place in the blob file and writes its content to its
    place in the output file: for two regular files, nothing passes through the caller's
    thread."""

    def __init__(self, ref: BlobRef, base: bytes, digest: bool, src: int, out: int, at: int):
        super().__init__(ref, base, digest)
        self._src, self._out, self._at = src, out, at
        self._buffers = _OpenBuffers()

    def __call__(self, index: int) -> tuple[int, bytes]:  # type: ignore[override]
        buffers = self._buffers
        length = min(CHUNK, self._total - index * CHUNK)
        sealed = memoryview(buffers.sealed)[: length + ABYTES]
        if _pread_into(self._src, sealed, _HEAD + index * (CHUNK + ABYTES)) != len(sealed):
            raise IntegrityError(f"{self._what} is truncated")
        plain = self._open(index, length, sealed, buffers.plain)
        data, digest = self._check(index, length, plain)
        _pwrite_all(self._out, data, self._at + index * CHUNK)
        return len(data), digest


class _OpenBuffers(threading.local):
    def __init__(self) -> None:
        self.sealed = bytearray(CHUNK + ABYTES)
        self.plain = _new_sealed_buffer()


def _regular_fd(f: Any) -> int | None:
    """The descriptor of `f` when it is a regular file that writes where it is told (not
    O_APPEND), else None."""
    try:
        fd = f.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode) or fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND:
            return None
    except (AttributeError, OSError, ValueError):
        return None
    return fd


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
        if version == 3:
            return self._put3(source, progress)
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
                if progress:
                    progress(size, size)
                return ref
            src.seek(0)
            self._write(src, ref, content_hash, progress, version)
        return ref

    def _put3(self, source: Path, progress: Progress | None) -> BlobRef:
        """`put` of version 3: pass one reads and hashes the file's pieces on the pool (the
        name and key come from all of them), pass two seals each part on the pool, checking it
        against its digest from pass one, straight into its place in the blob."""
        with open(source, "rb") as src:
            fd = src.fileno()
            with _pool(os.fstat(fd).st_size) as pool:
                digests: list[bytes] = []
                size = 0
                pieces = _in_order(pool, _Hash3(fd), itertools.count(), 2 * WORKERS)
                with contextlib.closing(pieces):  # reads past the end stop before pass two
                    for got, digest in pieces:
                        if got:
                            digests.append(digest)
                            size += got
                            if progress:
                                progress(size // 2, size)
                        if got < CHUNK:
                            break  # the end; what was read counts, whatever fstat said
                name, key = _derive(self._key, v3_hash(size, digests))
                ref = BlobRef(name, size, key)
                if self.has(name) and self._sound(ref):
                    if progress:
                        progress(size, size)
                    return ref
                self._write3(fd, ref, digests, progress, pool)
        return ref

    def _write3(
        self,
        src: int,
        ref: BlobRef,
        digests: list[bytes],
        progress: Progress | None,
        pool: ThreadPoolExecutor | None,
    ) -> None:
        ensure_private_dir(self.folder)
        base = crypto.random_bytes(SS_HEADER_BYTES)
        with replacing(self.path(ref.name)) as out:
            out.write(MAGIC + bytes([3]) + base)
            out.flush()
            seal = _Seal3(src, out.fileno(), ref, base, digests)
            written = 0
            parts = _in_order(pool, seal, range(part_count(ref.size)), 2 * WORKERS)
            with contextlib.closing(parts):  # on an error, no part is still being written
                for length in parts:
                    written += length
                    if progress:
                        progress(ref.size // 2 + min(written, ref.size) // 2, ref.size)
        fsync_dir(self.folder)

    def _write(
        self,
        src: BinaryIO,
        ref: BlobRef,
        content_hash: bytes | list[bytes],
        progress: Progress | None,
        version: int,
    ) -> None:
        """Seal `src` as the blob of `ref`, checking it against `content_hash` (version 3: the
        list of its pieces' digests)."""
        if version == 3:
            assert isinstance(content_hash, list)
            with _pool(ref.size) as pool:
                self._write3(src.fileno(), ref, content_hash, progress, pool)
            return
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
        if version == 3:
            self._open3(src, ref, out, progress, head[len(MAGIC) + 1 :], check_content)
            return
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
        self._check_named(ref, content_hash)

    def _open3(
        self,
        src: BinaryIO,
        ref: BlobRef,
        out: BinaryIO,
        progress: Progress | None,
        base: bytes,
        check_content: bool,
    ) -> None:
        """Version 3: the main thread reads each part into a free slot and writes the opened
        parts in order; the pool opens and checks them (at most WORKERS + 1 at a time, so
        memory stays at a few parts whatever the size)."""
        what = f"blob {ref.name[:8]}"
        total = padded_length(ref.size)
        free: list[_Slot] = []

        def jobs() -> Iterator[tuple[int, _Slot]]:
            for index in range(part_count(ref.size)):
                slot = free.pop() if free else _Slot()
                want = min(CHUNK, total - index * CHUNK) + ABYTES
                if _read_into(src, memoryview(slot.sealed)[:want]) != want:
                    raise IntegrityError(f"{what} is truncated")
                yield index, slot

        digests = []
        emitted = 0
        with _pool(ref.size) as pool:
            src_fd, out_fd = _regular_fd(src), _regular_fd(out)
            if pool is not None and src_fd is not None and out_fd is not None:
                self._open_at(src_fd, out, out_fd, ref, progress, base, check_content, pool)
                return
            opened = _in_order(pool, _Open3(ref, base, check_content), jobs(), WORKERS + 1)
            with contextlib.closing(opened):
                for slot, data, digest in opened:
                    out.write(data)
                    free.append(slot)
                    if digest:
                        digests.append(digest)
                    emitted += len(data)
                    if progress:
                        progress(emitted, ref.size)
        if src.read(1):
            raise IntegrityError(f"{what} has data after its end (extended)")
        if check_content:
            self._check_named(ref, v3_hash(ref.size, digests))

    def _open_at(
        self,
        src: int,
        out: BinaryIO,
        out_fd: int,
        ref: BlobRef,
        progress: Progress | None,
        base: bytes,
        check_content: bool,
        pool: ThreadPoolExecutor,
    ) -> None:
        """`_open3` between two regular files: each part read, opened and written in place by
        the pool (pread, pwrite), the output left positioned after the content."""
        if os.fstat(src).st_size != sealed_length(ref.size):
            raise IntegrityError(f"blob {ref.name[:8]} is truncated or extended")
        out.flush()
        at = out.tell()
        work = _OpenAt3(ref, base, check_content, src, out_fd, at)
        digests = []
        emitted = 0
        parts = _in_order(pool, work, range(part_count(ref.size)), WORKERS + 1)
        with contextlib.closing(parts):
            for length, digest in parts:
                if digest:
                    digests.append(digest)
                emitted += length
                if progress:
                    progress(emitted, ref.size)
        out.seek(at + ref.size)
        if check_content:
            self._check_named(ref, v3_hash(ref.size, digests))

    def _check_named(self, ref: BlobRef, content_hash: bytes) -> None:
        name, key = _derive(self._key, content_hash)
        if (name == ref.name) != (key == ref.key):
            raise IntegrityError(f"blob {ref.name[:8]} does not hold the content its name says")
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
