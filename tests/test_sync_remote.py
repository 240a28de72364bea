"""The sync folder's odd corners: a FIFO or device where a file should be, leftovers of
killed writes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from vault.errors import RemoteError
from vault.sync import layout
from vault.sync.remote import STALE_TEMP_SECONDS, RemoteFolder, Unreadable

DEVICE = "ab" * 16


def test_a_fifo_or_device_as_header_is_an_error_not_a_hang(tmp_path: Path) -> None:
    remote = RemoteFolder(tmp_path)
    os.mkfifo(tmp_path / layout.HEADER)
    with pytest.raises(RemoteError, match="not a vault sync header"):
        remote.read_header()
    (tmp_path / layout.HEADER).unlink()
    (tmp_path / layout.HEADER).symlink_to("/dev/zero")
    with pytest.raises(RemoteError, match="not a vault sync header"):
        remote.read_header()


def test_a_fifo_in_a_log_folder_is_unreadable_not_a_hang(tmp_path: Path) -> None:
    remote = RemoteFolder(tmp_path)
    folder = tmp_path / layout.LOG_DIR / DEVICE
    folder.mkdir(parents=True)
    os.mkfifo(folder / "0000000001-00.seg")
    with pytest.raises(Unreadable):
        remote.read(DEVICE, "0000000001-00.seg")


def test_stale_temporaries_of_killed_writes_are_cleared_by_the_next_write(tmp_path: Path) -> None:
    remote = RemoteFolder(tmp_path)
    remote.write(DEVICE, "first.seg", b"one")
    folder = tmp_path / layout.LOG_DIR / DEVICE
    old = folder / ".second.seg.dead.tmp"
    fresh = folder / ".third.seg.live.tmp"
    old.write_bytes(b"half")
    fresh.write_bytes(b"half")
    past = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(old, (past, past))
    remote.write(DEVICE, "second.seg", b"two")
    assert not old.exists()
    assert fresh.exists()  # possibly a write still under way
    assert (folder / "second.seg").read_bytes() == b"two"
