"""A device verifies what it published before it tidies: a daemon that let a same-size
corrupt copy win the normal name must not make the owner delete the only good copy."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import PASSWORD
from tests.test_sync_engine import Devices, _notes
from tests.test_sync_engine import dev as dev
from vault.sync import clone, list_conflicts


def _corrupt_same_size(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _setup(dev: Devices) -> tuple[Path, bytes]:
    for i in range(3):
        dev.a.create_note(f"n{i}", "x" * 50)
        dev.sync(dev.a)
    victim = sorted(dev.log(dev.a).iterdir())[1]
    return victim, victim.read_bytes()


def _fresh_clone_is_whole(dev: Devices, tmp_path: Path) -> None:
    fresh, _ = clone(dev.folder, tmp_path / "fresh", password=PASSWORD)
    try:
        report = dev.sync(fresh)
        assert not report.pending and not report.waiting
        assert _notes(fresh) == _notes(dev.a)
        assert not list_conflicts(fresh)
    finally:
        fresh.lock()


def test_a_corrupt_copy_that_won_the_name_loses_it_to_the_good_one(
    dev: Devices, tmp_path: Path
) -> None:
    victim, good = _setup(dev)
    copy = victim.with_name(victim.stem + ".sync-conflict-20261122-1-ABC" + victim.suffix)
    copy.write_bytes(good)
    _corrupt_same_size(victim)
    report = dev.sync(dev.a)
    assert report.repaired == 1
    assert victim.read_bytes() == good  # the good bytes have their name back
    assert not copy.exists()  # and the corrupt ones are gone with it
    assert not any("sync-conflict" in p.name for p in dev.log(dev.a).iterdir())
    _fresh_clone_is_whole(dev, tmp_path)


def test_a_same_size_corrupt_file_without_a_copy_is_noticed(dev: Devices, tmp_path: Path) -> None:
    victim, _ = _setup(dev)
    dev.sync(dev.a)  # everything checked once
    _corrupt_same_size(victim)
    st = victim.stat()
    import os

    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # as a daemon's write
    report = dev.sync(dev.a)
    assert report.repaired == 1  # rewritten as a snapshot: no device waits on the damage
    _fresh_clone_is_whole(dev, tmp_path)


def test_an_idle_sync_reads_none_of_its_own_files(dev: Devices) -> None:
    _setup(dev)
    dev.sync(dev.a)
    assert dev.sync(dev.a).files_read == 0
