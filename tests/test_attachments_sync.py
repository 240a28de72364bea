"""Attachments across devices through the sync folder (vault.sync.blob_sync): the list comes
with the note at once, the bytes follow; a missing, half-delivered, tampered or hostile file
is "not yet here" and never blocks a note or a sync; purging frees blobs everywhere, never while
another note uses them."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from vault.errors import AttachmentMissing
from vault.notes.attachments import blob_store
from vault.notes.vault import Vault
from vault.storage.blobs import CHUNK
from vault.sync import SyncEngine, clone, set_remote

MakeVault = Callable[..., tuple[Vault, str]]


class Devices:
    def __init__(self, tmp_path: Path, make_vault: MakeVault) -> None:
        self.tmp = tmp_path
        self.folder = tmp_path / "shared"
        self.a, _ = make_vault(tmp_path / "a")
        set_remote(self.a.store, self.folder)
        self.note = self.a.create_note("Receipts", "see the scan")
        self.sync(self.a)
        self.b, _ = clone(self.folder, tmp_path / "b", password=PASSWORD)

    def sync(self, vault: Vault):  # type: ignore[no-untyped-def]
        return SyncEngine(vault).sync()

    def both(self) -> None:
        for _ in range(2):
            self.sync(self.a)
            self.sync(self.b)

    def file(self, name: str, data: bytes) -> Path:
        path = self.tmp / "src" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return path

    def blobs(self, vault: Vault) -> Path:
        return self.folder / "blobs" / vault.store.device_id


@pytest.fixture
def dev(tmp_path: Path, make_vault: MakeVault):
    d = Devices(tmp_path, make_vault)
    yield d
    d.b.lock()


def _read(vault: Vault, note_id: str, name: str) -> bytes:
    out = io.BytesIO()
    vault.save_attachment(note_id, name, out)
    return out.getvalue()


def _age(vault: Vault, seconds: float = 3600) -> None:
    """Make every local blob look old enough to be collected."""
    old = time.time() - seconds
    for path in (vault.path / "blobs").glob("*.blob"):
        os.utime(path, (old, old))


def test_bytes_follow_the_note(dev: Devices) -> None:
    data = os.urandom(CHUNK + 17)
    att = dev.a.attach(dev.note.id, dev.file("scan.pdf", data))
    report = dev.sync(dev.a)
    assert report.attachments_sent == 1
    assert (dev.blobs(dev.a) / f"{att.blob}.blob").is_file()
    report = dev.sync(dev.b)
    assert report.attachments_received == 1 and report.ok
    (listed,) = dev.b.attachments(dev.note.id)
    assert listed == att
    assert _read(dev.b, dev.note.id, "scan.pdf") == data
    # b does not publish what a already offers: one copy in the folder
    assert not dev.blobs(dev.b).exists() or not any(dev.blobs(dev.b).iterdir())


def test_listed_at_once_and_fetched_when_needed(dev: Devices) -> None:
    data = b"a photo of a whiteboard"
    att = dev.a.attach(dev.note.id, dev.file("board.png", data))
    dev.sync(dev.a)
    published = dev.blobs(dev.a) / f"{att.blob}.blob"
    held = published.read_bytes()
    published.unlink()  # the daemon has not delivered it yet
    report = dev.sync(dev.b)
    assert report.attachments_waiting == 1 and report.ok
    (listed,) = dev.b.attachments(dev.note.id)
    assert not listed.present
    assert dev.b.note(dev.note.id).body == "see the scan"
    with pytest.raises(AttachmentMissing):
        _read(dev.b, dev.note.id, "board.png")
    # half delivered: still not yet here, no error
    published.write_bytes(held[: len(held) // 2])
    with pytest.raises(AttachmentMissing):
        _read(dev.b, dev.note.id, "board.png")
    assert dev.sync(dev.b).attachments_waiting == 1
    # delivered: the person asking for it fetches it then and there
    published.write_bytes(held)
    assert _read(dev.b, dev.note.id, "board.png") == data
    assert dev.b.attachments(dev.note.id)[0].present


def test_tampered_file_in_the_folder_is_refused(dev: Devices) -> None:
    att = dev.a.attach(dev.note.id, dev.file("x.bin", b"x" * 5000))
    dev.sync(dev.a)
    published = dev.blobs(dev.a) / f"{att.blob}.blob"
    raw = bytearray(published.read_bytes())
    raw[100] ^= 1
    published.write_bytes(bytes(raw))
    report = dev.sync(dev.b)
    assert report.attachments_waiting == 1
    assert any("attachment file" in w for w in report.warnings)
    assert not dev.b.attachments(dev.note.id)[0].present
    assert not list((dev.b.path / "blobs").glob("*")) if (dev.b.path / "blobs").exists() else True
    # the same damaged copy is not read (nor reported) again; a new copy is
    again = dev.sync(dev.b)
    assert again.attachments_waiting == 1 and not any("attachment" in w for w in again.warnings)
    raw[100] ^= 1
    published.unlink()
    published.write_bytes(bytes(raw))
    assert dev.sync(dev.b).attachments_received == 1


def test_hostile_entries_are_never_followed_or_waited_on(dev: Devices) -> None:
    att = dev.a.attach(dev.note.id, dev.file("x.bin", b"secret bytes"))
    dev.sync(dev.a)
    published = dev.blobs(dev.a) / f"{att.blob}.blob"
    real = dev.tmp / "elsewhere.blob"
    real.write_bytes(published.read_bytes())
    published.unlink()
    published.symlink_to(real)  # a symlink to the right bytes: not followed
    report = dev.sync(dev.b)
    assert report.attachments_waiting == 1 and report.attachments_received == 0
    published.unlink()
    os.mkfifo(published)  # a FIFO: never opened, never waited on
    started = time.monotonic()
    assert dev.sync(dev.b).attachments_waiting == 1
    with pytest.raises(AttachmentMissing):
        _read(dev.b, dev.note.id, "x.bin")
    assert time.monotonic() - started < 20
    # a device folder that is a symlink is refused, not followed
    published.unlink()
    other = dev.folder / "blobs" / ("f" * 32)
    other.symlink_to(dev.blobs(dev.a))
    real.rename(dev.blobs(dev.a) / "unrelated")
    report = dev.sync(dev.b)
    assert any("not a real folder" in w for w in report.warnings)


def test_concurrent_attachments_merge(dev: Devices) -> None:
    dev.both()
    dev.a.attach(dev.note.id, dev.file("from-a.txt", b"A"))
    dev.b.attach(dev.note.id, dev.file("from-b.txt", b"B"))
    dev.both()
    for vault in (dev.a, dev.b):
        names = sorted(a.name for a in vault.attachments(dev.note.id))
        assert names == ["from-a.txt", "from-b.txt"]
        assert not vault.note(dev.note.id).conflict
        assert _read(vault, dev.note.id, "from-a.txt") == b"A"
        assert _read(vault, dev.note.id, "from-b.txt") == b"B"
    # one side removes, the other edits the text: the removal stands
    dev.a.remove_attachment(dev.note.id, "from-b.txt")
    dev.b.update_note(dev.b.note(dev.note.id), body="edited on b")
    dev.both()
    for vault in (dev.a, dev.b):
        assert [a.name for a in vault.attachments(dev.note.id)] == ["from-a.txt"]
        assert vault.note(dev.note.id).body == "edited on b"


def test_purge_frees_blobs_everywhere_but_not_while_used(dev: Devices) -> None:
    other = dev.a.create_note("Other")
    shared = dev.a.attach(dev.note.id, dev.file("shared.pdf", b"shared bytes"))
    dev.a.attach(other.id, dev.file("shared.pdf", b"shared bytes"))
    only = dev.a.attach(dev.note.id, dev.file("only.pdf", b"only in receipts"))
    dev.both()
    assert blob_store(dev.b).names() == {shared.blob, only.blob}
    dev.a.purge_note(dev.a.note(dev.note.id))
    _age(dev.a)
    dev.sync(dev.a)
    assert blob_store(dev.a).names() == {shared.blob}
    assert {p.name for p in dev.blobs(dev.a).iterdir()} == {f"{shared.blob}.blob"}
    _age(dev.b)
    dev.sync(dev.b)
    assert blob_store(dev.b).names() == {shared.blob}
    assert _read(dev.b, other.id, "shared.pdf") == b"shared bytes"
    # the last user goes: the blob goes on both devices and from the folder
    dev.b.purge_note(dev.b.note(other.id))
    dev.both()
    _age(dev.a)
    _age(dev.b)
    dev.both()
    assert blob_store(dev.a).names() == blob_store(dev.b).names() == set()
    assert not any((dev.folder / "blobs").rglob("*.blob"))


def test_a_device_republishes_what_the_adder_dropped(dev: Devices) -> None:
    """a attached the file and b fetched it; a drops it (b still uses it): b offers it."""
    att = dev.a.attach(dev.note.id, dev.file("keep.txt", b"keep me"))
    dev.both()
    other = dev.b.create_note("Copy on b")
    dev.b.attach(other.id, dev.file("keep.txt", b"keep me"))
    dev.a.remove_attachment(dev.note.id, "keep.txt")
    _age(dev.a)
    dev.sync(dev.a)  # a no longer knows a note using it: its copy goes
    assert not (dev.blobs(dev.a) / f"{att.blob}.blob").exists()
    dev.both()
    assert (dev.blobs(dev.b) / f"{att.blob}.blob").is_file()
    assert _read(dev.a, other.id, "keep.txt") == b"keep me"


def test_a_joining_device_lists_and_fetches_at_once(tmp_path: Path, make_vault: MakeVault) -> None:
    a, _ = make_vault(tmp_path / "a")
    folder = tmp_path / "shared"
    set_remote(a.store, folder)
    note = a.create_note("N")
    src = tmp_path / "x.pdf"
    src.write_bytes(b"joined bytes")
    a.attach(note.id, src)
    SyncEngine(a).sync()
    b, _ = clone(folder, tmp_path / "b", password=PASSWORD)
    try:
        (listed,) = b.attachments(note.id)
        assert listed.present and listed.name == "x.pdf"
        assert _read(b, note.id, "x.pdf") == b"joined bytes"
    finally:
        b.lock()
