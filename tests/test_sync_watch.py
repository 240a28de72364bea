"""The folder watcher: other devices' writes are noticed from the listing alone; this device's
own folder, symlinks and FIFOs are left alone."""

from __future__ import annotations

import os
import time
from pathlib import Path

from vault.sync.watch import FolderWatch, fingerprint

ME = "d" * 32
OTHER = "1" * 32


def _folder(tmp_path: Path) -> Path:
    remote = tmp_path / "shared"
    for device in (ME, OTHER):
        (remote / "log" / device).mkdir(parents=True)
    return remote


def test_other_devices_writes_are_noticed_and_own_are_not(tmp_path: Path) -> None:
    remote = _folder(tmp_path)
    watch = FolderWatch(remote, ME)
    assert not watch.changed()  # the first look is the baseline
    (remote / "log" / ME / "0000000001-aa.seg").write_bytes(b"mine")
    assert not watch.changed()  # a sync made here does not wake the next one
    arriving = remote / "log" / OTHER / "0000000001-bb.seg"
    arriving.write_bytes(b"half")
    assert watch.changed()
    assert not watch.changed()
    with arriving.open("ab") as f:
        f.write(b" and the rest")  # still arriving: the size moves
    assert watch.changed()
    (remote / "log" / ("2" * 32)).mkdir()  # a new device
    assert watch.changed()
    watch.rebase()
    assert not watch.changed()


def test_symlinks_are_not_followed_and_fifos_not_opened(tmp_path: Path) -> None:
    remote = _folder(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, remote / "log" / ("3" * 32))
    os.mkfifo(remote / "log" / OTHER / "0000000002-cc.seg")  # would block whoever opens it
    watch = FolderWatch(remote, ME)
    watch.changed()
    (elsewhere / "a").write_bytes(b"x" * 10)
    assert not watch.changed()  # what a link points to is never looked into
    names = [name for _, name, _, _ in fingerprint(remote, ME) if name]
    assert names == ["0000000002-cc.seg"]
    os.symlink(tmp_path / "nowhere", remote / "log" / OTHER / "dangling")
    assert watch.changed()  # a link is listed as itself


def test_a_missing_or_odd_folder_is_quiet(tmp_path: Path) -> None:
    assert fingerprint(tmp_path / "missing", ME) == ()
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "log").write_text("not a folder")
    assert fingerprint(tmp_path / "shared", ME) == ()


def test_a_look_is_cheap(tmp_path: Path) -> None:
    remote = _folder(tmp_path)
    for device in range(5):
        folder = remote / "log" / f"{device:032x}"
        folder.mkdir(exist_ok=True)
        for seq in range(200):
            (folder / f"{seq:010d}-{'a' * 32}.seg").write_bytes(b"x")
    watch = FolderWatch(remote, ME)
    start = time.perf_counter()
    for _ in range(10):
        watch.changed()
    per_look = (time.perf_counter() - start) / 10
    assert per_look < 0.1, per_look  # about 9 ms here for 1,000 files; generous for CI


def test_attachments_arriving_from_another_device_are_noticed(tmp_path: Path) -> None:
    remote = _folder(tmp_path)
    for device in (ME, OTHER):
        (remote / "blobs" / device).mkdir(parents=True)
    watch = FolderWatch(remote, ME)
    assert not watch.changed()
    (remote / "blobs" / ME / ("a" * 64 + ".blob")).write_bytes(b"mine")
    assert not watch.changed()
    old = time.time() - 60
    os.utime(remote / "blobs" / OTHER, (old, old))
    watch.rebase()
    tmp = remote / "blobs" / OTHER / ".incoming.tmp"
    tmp.write_bytes(b"sealed bytes")
    tmp.rename(remote / "blobs" / OTHER / ("b" * 64 + ".blob"))  # as a daemon delivers
    assert watch.changed()
