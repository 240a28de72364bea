"""Sealed blobs (the bytes of attachments): round trips at the edges of the chunking, flat
memory for large files, stored once per content, and every kind of tampering refused."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import blake3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.errors import IntegrityError, NotFoundError
from vault.sealing import crypto
from vault.storage.blobs import (
    CHUNK,
    MIN_PADDED,
    VERSION,
    BlobRef,
    BlobStore,
    content_ref,
    padded_length,
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
    return store, ref


@pytest.mark.parametrize(
    "size",
    [0, 1, MIN_PADDED - 1, MIN_PADDED, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 7],
)
def test_round_trip_at_the_edges(tmp_path: Path, size: int) -> None:
    store, ref = _round_trip(tmp_path, os.urandom(size))
    blob = store.path(ref.name)
    # the file's length tells only the padded bucket, never the exact size
    parts = (padded_length(size) + CHUNK - 1) // CHUNK
    assert blob.stat().st_size == 8 + 1 + 24 + padded_length(size) + 17 * parts


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


def _tamper(tmp_path: Path, change) -> None:
    data = os.urandom(3 * CHUNK + 100)
    store, ref = _round_trip(tmp_path, data)
    path = store.path(ref.name)
    blob = bytearray(path.read_bytes())
    path.write_bytes(bytes(change(blob, store, ref)))
    with pytest.raises(IntegrityError):
        store.open(ref, io.BytesIO())


PART = CHUNK + 17
HEAD = 33


@pytest.mark.parametrize(
    "change",
    [
        lambda b, s, r: b[: len(b) - 1],  # truncated by a byte
        lambda b, s, r: b[: HEAD + PART],  # cut after the first part
        lambda b, s, r: b[: HEAD + 3 * PART],  # the FINAL part missing
        lambda b, s, r: b + b"x",  # extended
        lambda b, s, r: b + b[HEAD : HEAD + PART],  # a part repeated at the end
        lambda b, s, r: (
            b[:HEAD]
            + b[HEAD + PART : HEAD + 2 * PART]
            + b[HEAD : HEAD + PART]
            + b[HEAD + 2 * PART :]
        ),  # reordered
        lambda b, s, r: b[:HEAD] + b[HEAD + PART :],  # a part dropped
        lambda b, s, r: b[:40] + bytes([b[40] ^ 1]) + b[41:],  # a bit flipped
        lambda b, s, r: b[:8] + b"\x09" + b[9:],  # another version
        lambda b, s, r: b[:8] + b"\x01" + b[9:],  # read as version 1 (the AD says 2)
        lambda b, s, r: b"NOTABLOB" + b[8:],  # not a blob
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
        store._write(src, forged, blake3.blake3(y).digest(), None, VERSION)
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
        store._write(src, ref_x, blake3.blake3(y).digest(), None, VERSION)
    store.verify(ref_x)


def test_version_1_and_2_blobs_side_by_side(tmp_path: Path) -> None:
    data = b"the same scan " * 10000
    src = tmp_path / "scan.pdf"
    src.write_bytes(data)
    store = _store(tmp_path)
    old = store.put(src, version=1)
    new = store.put(src)
    # the same content is two blobs: version 1 named from BLAKE2b, version 2 from BLAKE3
    assert old == content_ref(KEY, data, 1) and new == content_ref(KEY, data, 2)
    assert old.name != new.name and old.key != new.key and store.names() == {old.name, new.name}
    assert store.path(old.name).read_bytes()[8] == 1 and store.path(new.name).read_bytes()[8] == 2
    for ref in (old, new):
        out = io.BytesIO()
        store.open(ref, out)
        assert out.getvalue() == data
        store.verify(ref)
        sealed = store.path(ref.name).read_bytes()
        elsewhere = _store(tmp_path / "elsewhere")
        elsewhere.receive([sealed[:1000], sealed[1000:]], ref)
        elsewhere.verify(ref)
    assert store.put(src) == new and len(store.names()) == 2  # new ones dedup as version 2
    # a version 1 blob cannot pass for version 2 (or back): the version is in every part's AD
    for ref, other in ((old, 2), (new, 1)):
        path = store.path(ref.name)
        blob = path.read_bytes()
        path.write_bytes(blob[:8] + bytes([other]) + blob[9:])
        with pytest.raises(IntegrityError):
            store.open(ref, io.BytesIO())
        path.write_bytes(blob)


@pytest.mark.parametrize("version", [1, 2])
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
