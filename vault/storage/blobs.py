"""Sealed blobs: the bytes of attached files, sealed with libsodium secretstream in segments
of 4 MiB, each its own stream, on a few threads.

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
    segments             segment s = its own secretstream (XChaCha20-Poly1305) under the key:
                         a random 24-byte header, then one message per 1 MiB part (parts
                         4s .. 4s + 3, fewer in the last segment), the last one tagged FINAL;
                         every message's associated data is "vault-blob" NUL "3" NUL name NUL
                         s NUL segment count NUL part index (in the blob)

The plaintext is the content followed by zero bytes up to padme(size) (at least 256): the file's
length tells only a size bucket. Segments are independent, so `put` seals them and `open` opens
them on a pool of threads (libsodium and blake3 let go of the GIL), with a few in flight:
memory stays flat whatever the size. Reading checks every message under the entry's key with
the name, version, segment index and count and part index in its associated data, FINAL on
each segment's last message and nowhere else, and the padding: truncated, reordered, repeated,
extended or swapped segments or parts, and a blob under another's name, are an IntegrityError.
Only a holder of the key could seal other content under that key and name, so reading does not
hash the content again; `verify` (for `vault check`) and `receive` (blobs from the sync folder)
also check that the content hashes to the name and key. Attaching reads the file twice (name,
then seal); each piece sealed must hash to its digest from the first pass, so a file that
changed meanwhile is refused.
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
VERSION = 3  # what `put` writes
VERSIONS = (1, 2, 3)  # what `open` reads
CHUNK = 1024 * 1024
MIN_PADDED = 256
NAME_PERSON = b"vault blob name"
KEY_PERSON = b"vault blob key"
HASH_PERSON = b"vault blob hash"  # version 3: h over the size and the parts' BLAKE3 digests
SUFFIX = ".blob"
_HEAD = len(MAGIC) + 1 + SS_HEADER_BYTES  # magic, version and (versions 1, 2) the one header
_START = len(MAGIC) + 1  # version 3: where the first segment starts
SEGMENT_PARTS = 4  # version 3: parts per segment (each segment is its own secretstream)
SEGMENT = SEGMENT_PARTS * CHUNK
_SEGMENT_BYTES = SS_HEADER_BYTES + SEGMENT_PARTS * (CHUNK + ABYTES)  # a whole segment, sealed

Progress = Callable[[int, int], None]  # (bytes done, bytes in all)


@dataclass(frozen=True)
class BlobRef:
    """What a sealed attachment keeps to find and open its blob."""

    name: str  # 64 hex digits
    size: int  # exact content size in bytes
    key: bytes  # the blob's secretstream key (kept only inside sealed data)


def padded_length(size: int) -> int:
    return max(MIN_PADDED, crypto.padme(size))


def sealed_length(size: int, version: int = VERSION) -> int:
    """The exact length of the file `<name>.blob` for a content of `size` bytes: one
    secretstream header in versions 1 and 2, one per segment in version 3."""
    total = padded_length(size)
    parts = (total + CHUNK - 1) // CHUNK
    headers = (parts + SEGMENT_PARTS - 1) // SEGMENT_PARTS if version == 3 else 1
    return len(MAGIC) + 1 + headers * SS_HEADER_BYTES + total + parts * ABYTES


def sealed_lengths(size: int) -> frozenset[int]:
    """Every length the blob of a content of `size` bytes may have, whatever its version (the
    same for contents of one segment, up to 4 MiB)."""
    return frozenset(sealed_length(size, version) for version in VERSIONS)


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


# --- version 3: segments of a few parts, each its own secretstream, on a few threads ----------


def _workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


WORKERS = _workers()  # threads that seal, open and hash the segments of one large blob


def part_count(size: int) -> int:
    """How many parts the blob of a content of `size` bytes has (every version)."""
    return (padded_length(size) + CHUNK - 1) // CHUNK


def segment_count(size: int) -> int:
    """How many segments (secretstreams) a version 3 blob of `size` bytes has."""
    return (part_count(size) + SEGMENT_PARTS - 1) // SEGMENT_PARTS


def part_digests(content: bytes) -> list[bytes]:
    """Version 3: BLAKE3-256 of each whole or last piece of CHUNK bytes of `content`."""
    view = memoryview(content)
    return [blake3.blake3(view[i : i + CHUNK]).digest() for i in range(0, len(content), CHUNK)]


def v3_hash(size: int, digests: Iterable[bytes]) -> bytes:
    """Version 3's content hash `h`: BLAKE2b-256(le64(size) || d_0 || ... , person "vault
    blob hash") over the BLAKE3-256 digests d_i of the content's pieces of CHUNK bytes."""
    return crypto.blake2b(size.to_bytes(8, "little") + b"".join(digests), person=HASH_PERSON)


