"""Sealed blobs (the bytes of attachments): round trips at the edges of the chunking, flat
memory for large files, stored once per content, and every kind of tampering refused."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.errors import IntegrityError, NotFoundError
from vault.sealing import crypto
from vault.storage.blobs import (
    CHUNK,
    MIN_PADDED,
    SEGMENT,
    SEGMENT_PARTS,
    VERSION,
    BlobRef,
    BlobStore,
    content_ref,
    padded_length,
    part_digests,
)

KEY = crypto.subkey(b"\x01" * 32, crypto.Label.BLOBS)


def _store(tmp_path: Path, key: bytes = KEY) -> BlobStore:
    return BlobStore(tmp_path / "blobs", key)


def _round_trip(tmp_path: Path, data: bytes) -> tuple[BlobStore, BlobRef]:
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    store = _store(tmp_path)
    ref = store.put(src)
    out = io.BytesIO()
    store.open(ref, out)
    assert out.getvalue() == data
    assert ref.size == len(data)
    # into a private regular file (parts written in place by the pool), after what it already
    # holds; and into one that is not said to be private (through `write`, in order)
    for private in (True, False):
        with open(tmp_path / "out.bin", "wb") as fh:
            fh.write(b"before")
            store.open(ref, fh, private=private)
            fh.write(b"after")
        assert (tmp_path / "out.bin").read_bytes() == b"before" + data + b"after"
    return store, ref


def _refused(store: BlobStore, ref: BlobRef, tmp_path: Path) -> None:
    """Opening `ref` fails, into memory and into a regular file, and so does checking it."""
    with pytest.raises(IntegrityError):
        store.open(ref, io.BytesIO())
    for private in (True, False):
        with pytest.raises(IntegrityError), open(tmp_path / "refused.bin", "wb") as fh:
            store.open(ref, fh, private=private)
    with pytest.raises(IntegrityError):
        store.verify(ref)
    # and so does taking it from elsewhere (in order, as it arrives: another path than pread)
    elsewhere = _store(tmp_path / "elsewhere")
    sealed = store.path(ref.name).read_bytes()
    with pytest.raises(IntegrityError):
        elsewhere.receive([sealed[:5000], sealed[5000:]], ref)
    assert not elsewhere.has(ref.name)


@pytest.mark.parametrize(
    "size",
    [
        0,
        1,
        MIN_PADDED - 1,
        MIN_PADDED,
        CHUNK - 1,
        CHUNK,
        CHUNK + 1,
        2 * CHUNK,
        3 * CHUNK + 7,
        SEGMENT - 1,
        SEGMENT,
        SEGMENT + 1,
        2 * SEGMENT,
        2 * SEGMENT + 1,
        3 * SEGMENT + CHUNK // 2,
    ],
)
def test_round_trip_at_the_edges(tmp_path: Path, size: int) -> None:
    store, ref = _round_trip(tmp_path, os.urandom(size))
    blob = store.path(ref.name)
    # the file's length tells only the padded bucket, never the exact size: one secretstream
    # header per segment of SEGMENT_PARTS parts
    parts = (padded_length(size) + CHUNK - 1) // CHUNK
    segments = (parts + SEGMENT_PARTS - 1) // SEGMENT_PARTS
    assert blob.stat().st_size == 8 + 1 + 24 * segments + padded_length(size) + 17 * parts


@given(st.binary(max_size=5000))
def test_any_content_round_trips(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _round_trip(Path(tmp), data)


def test_same_content_is_stored_once_and_names_hide_it(tmp_path: Path) -> None:
    data = b"receipt " * 1000
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    a.write_bytes(data)
    b.write_bytes(data)
    store = _store(tmp_path)
    ref_a, ref_b = store.put(a), store.put(b)
    assert ref_a == ref_b and len(store.names()) == 1
    # another vault (another key) names the same content differently: a name is not a hash
    # anyone can compute from the content
    other = _store(tmp_path / "other", crypto.subkey(b"\x02" * 32, crypto.Label.BLOBS))
    assert other.put(a).name != ref_a.name
    import hashlib

    for digest in (hashlib.sha256(data), hashlib.blake2b(data, digest_size=32)):
        assert digest.hexdigest() != ref_a.name
    raw = store.path(ref_a.name).read_bytes()
    assert b"receipt" not in raw


# A version 3 blob of 2 segments and a part and a bit: segments 0 and 1 whole (4 parts), segment
# 2 of 2 parts, the last one short (the content, then its padding).
SIZE3 = 2 * SEGMENT + CHUNK + 100
PART = CHUNK + 17
HEAD = 24  # one secretstream header per segment
SEG = HEAD + SEGMENT_PARTS * PART  # a whole segment, sealed
START = 9  # magic and version


def _seg(s: int, count: int = 1) -> slice:
    """Segments s .. s + count - 1 of a blob (the last segment: to the end)."""
    return slice(START + s * SEG, START + (s + count) * SEG)


def _part(s: int, i: int) -> slice:
    """Part i (counted in its segment) of segment s."""
    at = START + s * SEG + HEAD + i * PART
    return slice(at, at + PART)


def _tamper(tmp_path: Path, change) -> None:
    data = os.urandom(SIZE3)
    store, ref = _round_trip(tmp_path, data)
    path = store.path(ref.name)
    blob = bytes(path.read_bytes())
    assert len(blob) == START + 3 * HEAD + padded_length(SIZE3) + 10 * 17  # 3 segments, 10 parts
    path.write_bytes(bytes(change(blob)))
    _refused(store, ref, tmp_path)


def _flip(b: bytes, at: int) -> bytes:
    return b[:at] + bytes([b[at] ^ 1]) + b[at + 1 :]


@pytest.mark.parametrize(
    "change",
    [
        lambda b: b[: len(b) - 1],  # truncated by a byte
        lambda b: b[: _part(0, 1).stop],  # cut at a part boundary, inside the first segment
        lambda b: b[: _seg(0).stop],  # cut at a segment boundary: only the first segment
        lambda b: b[: _seg(1).stop],  # the last segment missing
        lambda b: b[: _seg(2).start + HEAD],  # the last segment's header alone
        lambda b: b[: _part(2, 1).start],  # the last segment without its FINAL part
        lambda b: b + b"x",  # extended by a byte
        lambda b: b + b[_seg(1)],  # extended by a whole segment (a copy of segment 1)
        lambda b: b + b[_seg(2).start :],  # the last segment twice
        lambda b: b[: _seg(1).start] + b[_seg(2).start :],  # a segment dropped
        lambda b: b[: _seg(0).start] + b[_seg(1)] + b[_seg(0)] + b[_seg(2).start :],  # swapped
        lambda b: b[: _seg(1).start] + b[_seg(0)] + b[_seg(2).start :],  # segment 0 twice
        lambda b: b[: _part(1, 0).start] + b[_part(1, 1)] + b[_part(1, 0)] + b[_part(1, 2).start :],
        lambda b: b[: _part(1, 1).start] + b[_part(1, 2).start :],  # a part dropped
        lambda b: b[: _part(1, 1).start] + b[_part(0, 1)] + b[_part(1, 1).stop :],  # moved over
        lambda b: _flip(b, _seg(0).start),  # a byte of each segment's header
        lambda b: _flip(b, _seg(1).start + 23),
        lambda b: _flip(b, _seg(2).start + 5),
        lambda b: _flip(b, _part(1, 3).start + 1000),  # a bit of a part
        lambda b: _flip(b, len(b) - 1),  # a bit of the last tag
        lambda b: b[:8] + b"\x09" + b[9:],  # another version
        lambda b: b[:8] + b"\x01" + b[9:],  # read as version 1 (the AD says 3)
        lambda b: b[:8] + b"\x02" + b[9:],  # read as version 2
        lambda b: b"NOTABLOB" + b[8:],  # not a blob
    ],
)
def test_tampering_is_refused(tmp_path: Path, change) -> None:
    _tamper(tmp_path, change)


def test_a_blob_under_another_name_or_key_is_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    (tmp_path / "x").write_bytes(b"x" * 5000)
    (tmp_path / "y").write_bytes(b"y" * 5000)
    rx, ry = store.put(tmp_path / "x"), store.put(tmp_path / "y")
    # swap the files: each name now holds the other's blob
    px, py = store.path(rx.name), store.path(ry.name)
    bx, by = px.read_bytes(), py.read_bytes()
    px.write_bytes(by)
    py.write_bytes(bx)
    for ref in (rx, ry):
        with pytest.raises(IntegrityError):
            store.open(ref, io.BytesIO())
    # a sealed attachment that lies about the size
    px.write_bytes(bx)
    with pytest.raises(IntegrityError):
        store.open(BlobRef(rx.name, rx.size - 1, rx.key), io.BytesIO())


def test_missing_blob_is_not_yet_here(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(NotFoundError, match="not here"):
        store.open(BlobRef("ab" * 32, 10, b"k" * 32), io.BytesIO())
    with pytest.raises(NotFoundError):
        store.path("../../etc/passwd")


_MEMORY_SCRIPT = """
import io, resource, sys
from pathlib import Path
from vault.sealing import crypto
from vault.storage.blobs import BlobStore
key = crypto.subkey(b"\\x01" * 32, crypto.Label.BLOBS)
src, folder, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
store = BlobStore(folder, key)
ref = store.put(src)
with open(out, "wb") as fh:
    store.open(ref, fh)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(after - before)
