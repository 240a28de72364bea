"""Blobs of version 1 (content hash BLAKE2b), 2 (BLAKE3) and 3 (secretstream in segments) in
one vault: a vault whose notes use older blobs keeps reading and checking them, and new
attachments are version 3 blobs, deduplicated among themselves (FORMAT.md, "Blobs")."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from vault.notes.attachments import (
    Entry,
    _with_entries,
    _write,
    blob_store,
    guess_type,
)
from vault.notes.model import now_ms
from vault.notes.vault import Vault
from vault.storage.blobs import CHUNK, content_ref


def _attach_as(vault: Vault, note_id: str, source: Path, version: int) -> Entry:
    """What a vault from before version 3 blobs holds: an older blob and an entry naming it."""
    ref = blob_store(vault).put(source, version=version)
    entry = Entry(source.name, guess_type(source.name), ref.size, ref.name, ref.key, now_ms())
    note = vault.note(note_id)
    raw = list(note.extra.get("attachments", []))
    _write(vault, note, _with_entries(note, [*raw, entry.to_json()]))
    return entry


def _read(vault: Vault, note_id: str, name: str) -> bytes:
    out = io.BytesIO()
    vault.save_attachment(note_id, name, out)
    return out.getvalue()


@pytest.mark.parametrize("version", [1, 2])
def test_a_vault_with_older_blobs_reads_them_and_adds_version_3(
    vault: Vault, vault_path: Path, tmp_path: Path, version: int
) -> None:
    data = bytes(range(256)) * (CHUNK // 128)  # two parts
    src = tmp_path / "scan.pdf"
    src.write_bytes(data)
    old_note = vault.create_note("Before")
    old = _attach_as(vault, old_note.id, src, version)
    store = blob_store(vault)
    assert old.blob == content_ref(store._key, data, version).name
    assert store.path(old.blob).read_bytes()[8] == version

    vault.lock()
    vault = Vault.unlock(vault_path, password=PASSWORD)
    try:
        store = blob_store(vault)
        assert _read(vault, old_note.id, "scan.pdf") == data
        assert [a.present for a in vault.attachments(old_note.id)] == [True]

        # the same content attached now is a second blob, of version 3...
        a, b = vault.create_note("After"), vault.create_note("Later")
        first = vault.attach(a.id, src)
        assert first.blob != old.blob and first.blob == content_ref(store._key, data, 3).name
        assert store.path(first.blob).read_bytes()[8] == 3
        # ...which later attachments of it share
        second = vault.attach(b.id, src, name="copy.pdf")
        assert second.blob == first.blob
        assert store.names() == {old.blob, first.blob}
        for note_id, name in ((old_note.id, "scan.pdf"), (a.id, "scan.pdf"), (b.id, "copy.pdf")):
            assert _read(vault, note_id, name) == data

        report = vault.check()
        assert report.ok and report.blobs == 2 and report.damaged_blobs == {}

        # a damaged blob of either version is reported by check, one line each
        for name in (old.blob, first.blob):
            path = store.path(name)
            blob = bytearray(path.read_bytes())
            blob[-40] ^= 1
            path.write_bytes(bytes(blob))
        report = vault.check()
        assert not report.ok and set(report.damaged_blobs) == {old.blob, first.blob}
        for reason in report.damaged_blobs.values():
            assert "\n" not in reason and "failed to verify" in reason
        assert "'scan.pdf' of note" in report.damaged_blobs[old.blob]
    finally:
        vault.lock()


@pytest.mark.parametrize("version", [2, 3])
def test_blobs_of_several_segments_sync_in_every_version(
    tmp_path: Path, make_vault, version: int
) -> None:  # type: ignore[no-untyped-def]
    """A blob over one segment (4 MiB) is longer in version 3 (a header per segment) than it
    was: a device takes a copy of either version's length, and nothing else."""
    import os

    from vault.storage.blobs import SEGMENT, sealed_length
    from vault.sync import SyncEngine, clone, set_remote

    folder = tmp_path / "shared"
    a, _ = make_vault(tmp_path / "a")
    set_remote(a.store, folder)
    note = a.create_note("Scans")
    src = tmp_path / "scan.bin"
    data = os.urandom(2 * SEGMENT + 5)
    src.write_bytes(data)
    entry = _attach_as(a, note.id, src, version)
    assert sealed_length(len(data), 2) != sealed_length(len(data), 3)
    assert blob_store(a).path(entry.blob).stat().st_size == sealed_length(len(data), version)
    assert SyncEngine(a).sync().attachments_sent == 1
    b, _ = clone(folder, tmp_path / "b", password=PASSWORD)  # fetches what notes use at once
    try:
        assert SyncEngine(b).sync().ok
        assert (
            blob_store(b).path(entry.blob).read_bytes()
            == blob_store(a).path(entry.blob).read_bytes()
        )
        assert _read(b, note.id, "scan.bin") == data
    finally:
        b.lock()
        a.lock()