def _ad3(name: str, segment: int, segments: int, part: int) -> bytes:
    # "vault-blob" NUL "3" NUL name NUL segment index NUL segment count NUL part index (decimal)
    return b"vault-blob\x003\x00%s\x00%d\x00%d\x00%d" % (
        name.encode("ascii"),
        segment,
        segments,
        part,
    )


class _Layout:
    """Where everything is in the version 3 blob of a content of `size` bytes."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.total = padded_length(size)
        self.parts = part_count(size)
        self.segments = segment_count(size)

    def length(self, part: int) -> int:
        """Plaintext bytes in `part` (content and padding)."""
        return min(CHUNK, self.total - part * CHUNK)

    def keep(self, part: int) -> int:
        """Content bytes in `part` (the rest is padding)."""
        return max(0, min(self.length(part), self.size - part * CHUNK))

    def parts_of(self, segment: int) -> range:
        return range(segment * SEGMENT_PARTS, min((segment + 1) * SEGMENT_PARTS, self.parts))

    def offset(self, segment: int) -> int:
        """Where `segment` (its header) starts in the file."""
        return _START + segment * _SEGMENT_BYTES

    def part_offset(self, part: int) -> int:
        segment = part // SEGMENT_PARTS
        inside = part - segment * SEGMENT_PARTS
        return self.offset(segment) + SS_HEADER_BYTES + inside * (CHUNK + ABYTES)

    def ad(self, name: str, part: int) -> bytes:
        return _ad3(name, part // SEGMENT_PARTS, self.segments, part)


def _push_into(state: Any, into: Any, plain: memoryview, ad: bytes, tag: int) -> Any:
    """One secretstream message of `plain`, sealed into the buffer `into` (no copy)."""
    if into is None:  # pragma: no cover - a PyNaCl without its private module
        return crypto_secretstream_xchacha20poly1305_push(state, bytes(plain), ad, tag)
    failed = _sodium.crypto_secretstream_xchacha20poly1305_push(
        state.statebuf, into, _ffi.NULL, _ffi.from_buffer(plain), len(plain), ad, len(ad), tag
    )
    if failed:  # pragma: no cover - libsodium never fails here
        raise IntegrityError("sealing a blob part failed")
    return _ffi.buffer(into, len(plain) + ABYTES)


def _pull_into(state: Any, into: Any, tag: Any, cipher: memoryview, ad: bytes) -> tuple[Any, int]:
    """One secretstream message opened into the buffer `into`: (plaintext, tag)."""
    if into is None:  # pragma: no cover - a PyNaCl without its private module
        plain, got = crypto_secretstream_xchacha20poly1305_pull(state, bytes(cipher), ad)
        return memoryview(plain), got
    failed = _sodium.crypto_secretstream_xchacha20poly1305_pull(
        state.statebuf, into, _ffi.NULL, tag, _ffi.from_buffer(cipher), len(cipher), ad, len(ad)
    )
    if failed:
        raise CryptoError("a blob part failed to verify")
    return memoryview(_ffi.buffer(into, len(cipher) - ABYTES)), tag[0]


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
def _pool(jobs: int) -> Iterator[ThreadPoolExecutor | None]:
    """Threads for `jobs` independent pieces of work: none for one."""
    if jobs < 2 or WORKERS < 2:
        yield None
        return
    pool = ThreadPoolExecutor(WORKERS)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _in_order(
    pool: ThreadPoolExecutor | None,
    work: Callable[[Any], Any],
    jobs: Iterable[Any],
    window: int,
    *,
    first_alone: bool = True,
) -> Iterator[Any]:
    """`work(job)` for each job on `pool`, the results in order, at most `window` jobs in
    flight (with `first_alone`, only one until the first is done: a hostile file is refused
    at its first segment, not after `window` of them were read)."""
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
            if len(pending) >= (min(window, submitted) if first_alone else window):
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        concurrent.futures.wait(pending)


def _new_cbuffer(size: int) -> Any:
    return _ffi.new("unsigned char[]", size) if _ffi else None


class _Buffers(threading.local):
    """Each thread's own buffers for one part: its plaintext and its sealed form."""

    def __init__(self) -> None:
        self.plain = bytearray(CHUNK)
        self.sealed = _new_cbuffer(CHUNK + ABYTES)


