"""The sync folder's odd corners: a FIFO or device where a file should be, leftovers of
killed writes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from vault.errors import RemoteError
from vault.sync import layout
from vault.sync.remote import (
    MAX_SLOT_BYTES,
    STALE_TEMP_SECONDS,
    FolderRefused,
    RemoteFolder,
    Unreadable,
)

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


def test_writes_never_go_through_a_symlinked_device_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = tmp_path / "shared"
    (folder / layout.LOG_DIR).mkdir(parents=True)
    (folder / layout.LOG_DIR / DEVICE).symlink_to(outside)
    remote = RemoteFolder(folder)
    with pytest.raises(FolderRefused, match="not a real folder"):
        remote.write(DEVICE, "0000000001-00.seg", b"x")
    with pytest.raises(FolderRefused):
        remote.list_files(DEVICE)
    assert list(outside.iterdir()) == []


def test_delete_leaves_hard_links_and_bytes_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    remote = RemoteFolder(tmp_path / "shared")
    remote.write(DEVICE, "mine.seg", b"mine")
    remote.write(DEVICE, "other.seg", b"other")
    folder = tmp_path / "shared" / layout.LOG_DIR / DEVICE
    precious = tmp_path / "precious.txt"
    precious.write_bytes(b"mine")
    os.link(precious, folder / "linked.seg")
    assert "hard link" in (remote.delete(DEVICE, "linked.seg", check=b"mine".__eq__) or "")
    assert "not what this device wrote" in (
        remote.delete(DEVICE, "other.seg", check=b"mine".__eq__) or ""
    )
    assert remote.delete(DEVICE, "mine.seg", check=b"mine".__eq__) is None
    assert sorted(p.name for p in folder.iterdir()) == ["linked.seg", "other.seg"]
    assert precious.read_bytes() == b"mine"


def test_reads_stop_at_the_protocols_limit(tmp_path: Path) -> None:
    remote = RemoteFolder(tmp_path)
    folder = tmp_path / layout.KEYS_DIR / DEVICE
    folder.mkdir(parents=True)
    (folder / "big.slot").write_bytes(b"x" * (MAX_SLOT_BYTES + 1))
    with pytest.raises(Unreadable, match="too large"):
        remote.read(DEVICE, "big.slot", layout.KEYS_DIR)
