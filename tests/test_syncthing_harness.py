"""Smoke tests for tests/syncthing_harness.py: real Syncthing daemons on 127.0.0.1.

Skipped when the ``syncthing`` binary is missing, unless VAULT_REQUIRE_SYNCTHING=1 (CI),
in which case they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.syncthing_harness import SyncthingCluster, require_syncthing, synced_files

pytestmark = pytest.mark.syncthing

CONFLICT_MARK = ".sync-conflict-"


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[SyncthingCluster, Path, Path]]:
    """Two connected daemons syncing ``tmp_path/a`` <-> ``tmp_path/b``."""
    require_syncthing()
    a, b = tmp_path / "a", tmp_path / "b"
    with SyncthingCluster(tmp_path / "st", [a, b]) as cluster:
        yield cluster, a, b
    assert cluster.pids == []


def test_file_propagates_both_ways(pair: tuple[SyncthingCluster, Path, Path]) -> None:
    cluster, a, b = pair
    payload = os.urandom(256 * 1024) + b"\x00\r\n tail"
    (a / "notes").mkdir()
    (a / "notes" / "n1.bin").write_bytes(payload)
    cluster.wait_in_sync()
    assert (b / "notes" / "n1.bin").read_bytes() == payload

    (b / "from-b.txt").write_bytes("héllo from B\n".encode())
    cluster.wait_in_sync()
    assert (a / "from-b.txt").read_bytes() == "héllo from B\n".encode()
    assert synced_files(a) == synced_files(b)


def test_offline_edits_produce_conflict_copy(pair: tuple[SyncthingCluster, Path, Path]) -> None:
    cluster, a, b = pair
    (a / "note.txt").write_bytes(b"base\n")
    cluster.wait_in_sync()
    assert (b / "note.txt").read_bytes() == b"base\n"

    cluster.pause(0)  # device 0 offline: the two sides can no longer talk
    version_a = b"edited on A while offline\n"
    version_b = b"edited on B while offline\n"
    (a / "note.txt").write_bytes(version_a)
    (b / "note.txt").write_bytes(version_b)
    cluster.scan()  # record both edits as concurrent versions before the devices meet
    assert (a / "note.txt").read_bytes() == version_a
    assert (b / "note.txt").read_bytes() == version_b

    cluster.resume(0)
    cluster.wait_in_sync()

    files_a, files_b = synced_files(a), synced_files(b)
    conflicts = sorted(name for name in {*files_a, *files_b} if CONFLICT_MARK in Path(name).name)
    assert conflicts, f"no conflict copy: a={sorted(files_a)} b={sorted(files_b)}"
    assert all(Path(name).name.startswith("note.sync-conflict-") for name in conflicts)
    contents = set(files_a.values()) | set(files_b.values())
    assert version_a in contents
    assert version_b in contents
    # Conflict copies are ordinary files to Syncthing, so once in sync both sides match.
    assert files_a == files_b
    assert files_a["note.txt"] in (version_a, version_b)


def test_daemons_stopped_when_body_raises(tmp_path: Path) -> None:
    require_syncthing()
    cluster = SyncthingCluster(tmp_path / "st", [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(RuntimeError, match="boom"), cluster:
        pids = cluster.pids
        assert len(pids) == 2
        raise RuntimeError("boom")
    assert cluster.pids == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped, not merely signalled
    with pytest.raises(OSError):  # nothing listens on the GUI port any more
        cluster.rest(0, "/rest/system/status", timeout=2)