class _Hash3:
    """Pass one of attaching (version 3): reads and hashes piece `index` of the file."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffers = _Buffers()

    def __call__(self, index: int) -> tuple[int, bytes]:
        view = memoryview(self._buffers.plain)
        got = _pread_into(self._fd, view, index * CHUNK)
        return got, blake3.blake3(view[:got]).digest() if got else b""


class _SealSegment:
    """Pass two of attaching (version 3): segment `s` sealed as a secretstream of its own
    (a fresh random header), each part read again from the file, checked against its digest
    from pass one (the file did not change), padded, sealed and written to its place in the
    blob. Segments are independent, so any thread may seal any one."""

    def __init__(self, src: int, out: int, ref: BlobRef, digests: list[bytes]) -> None:
        self._src, self._out, self._ref, self._digests = src, out, ref, digests
        self._layout = _Layout(ref.size)
        self._buffers = _Buffers()

    def __call__(self, segment: int) -> int:
        layout, buffers = self._layout, self._buffers
        view = memoryview(buffers.plain)
        state = crypto_secretstream_xchacha20poly1305_state()
        header = crypto_secretstream_xchacha20poly1305_init_push(state, self._ref.key)
        _pwrite_all(self._out, header, layout.offset(segment))
        parts = layout.parts_of(segment)
        done = 0
        for index in parts:
            length, keep = layout.length(index), layout.keep(index)
            if keep and (
                _pread_into(self._src, view[:keep], index * CHUNK) != keep
                or blake3.blake3(view[:keep]).digest() != self._digests[index]
            ):
                # the file changed between the two reads: what was sealed is not what was named
                raise IntegrityError("the file changed while it was being attached; try again")
            if keep < length:
                view[keep:length] = bytes(length - keep)
            tag = TAG_FINAL if index == parts[-1] else TAG_MESSAGE
            ad = layout.ad(self._ref.name, index)
            sealed = _push_into(state, buffers.sealed, view[:length], ad, tag)
            _pwrite_all(self._out, sealed, layout.part_offset(index))
            done += length
        return done


class _OpenBuffers(threading.local):
    def __init__(self) -> None:
        self.sealed = bytearray(CHUNK + ABYTES)
        self.plain = _new_cbuffer(CHUNK)
        self.tag = _ffi.new("unsigned char *") if _ffi else None


class _OpenSegment:
    """Opens segment `s` of a version 3 blob: its header and each of its parts, in order,
    checked under the key with its associated data, FINAL on its last part and only there,
    and the padding; `emit(part, content)` gets each part's content. Returns the BLAKE3
    digests of the content's pieces (when asked) and the content bytes emitted."""

    def __init__(self, ref: BlobRef, digest: bool) -> None:
        self._ref, self._digest = ref, digest
        self._layout = _Layout(ref.size)
        self._what = f"blob {ref.name[:8]}"
        self._buffers = _OpenBuffers()

    def run(
        self,
        segment: int,
        read: Callable[[memoryview], int],
        emit: Callable[[int, memoryview], None],
    ) -> tuple[list[bytes], int]:
        layout, buffers, what = self._layout, self._buffers, self._what
        header = bytearray(SS_HEADER_BYTES)
        if read(memoryview(header)) != SS_HEADER_BYTES:
            raise IntegrityError(f"{what} is truncated")
        state = crypto_secretstream_xchacha20poly1305_state()
        try:
            crypto_secretstream_xchacha20poly1305_init_pull(state, bytes(header), self._ref.key)
        except (CryptoError, ValueError):  # pragma: no cover - any 24 bytes are a header
            raise IntegrityError(f"{what} failed to verify") from None
        parts = layout.parts_of(segment)
        digests = []
        emitted = 0
        for index in parts:
            length = layout.length(index)
            sealed = memoryview(buffers.sealed)[: length + ABYTES]
            if read(sealed) != len(sealed):
                raise IntegrityError(f"{what} is truncated")
            try:
                plain, tag = _pull_into(
                    state, buffers.plain, buffers.tag, sealed, layout.ad(self._ref.name, index)
                )
            except (CryptoError, ValueError):
                raise IntegrityError(
                    f"{what} failed to verify (tampered, reordered or not this vault's)"
                ) from None
            if (tag == TAG_FINAL) != (index == parts[-1]):
                raise IntegrityError(f"{what} is truncated or extended")
            keep = layout.keep(index)
            if keep < length and bytes(plain[keep:length]).strip(b"\x00"):
                raise IntegrityError(f"{what} failed to verify (bad padding)")
            data = plain[:keep]
            if self._digest and keep:
                digests.append(blake3.blake3(data).digest())
            emit(index, data)
            emitted += keep
        return digests, emitted


