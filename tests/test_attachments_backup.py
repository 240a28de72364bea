"""Attachments in backups (BACKUP.md, "Attachments"), after a rekey, and the leak scan: file
names and content markers never appear in the vault folder, the sync folder or backups."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from vault.errors import BackupError, IntegrityError
from vault.interchange.backup import create_backup, merge_backup, restore_backup, verify_backup
from vault.notes.attachments import blob_store
from vault.notes.vault import Vault
from vault.storage.blobs import CHUNK, sealed_length
from vault.sync import SyncEngine, clone, set_remote


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "src" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def _read(vault: Vault, note_id: str, name: str) -> bytes:
    out = io.BytesIO()
    vault.save_attachment(note_id, name, out)
    return out.getvalue()


def test_backup_and_restore_bring_attachments_back(vault: Vault, tmp_path: Path) -> None:
    note = vault.create_note("Receipts")
    big = os.urandom(2 * CHUNK + 5)
    vault.attach(note.id, _file(tmp_path, "big.bin", big))
    vault.attach(note.id, _file(tmp_path, "empty.txt", b""))
    report = create_backup(vault, tmp_path / "b.vbak")
    assert report.attachments == 2
    checked = verify_backup(report.path, password=PASSWORD)
    assert checked.ok and checked.attachments == 2
    restored = restore_backup(report.path, tmp_path / "restored", password=PASSWORD)
    assert restored.attachments == 2
    with Vault.unlock(tmp_path / "restored", password=PASSWORD) as copy:
        assert [a.present for a in copy.attachments(note.id)] == [True, True]
        assert _read(copy, note.id, "big.bin") == big
        assert _read(copy, note.id, "empty.txt") == b""


def test_merge_brings_back_lost_bytes(vault: Vault, tmp_path: Path) -> None:
    note = vault.create_note("N")
    att = vault.attach(note.id, _file(tmp_path, "x.pdf", b"the receipt"))
    out = create_backup(vault, tmp_path / "b.vbak").path
    blob_store(vault).remove(att.blob)
    assert not vault.attachments(note.id)[0].present
    assert merge_backup(vault, out).attachments == 1
    assert _read(vault, note.id, "x.pdf") == b"the receipt"


def test_a_backup_with_a_damaged_attachment_run_restores_nothing(
    vault: Vault, tmp_path: Path
) -> None:
    """The backup's own stream authenticates every byte: a truncated file fails as a whole and
    leaves no half vault and no stray blob."""
    note = vault.create_note("N")
    vault.attach(note.id, _file(tmp_path, "x.bin", os.urandom(300_000)))
    out = create_backup(vault, tmp_path / "b.vbak").path
    data = out.read_bytes()
    out.write_bytes(data[: len(data) - 70_000])
    with pytest.raises(BackupError):
        restore_backup(out, tmp_path / "r", password=PASSWORD)
    assert not (tmp_path / "r").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".r.restoring")]


def test_attachments_survive_a_rekey(vault: Vault, tmp_path: Path) -> None:
    note = vault.create_note("N")
    data = os.urandom(5000)
    vault.attach(note.id, _file(tmp_path, "x.bin", data))
    vault.rekey(PASSWORD)
    assert _read(vault, note.id, "x.bin") == data
    # the same content attached after the rekey is stored under the new key's name
    other = vault.create_note("M")
    vault.attach(other.id, _file(tmp_path, "x.bin", data))
    assert _read(vault, other.id, "x.bin") == data
    assert len(blob_store(vault).names()) == 2


def test_receive_refuses_tampered_files_and_leaves_nothing(vault: Vault, tmp_path: Path) -> None:
    note = vault.create_note("N")
    att = vault.attach(note.id, _file(tmp_path, "x.bin", os.urandom(2 * CHUNK + 1)))
    store = blob_store(vault)
    raw = store.path(att.blob).read_bytes()
    assert len(raw) == sealed_length(att.size)
    store.remove(att.blob)
    from vault.notes.attachments import find_entry

    ref = find_entry(vault, note.id, "x.bin").ref
    part = CHUNK + 17
    for bad in (
        raw[:-1],
        raw + b"\x00",
        raw[:33] + raw[33 + part : 33 + 2 * part] + raw[33 : 33 + part] + raw[33 + 2 * part :],
        raw[:1000] + bytes([raw[1000] ^ 4]) + raw[1001:],
    ):
        with pytest.raises(IntegrityError):
            store.receive([bad[i : i + 65536] for i in range(0, len(bad), 65536)], ref)
        assert list(store.folder.iterdir()) == []
    store.receive([raw], ref)
    assert _read(vault, note.id, "x.bin") == _read(vault, note.id, "x.bin")


def test_no_name_or_content_leaks_anywhere(make_vault, tmp_path: Path) -> None:
    a, _ = make_vault(tmp_path / "a")
    folder = tmp_path / "shared"
    set_remote(a.store, folder)
    name_marker = "Zanzibar-Receipt-7781.pdf"
    content_marker = b"CONTENT-MARKER-quokka-4711"
    note = a.create_note("Plain title")
    a.attach(note.id, _file(tmp_path, name_marker, content_marker * 5000))
    a.attach(note.id, _file(tmp_path, "small.txt", content_marker))
    SyncEngine(a).sync()
    b, _ = clone(folder, tmp_path / "b", password=PASSWORD)
    SyncEngine(b).sync()
    assert _read(b, note.id, name_marker) == content_marker * 5000
    backups = tmp_path / "backups"
    backups.mkdir()
    create_backup(a, backups / "a.vbak")
    a.lock()
    b.lock()
    needles = [name_marker.encode(), b"Zanzibar", content_marker, b"quokka", b"application/pdf"]
    checked = 0
    for root in (tmp_path / "a", tmp_path / "b", folder, backups):
        for path in root.rglob("*"):
            text = path.name.encode()
            if path.is_file():
                text += path.read_bytes()
                checked += 1
            for needle in needles:
                assert needle not in text, f"{needle!r} in {path}"
    assert checked > 10


_FLAT_SCRIPT = """
import resource, sys, time
from pathlib import Path
from vault.interchange.backup import create_backup, restore_backup
from vault.notes.vault import Vault
from vault.sealing.crypto import TEST_KDF

