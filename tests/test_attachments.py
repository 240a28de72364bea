"""Attachments: files kept with a note, sealed as blobs (vault.notes.attachments)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.errors import AttachmentMissing, InvalidInputError, NotFoundError
from vault.notes.attachments import (
    Attachment,
    attachment_link,
    blob_store,
    collect_garbage,
    merge_lists,
    parse_attachment_link,
)
from vault.notes.vault import Vault
from vault.storage.blobs import CHUNK


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "src" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def _read(vault: Vault, note_id: str, name: str) -> bytes:
    out = io.BytesIO()
    vault.save_attachment(note_id, name, out)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, 2 * CHUNK, 2 * CHUNK + 1])
def test_round_trip_sizes(vault: Vault, tmp_path: Path, size: int) -> None:
    note = vault.create_note("Receipts")
    data = bytes((i * 7 + 3) % 256 for i in range(size))
    att = vault.attach(note.id, _file(tmp_path, "scan.pdf", data))
    assert att == Attachment("scan.pdf", size, "application/pdf", att.blob, True)
    assert vault.attachments(note.id) == [att]
    assert _read(vault, note.id, "scan.pdf") == data


def test_same_file_twice_is_one_blob(vault: Vault, tmp_path: Path) -> None:
    a, b = vault.create_note("A"), vault.create_note("B")
    src = _file(tmp_path, "photo.png", b"\x89PNG same bytes")
    first = vault.attach(a.id, src)
    second = vault.attach(b.id, src, name="other.png")
    again = vault.attach(a.id, src)
    assert first.blob == second.blob == again.blob
    assert blob_store(vault).names() == {first.blob}
    assert len(vault.attachments(a.id)) == 1


def test_name_clash_and_bad_names(vault: Vault, tmp_path: Path) -> None:
    note = vault.create_note("N")
    vault.attach(note.id, _file(tmp_path, "a.txt", b"one"))
    with pytest.raises(InvalidInputError, match="already has an attachment"):
        vault.attach(note.id, _file(tmp_path, "b.txt", b"two"), name="a.txt")
    for bad in ("", "..", "x/y", "esc\x1b[31m", "x" * 256):
        with pytest.raises(InvalidInputError):
            vault.attach(note.id, _file(tmp_path, "c.txt", b"3"), name=bad)
    with pytest.raises(NotFoundError):
        vault.attach(note.id, tmp_path / "nope.txt")
    with pytest.raises(InvalidInputError, match="not a regular file"):
        vault.attach(note.id, tmp_path)


def test_remove_then_collect(vault: Vault, tmp_path: Path) -> None:
    a, b = vault.create_note("A"), vault.create_note("B")
    shared = vault.attach(a.id, _file(tmp_path, "s.bin", b"shared"))
    vault.attach(b.id, _file(tmp_path, "s.bin", b"shared"))
    only = vault.attach(a.id, _file(tmp_path, "o.bin", b"only a"))
    vault.remove_attachment(a.id, "o.bin")
    vault.remove_attachment(a.id, "s.bin")
    assert vault.attachments(a.id) == []
    with pytest.raises(NotFoundError):
        vault.remove_attachment(a.id, "o.bin")
    assert collect_garbage(vault, grace=3600) == []  # too young
    assert collect_garbage(vault, grace=0) == [only.blob]  # the shared one is still used
    vault.purge_note(vault.note(b.id))
    assert collect_garbage(vault, grace=0) == [shared.blob]
    assert blob_store(vault).names() == set()


def test_missing_bytes_are_not_yet_here(vault: Vault, tmp_path: Path) -> None:
    note = vault.create_note("N")
    att = vault.attach(note.id, _file(tmp_path, "x.txt", b"bytes"))
    blob_store(vault).remove(att.blob)
    (listed,) = vault.attachments(note.id)
    assert not listed.present
    with pytest.raises(AttachmentMissing):
        _read(vault, note.id, "x.txt")
    assert vault.note(note.id).title == "N"


def test_attachments_survive_edits_and_reopen(
    vault: Vault, tmp_path: Path, vault_path: Path
) -> None:
    note = vault.create_note("N", "body")
    vault.attach(note.id, _file(tmp_path, "x.txt", b"bytes"))
    vault.update_note(vault.note(note.id), title="Renamed", body="new body")
    assert [a.name for a in vault.attachments(note.id)] == ["x.txt"]


def test_link_form() -> None:
    assert attachment_link("photo 1.png") == "![photo 1.png](attachment:photo%201.png)"
    assert attachment_link("a.pdf", alt="the [pdf]") == "[the \\[pdf\\]](attachment:a.pdf)"
    assert parse_attachment_link("attachment:photo%201.png") == "photo 1.png"
    assert parse_attachment_link("<attachment:a%2Fb>") is None
    assert parse_attachment_link("https://x") is None


_entry = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["a.pdf", "b.png", "c"]),
        "blob": st.sampled_from(["1" * 64, "2" * 64, "3" * 64]),
        "added": st.integers(0, 3),
    }
)
_lists = st.one_of(st.none(), st.lists(_entry, max_size=4), st.just("not a list"))


@given(_lists, _lists, _lists)
def test_the_list_merge_is_the_spec_merge(base, a, b) -> None:
    """vault.notes.attachments.merge_lists follows SYNC.md's "Attachment list merge", as
    tests/spec_merge.py (written from the text alone) computes it."""
    from tests.spec_merge import merge_attachments

    assert merge_lists(base, [] if a is None else a, [] if b is None else b) == (
        merge_attachments(base, [] if a is None else a, [] if b is None else b)
    )


def test_list_merge_cases() -> None:
    x = {"name": "x", "blob": "1" * 64, "added": 1}
    y = {"name": "y", "blob": "2" * 64, "added": 2}
    x2 = {"name": "x", "blob": "3" * 64, "added": 3}
    assert merge_lists([], [x], [y]) == ([x, y], False)  # both added
    assert merge_lists([x, y], [x], [x, y]) == ([x], False)  # a removed y
    assert merge_lists([x], [x2], []) == ([x2], False)  # replaced vs removed: replaced stays
    assert merge_lists([], [x], [x2]) == ([x], True)  # one name, two files: a person decides
    assert merge_lists([], [x], [dict(x, added=9)]) == ([x], False)  # one file twice


def test_purge_frees_old_blobs_without_sync(vault: Vault, tmp_path: Path) -> None:
    import os
    import time

    note = vault.create_note("N")
    att = vault.attach(note.id, _file(tmp_path, "x.bin", b"bytes of a purged note"))
    path = blob_store(vault).path(att.blob)
    old = time.time() - 3600
    os.utime(path, (old, old))
    vault.purge_note(vault.note(note.id))
    assert not path.exists()


def test_collect_removes_what_a_killed_attach_left_half_written(
    vault: Vault, tmp_path: Path
) -> None:
    """A process killed while sealing leaves `.<name>.blob.<hex>.tmp` in the blobs folder; once
    nothing has written to it for PARTIAL_GRACE_SECONDS the collector removes it. A young one
    (an attach under way elsewhere), other names and a symbolic link stay."""
    import os

    from vault.notes.attachments import PARTIAL_GRACE_SECONDS

    note = vault.create_note("N")
    kept = vault.attach(note.id, _file(tmp_path, "k.bin", b"kept"))
    blobs = vault.path / "blobs"
    old = time.time() - PARTIAL_GRACE_SECONDS - 5
    stale = blobs / f".{'a' * 64}.blob.0123abcd.tmp"
    young = blobs / f".{'b' * 64}.blob.0123abcd.tmp"
    other = blobs / "notes.txt.tmp"
    link = blobs / f".{'c' * 64}.blob.0123abcd.tmp"
    for path in (stale, young, other):
        path.write_bytes(b"x" * 100)
    link.symlink_to(other)
    for path in (stale, other):
        os.utime(path, (old, old))
    os.utime(link, (old, old), follow_symlinks=False)
    collect_garbage(vault, grace=0)
    assert not stale.exists()
    assert young.exists() and other.exists() and link.is_symlink()
    assert (blobs / f"{kept.blob}.blob").exists()


def test_sealing_stored_content_again_restarts_the_collectors_grace(
    vault: Vault, tmp_path: Path
) -> None:
    """A file whose blob no note uses any more, and is old enough to be collected, is sealed
    again for a note about to be written (an import seals before its transaction): the
    collector must leave it to that note (found by review)."""
    import os

    source = _file(tmp_path, "f.bin", b"x" * 1000)
    first = vault.create_note("first")
    vault.attach(first.id, source)
    vault.remove_attachment(first.id, "f.bin")
    blobs = vault.path / "blobs"
    hour_ago = time.time() - 3600
    for name in os.listdir(blobs):
        os.utime(blobs / name, (hour_ago, hour_ago))
    ref = vault.seal_file(source)
    assert collect_garbage(vault) == []
    second = vault.create_note("second")
    vault.attach_sealed(second.id, ref, "f.bin")
    out = io.BytesIO()
    vault.save_attachment(second.id, "f.bin", out)
    assert out.getvalue() == b"x" * 1000