def _regular_fd(f: Any, *, writing: bool = False) -> int | None:
    """The descriptor of `f` when it is a regular file (for `writing`, one that writes where
    it is told: not O_APPEND), else None."""
    try:
        fd = f.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        if writing and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND:
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
            if self._held_already(ref, progress):
                return ref
            src.seek(0)
            self._write(src, ref, content_hash, progress, version)
        return ref

    def _held_already(self, ref: BlobRef, progress: Progress | None) -> bool:
        """Whether the content named `ref` is stored here, sound (the same file attached twice
        is stored once). Sealed again, its time is renewed: the collector's grace starts anew,
        or a blob no note used for a while (a purge) could go between this and the note that
        is about to use it."""
        if not (self.has(ref.name) and self._sound(ref)):
            return False
        with contextlib.suppress(OSError):
            os.utime(self.path(ref.name))
        if progress:
            progress(ref.size, ref.size)
        return True

    def _put3(self, source: Path, progress: Progress | None) -> BlobRef:
        """`put` of version 3: pass one reads and hashes the file's pieces on the pool (the
        name and key come from all of them), pass two seals each segment on the pool,
        checking each piece against its digest from pass one, straight into its place."""
        with open(source, "rb") as src:
            fd = src.fileno()
            with _pool(part_count(os.fstat(fd).st_size)) as pool:
                digests: list[bytes] = []
                size = 0
                pieces = _in_order(
                    pool, _Hash3(fd), itertools.count(), 2 * WORKERS, first_alone=False
                )
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
                if self._held_already(ref, progress):
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
        with replacing(self.path(ref.name)) as out:
            out.write(MAGIC + bytes([3]))
            out.flush()
            seal = _SealSegment(src, out.fileno(), ref, digests)
            written = 0
            segments = range(segment_count(ref.size))
            sealed = _in_order(pool, seal, segments, 2 * WORKERS, first_alone=False)
            with contextlib.closing(sealed):  # on an error, no segment is still being written
                for length in sealed:
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
            with _pool(segment_count(ref.size)) as pool:
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

    def open(
        self,
        ref: BlobRef,
        out: BinaryIO,
        progress: Progress | None = None,
        *,
        private: bool = False,
    ) -> None:
        """Write the content of `ref` to `out`, checking every part on the way (see above).
        On an error part of the content may already be in `out`: callers write to a private
        temporary file and keep it only when this returns.

        `private`: `out` is such a file, the caller's own, removed unless this returns; a
        version 3 blob's segments are then written into it in place as the pool opens them,
        out of order. Otherwise (standard output redirected to a file, a wrapper that
        compresses or encrypts and still answers `fileno()`) the content goes through
        `out.write`, in order, so what an error or a kill leaves is a prefix of the content."""
        with self._source(ref) as src:
            self._open(src, ref, out, progress, check_content=False, private=private)

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
        private: bool = False,
    ) -> None:
        what = f"blob {ref.name[:8]}"
        head = _read_full(src, _START)
        version = head[len(MAGIC)] if len(head) == _START else 0
        if head[: len(MAGIC)] != MAGIC or version not in VERSIONS:
            raise IntegrityError(f"{what} is not a sealed blob (truncated or damaged)")
        if version == 3:
            self._open3(src, ref, out, progress, check_content, private)
            return
        header = _read_full(src, SS_HEADER_BYTES)
        if len(header) != SS_HEADER_BYTES:
            raise IntegrityError(f"{what} is not a sealed blob (truncated or damaged)")
        state = crypto_secretstream_xchacha20poly1305_state()
        try:
            crypto_secretstream_xchacha20poly1305_init_pull(state, header, ref.key)
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
        check_content: bool,
        private: bool,
    ) -> None:
        """Version 3, `src` just after the version byte. From a regular file, segments are
        opened on the pool (`_open_at`); from a stream (a blob arriving from the sync folder),
        one after the other as they arrive, each part checked as it is read."""
        what = f"blob {ref.name[:8]}"
        layout = _Layout(ref.size)
        src_fd = _regular_fd(src)
        if src_fd is not None and layout.segments > 1 and WORKERS > 1:
            with _pool(layout.segments) as pool:
                assert pool is not None
                self._open_at(src_fd, ref, out, progress, check_content, pool, private)
            return
        opener = _OpenSegment(ref, check_content)

        def read(view: memoryview) -> int:
            return _read_into(src, view)

        def emit(_index: int, data: memoryview) -> None:
            out.write(data)

        digests: list[bytes] = []
        emitted = 0
        for segment in range(layout.segments):
            got, length = opener.run(segment, read, emit)
            digests += got
            emitted += length
            if progress:
                progress(emitted, ref.size)
        if src.read(1):
            raise IntegrityError(f"{what} has data after its end (extended)")
        if check_content:
            self._check_named(ref, v3_hash(ref.size, digests))

    def _open_at(
        self,
        src: int,
        ref: BlobRef,
        out: BinaryIO,
        progress: Progress | None,
        check_content: bool,
        pool: ThreadPoolExecutor,
        private: bool,
    ) -> None:
        """`_open3` from a regular file: each segment read with pread and opened by the pool.
        Into a regular file, each part is written in place (pwrite) and the output left
        positioned after the content; into nothing (`verify`), it is dropped; into anything
        else (a pipe, a file opened for appending), a segment's content is kept in a buffer of
        its own until the caller's thread writes it, in order (a few segments in flight)."""
        layout = _Layout(ref.size)
        if os.fstat(src).st_size != sealed_length(ref.size, 3):
            raise IntegrityError(f"blob {ref.name[:8]} is truncated or extended")
        opener = _OpenSegment(ref, check_content)
        discard = isinstance(out, _Discard)
        # In place only into the caller's own private file (`open`): anything else is written
        # through `out.write`, in order.
        out_fd = _regular_fd(out, writing=True) if private and not discard else None
        at = 0
        if out_fd is not None:
            out.flush()
            at = out.tell()
        free: list[bytearray] = []

        def jobs() -> Iterator[tuple[int, bytearray | None]]:
            for segment in range(layout.segments):
                ordered = not discard and out_fd is None
                yield segment, (free.pop() if free else bytearray(SEGMENT)) if ordered else None

        def work(job: tuple[int, bytearray | None]) -> tuple[bytearray | None, list[bytes], int]:
            segment, slot = job
            where = [layout.offset(segment)]
            first = segment * SEGMENT_PARTS

            def read(view: memoryview) -> int:
                got = _pread_into(src, view, where[0])
                where[0] += got
                return got

            def emit(index: int, data: memoryview) -> None:
                if out_fd is not None:
                    _pwrite_all(out_fd, data, at + index * CHUNK)
                elif slot is not None:
                    start = (index - first) * CHUNK
                    slot[start : start + len(data)] = data

            digests, emitted = opener.run(segment, read, emit)
            return slot, digests, emitted

        digests: list[bytes] = []
        emitted = 0
        segments = _in_order(pool, work, jobs(), WORKERS + 1, first_alone=False)
        with contextlib.closing(segments):
            for slot, got, length in segments:
                if slot is not None:
                    out.write(memoryview(slot)[:length])
                    free.append(slot)
                digests += got
                emitted += length
                if progress:
                    progress(emitted, ref.size)
        if out_fd is not None:
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
        expected = max(sealed_lengths(ref.size))  # the version is known once it arrives
        with replacing(target) as out:
            # Checked as it arrives: a hostile file of a huge claimed size is refused at its
            # first bad part, not after all of it was copied here.
            source = _Tee(chunks, out, expected, ref.name)
            self._open(source, ref, _Discard(), progress, check_content=True)  # type: ignore[arg-type]
        fsync_dir(self.folder)

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(name).unlink()