"""


def test_200_mb_in_flat_memory(tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    with open(src, "wb") as fh:
        for _ in range(200):
            fh.write(os.urandom(1024 * 1024))
    out = tmp_path / "out.bin"
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(src), str(tmp_path / "blobs"), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    growth_kib = int(done.stdout.strip())
    assert growth_kib < 32 * 1024, f"memory grew by {growth_kib} KiB for a 200 MB file"
    assert out.stat().st_size == src.stat().st_size
    with open(src, "rb") as a, open(out, "rb") as b:
        while chunk := a.read(CHUNK):
            assert chunk == b.read(CHUNK)


def test_reading_back_checks_the_parts_and_checking_also_the_content(tmp_path: Path) -> None:
    """Reading does not hash the content: only a holder of the key could seal other content
    under a blob's key and name. `verify` (vault check) and `receive` (the sync folder) do, and
    refuse a blob whose content gives its key but not its name (or the other way round)."""
    store = _store(tmp_path)
    x, y = os.urandom(2 * CHUNK + 5), os.urandom(2 * CHUNK + 5)
    (tmp_path / "y").write_bytes(y)
    ref_x, ref_y = content_ref(KEY, x), content_ref(KEY, y)
    # y sealed under its own key but x's name: made with the master key, or a writer's bug
    forged = BlobRef(ref_x.name, len(y), ref_y.key)
    store.folder.mkdir()
    with open(tmp_path / "y", "rb") as src:
        store._write(src, forged, part_digests(y), None, VERSION)
    sealed = store.path(forged.name).read_bytes()
    out = io.BytesIO()
    store.open(forged, out)
    assert out.getvalue() == y
    with pytest.raises(IntegrityError, match="does not hold the content"):
        store.verify(forged)
    with pytest.raises(IntegrityError, match="does not hold the content"):
        _store(tmp_path / "other").receive([sealed], forged)
    assert not (tmp_path / "other" / "blobs" / f"{forged.name}.blob").exists()
    # Neither name nor key from the content is what a blob named under a former master key
    # looks like (`vault rekey` keeps blobs): its parts answer for it, checked or not.
    with open(tmp_path / "y", "rb") as src:
        store._write(src, ref_x, part_digests(y), None, VERSION)
    store.verify(ref_x)


def test_blobs_of_every_version_side_by_side(tmp_path: Path) -> None:
    data = b"the same scan " * 200000  # three parts
    src = tmp_path / "scan.pdf"
    src.write_bytes(data)
    store = _store(tmp_path)
    refs = {version: store.put(src, version=version) for version in (1, 2, 3)}
    # the same content is three blobs: named from BLAKE2b, BLAKE3, and the pieces' BLAKE3
    assert refs[3] == store.put(src) and VERSION == 3
    for version, ref in refs.items():
        assert ref == content_ref(KEY, data, version)
        assert store.path(ref.name).read_bytes()[8] == version
    assert len({r.name for r in refs.values()}) == 3 and len({r.key for r in refs.values()}) == 3
    assert store.names() == {r.name for r in refs.values()}
    for ref in refs.values():
        out = io.BytesIO()
        store.open(ref, out)
        assert out.getvalue() == data
        store.verify(ref)
        sealed = store.path(ref.name).read_bytes()
        elsewhere = _store(tmp_path / "elsewhere")
        elsewhere.receive([sealed[:1000], sealed[1000:]], ref)
        elsewhere.verify(ref)
    assert store.put(src) == refs[3] and len(store.names()) == 3  # new ones dedup as version 3
    # no version passes for another: the version is in every part's associated data
    for ref in refs.values():
        path = store.path(ref.name)
        blob = path.read_bytes()
        for other in {1, 2, 3} - {blob[8]}:
            path.write_bytes(blob[:8] + bytes([other]) + blob[9:])
            with pytest.raises(IntegrityError):
                store.open(ref, io.BytesIO())
        path.write_bytes(blob)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_bit_flipped_in_either_version_is_refused(tmp_path: Path, version: int) -> None:
    src = tmp_path / "in"
    src.write_bytes(os.urandom(CHUNK + 10))
    store = _store(tmp_path)
    ref = store.put(src, version=version)
    path = store.path(ref.name)
    blob = bytearray(path.read_bytes())
    blob[100] ^= 1
    path.write_bytes(bytes(blob))
    for check in (lambda: store.open(ref, io.BytesIO()), lambda: store.verify(ref)):
        with pytest.raises(IntegrityError):
            check()


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_attaching_again_mends_a_damaged_copy_of_the_same_content(
    tmp_path: Path, damage: str
) -> None:
    """The same content is stored once, so a damaged blob here (a bad disk, a damaged restore)
    would make every later attach of that content unreadable: attaching it again writes the
    blob anew, and it reads back."""
    data = os.urandom(CHUNK + 99)
    store, ref = _round_trip(tmp_path, data)
    path = store.path(ref.name)
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(bytes(raw[:-5]))
    elif damage == "flip":
        raw[len(raw) // 2] ^= 1
        path.write_bytes(bytes(raw))
    else:
        path.write_bytes(b"")
    with pytest.raises(IntegrityError):
        store.verify(ref)
    src = tmp_path / "again.bin"
    src.write_bytes(data)
    assert store.put(src) == ref
    out = io.BytesIO()
    store.open(ref, out)
    assert out.getvalue() == data


# --- version 3: every segment and part answers for its place -----------------------------------


def _two_sealings(tmp_path: Path) -> tuple[BlobStore, BlobRef, bytes, bytes, BlobRef, bytes]:
    """One content sealed twice (fresh random headers) and another content of the same size."""
    data, other = os.urandom(SIZE3), os.urandom(SIZE3)
    store, ref = _round_trip(tmp_path, data)
    first = store.path(ref.name).read_bytes()
    store.remove(ref.name)
    assert store.put(tmp_path / "in.bin") == ref
    second = store.path(ref.name).read_bytes()
    for s in range(3):  # every segment a stream of its own: a fresh header, other bytes
        assert first[_seg(s)][:HEAD] != second[_seg(s)][:HEAD]
        assert first[_seg(s)][HEAD:] != second[_seg(s)][HEAD:]
    (tmp_path / "other.bin").write_bytes(other)
    other_ref = store.put(tmp_path / "other.bin")
    return store, ref, first, second, other_ref, store.path(other_ref.name).read_bytes()


def _put_at(a: bytes, where: slice, what: bytes) -> bytes:
    return a[: where.start] + what + a[where.stop :]


@pytest.mark.parametrize(
    "change",
    [
        # a part from the other sealing of the same content, in its own place (another stream)
        lambda a, b, o: _put_at(a, _part(1, 2), b[_part(1, 2)]),
        # the other sealing's header of a segment with this one's parts
        lambda a, b, o: _put_at(a, slice(_seg(1).start, _seg(1).start + HEAD), b[_seg(1)][:HEAD]),
        # a segment of another blob of the same vault (another key), in its own place
        lambda a, b, o: _put_at(a, _seg(1), o[_seg(1)]),
        # another blob's last segment in place of this one's
        lambda a, b, o: a[: _seg(2).start] + o[_seg(2).start :],
        # a part of another blob in its own place
        lambda a, b, o: _put_at(a, _part(0, 3), o[_part(0, 3)]),
        # the whole of another blob under this name
        lambda a, b, o: o,
    ],
)
def test_version_3_parts_and_segments_cannot_move_between_sealings_or_blobs(
    tmp_path: Path, change
) -> None:
    store, ref, first, second, _other_ref, other = _two_sealings(tmp_path)
    path = store.path(ref.name)
    for sealed in (first, second):  # either sealing, whole, is the blob
        path.write_bytes(sealed)
        store.verify(ref)
    path.write_bytes(change(first, second, other))
    _refused(store, ref, tmp_path)


def test_a_whole_segment_of_another_sealing_of_the_same_content_is_that_content(
    tmp_path: Path,
) -> None:
    """Two sealings of one content share its key, name and every associated data: a whole
    segment (header and parts) of one, in its place in the other, opens to the same bytes.
    Harmless (the content is the same), and the only splice that opens (FORMAT.md)."""
    store, ref, first, second, _other_ref, _other = _two_sealings(tmp_path)
    path = store.path(ref.name)
    path.write_bytes(_put_at(first, _seg(1), second[_seg(1)]))
    store.verify(ref)
    out = io.BytesIO()
    store.open(ref, out)
    assert out.getvalue() == (tmp_path / "in.bin").read_bytes()


def test_a_segment_of_a_blob_under_the_same_key_and_another_name_is_refused(
    tmp_path: Path,
) -> None:
    """The name is in every message's associated data: the same key under another name (only
    a writer holding the master key could make one) does not pass for this blob."""
    data = os.urandom(SIZE3)
    store, ref = _round_trip(tmp_path, data)
    first = store.path(ref.name).read_bytes()
    twin = BlobRef("ab" * 32, ref.size, ref.key)
    with open(tmp_path / "in.bin", "rb") as src:
        store._write(src, twin, part_digests(data), None, VERSION)
    theirs = store.path(twin.name).read_bytes()
    for s in range(3):
        store.path(ref.name).write_bytes(_put_at(first, _seg(s), theirs[_seg(s)]))
        _refused(store, ref, tmp_path)


def _seal_by_hand(
    ref: BlobRef,
    plain: bytes,
    *,
    final: set[int] | None = None,
    segments: int | None = None,
    part_index: bool = True,
) -> bytes:
    """A version 3 blob sealed as FORMAT.md says, with the key, as a buggy or hostile writer
    holding it might: `final`, the parts tagged FINAL (default: each segment's last);
    `segments`, the segment count in the associated data; `part_index`, False to number the
    parts within their segment instead of in the blob."""
    from nacl.bindings import (
        crypto_secretstream_xchacha20poly1305_init_push as init_push,
    )
    from nacl.bindings import (
        crypto_secretstream_xchacha20poly1305_push as push,
    )
    from nacl.bindings import (
        crypto_secretstream_xchacha20poly1305_state as state_of,
    )

    parts = (len(plain) + CHUNK - 1) // CHUNK
    count = (parts + SEGMENT_PARTS - 1) // SEGMENT_PARTS
    if final is None:
        final = {min(parts, (s + 1) * SEGMENT_PARTS) - 1 for s in range(count)}
    out = [b"VAULTBLB\x03"]
    for s in range(count):
        state = state_of()
        out.append(init_push(state, ref.key))
        for i in range(s * SEGMENT_PARTS, min(parts, (s + 1) * SEGMENT_PARTS)):
            index = i if part_index else i - s * SEGMENT_PARTS
            ad = b"vault-blob\x003\x00%s\x00%d\x00%d\x00%d" % (
                ref.name.encode(),
                s,
                count if segments is None else segments,
                index,
            )
            out.append(push(state, plain[i * CHUNK : (i + 1) * CHUNK], ad, 3 if i in final else 0))
    return b"".join(out)


def test_version_3_checks_final_the_counts_and_the_padding_not_only_the_tags(
    tmp_path: Path,
) -> None:
    data = os.urandom(SIZE3)
    store, ref = _round_trip(tmp_path, data)
    plain = data + bytes(padded_length(len(data)) - len(data))
    path = store.path(ref.name)
    path.write_bytes(_seal_by_hand(ref, plain))
    store.verify(ref)  # sealed as the spec says: it opens and checks
    for what, sealed in (
        ("no FINAL at the end", _seal_by_hand(ref, plain, final={3, 7})),
        ("no FINAL ending segment 0", _seal_by_hand(ref, plain, final={7, 9})),
        ("FINAL inside segment 1", _seal_by_hand(ref, plain, final={3, 5, 7, 9})),
        ("FINAL on every part", _seal_by_hand(ref, plain, final=set(range(10)))),
        ("sealed for 4 segments", _seal_by_hand(ref, plain, segments=4)),
        ("sealed for 2 segments", _seal_by_hand(ref, plain, segments=2)),
        ("parts numbered in their segment", _seal_by_hand(ref, plain, part_index=False)),
        ("padding not zeros", _seal_by_hand(ref, plain[:-1] + b"\x01")),
    ):
        path.write_bytes(sealed)
        try:
            _refused(store, ref, tmp_path)
        except BaseException:
            print("not refused:", what)
            raise


@pytest.mark.parametrize("how", ["changed", "shorter"])
def test_a_file_that_changes_while_attached_is_refused(tmp_path: Path, how: str) -> None:
    """The name comes from pass one, the sealed bytes from pass two: each part sealed must hash
    to its digest from pass one, or nothing is stored."""
    src = tmp_path / "in.bin"
    src.write_bytes(os.urandom(4 * CHUNK))
    store = _store(tmp_path)
    calls = []

    def change_it(done: int, total: int) -> None:
        calls.append(done)
        if how == "changed" and len(calls) == 1:  # pass one has hashed the first piece
            with open(src, "r+b") as fh:
                fh.write(b"\xff" * 10)
        if how == "shorter" and done == 2 * CHUNK and calls.count(done) == 1:
            os.truncate(src, 3 * CHUNK + 5)  # pass one has hashed all four pieces

    with pytest.raises(IntegrityError, match="changed while"):
        store.put(src, change_it)
    assert not any(store.folder.iterdir()), "nothing is left behind"


def test_reading_back_into_a_file_opened_for_appending_or_a_pipe(tmp_path: Path) -> None:
    """Parts are written in place only into a regular file that writes where it is told: a
    file opened for appending, or a pipe, gets them in order from the caller's thread (each
    segment opened on the pool into a buffer of its own, a few in flight)."""
    data = os.urandom(SIZE3)
    store, ref = _round_trip(tmp_path, data)
    target = tmp_path / "appended.bin"
    target.write_bytes(b"head")
    with open(target, "ab") as fh:
        store.open(ref, fh, private=True)  # (even if said to be private)
    assert target.read_bytes() == b"head" + data
    read, write = os.pipe()
    done = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read())"],
        stdin=read,
        stdout=subprocess.PIPE,
    )
    os.close(read)
    with os.fdopen(write, "wb") as fh:
        store.open(ref, fh, private=True)
    out, _ = done.communicate()
    assert out == data


def test_a_wrapper_that_answers_fileno_gets_the_content_through_write(tmp_path: Path) -> None:
    """A writer that compresses (or encrypts) and still answers `fileno()` with the file under
    it must see every byte through its own `write`: the pool's in-place writes would put the
    content past it, in clear. Only a file said to be private is written in place."""
    import gzip

    data = os.urandom(SIZE3)
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    store = _store(tmp_path)
    ref = store.put(src)
    with gzip.open(tmp_path / "out.gz", "wb") as fh:
        assert fh.fileno() >= 0
        store.open(ref, fh)
    assert gzip.decompress((tmp_path / "out.gz").read_bytes()) == data