src, work = Path(sys.argv[1]), Path(sys.argv[2])
vault, _ = Vault.create(work / "v", "pw", kdf=TEST_KDF, allow_weak_kdf=True)
note = vault.create_note("Big")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.monotonic()
vault.attach(note.id, src)
with open(work / "out.bin", "wb") as out:
    vault.save_attachment(note.id, src.name, out)
path = create_backup(vault, work / "b.vbak").path
restore_backup(path, work / "r", password="pw")
with Vault.unlock(work / "r", password="pw") as copy, open(work / "back.bin", "wb") as out:
    copy.save_attachment(note.id, src.name, out)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(after - before, round(time.monotonic() - started, 1), before, after)
"""


def test_64_mb_through_attach_backup_restore_in_flat_memory(tmp_path: Path) -> None:
    """The whole path, not only the blob store (tests/test_blobs.py streams 200 MB through
    that): attach, read back, back up, restore, read, with peak RSS growing far less than the
    file. Sized to run in seconds."""
    import subprocess
    import sys

    src = tmp_path / "big.bin"
    piece = os.urandom(1 << 20)
    with open(src, "wb") as fh:  # 64 MiB that differ in every MiB, cheap to make
        for i in range(64):
            fh.write(i.to_bytes(4, "big") + piece[4:])
    done = subprocess.run(
        [sys.executable, "-c", _FLAT_SCRIPT, str(src), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    growth_kib, seconds, _, _ = done.stdout.split()
    assert int(growth_kib) < 16 * 1024, f"memory grew by {growth_kib} KiB ({seconds} s)"
    for copy in ("out.bin", "back.bin"):
        with open(src, "rb") as a, open(tmp_path / copy, "rb") as b:
            while chunk := a.read(CHUNK):
                assert chunk == b.read(CHUNK)
