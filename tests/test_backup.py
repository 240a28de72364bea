"""Backups through the domain API: round trips, merging, rekeyed vaults, automatic backups and
rotation. Real vaults, real files, real SQLite; the tamper table and crash tests are in
test_backup_tamper.py, the command line in test_backup_cli.py."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import stat
import struct
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import CLI, PASSWORD
from vault.config import Config
from vault.errors import (
    BackupError,
    KeyfileRequiredError,
    RecoveryKeyError,
    StorageError,
    WrongPasswordError,
)
from vault.fsutil import storage_error
from vault.interchange import backup
from vault.interchange.backup import (
    auto_backup,
    backup_due,
    create_backup,
    list_backups,
    merge_backup,
    restore_backup,
    rotate_backups,
    verify_backup,
)
from vault.notes.vault import Vault
from vault.sealing import keys
from vault.sealing.crypto import TEST_KDF
from vault.storage import store as store_module


def fill(vault: Vault) -> None:
    """Notes in nested notebooks, tags, edits (history), a trashed and a purged note."""
    nb, _ = vault.ensure_notebook("Work/Projects")
    a = vault.create_note("Plan", "first\n", notebook=nb.id, tags=["alpha", "béta"])
    vault.update_note(a, body="second\n")
    vault.create_note("Ünïcode ✓", "body\r\nwith CRLF", pinned=True)
    trashed = vault.create_note("Trashed", "t")
    vault.trash_note(trashed)
    purged = vault.create_note("Purged", "secret")
    vault.update_note(purged, body="secret 2")
    vault.purge_note(vault.note(purged.id))


def ops_of(path: Path) -> list[tuple]:
    db = sqlite3.connect(f"file:{path / 'store.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT op_id, item_id, kind, parents, deleted, envelope, device FROM ops"
        ).fetchall()
    finally:
        db.close()
    return sorted(rows)


def snapshot(vault: Vault) -> list[tuple]:
    return sorted(
        (n.id, n.title, n.body, n.tags, vault.notebook_path(n.notebook), n.pinned, n.trashed)
        for n in vault.all_notes()
    )


def test_round_trip_with_password_into_a_new_folder(vault: Vault, tmp_path: Path) -> None:
    fill(vault)
    report = create_backup(vault, tmp_path / "b.vbak")
    assert report.path.stat().st_mode & 0o777 == 0o600
    assert report.ops == vault.store.counts()["versions"]
    checked = verify_backup(report.path, password=PASSWORD)
    assert checked.ok and checked.opened_with == "password"
    assert checked.live == {"note": 2 + 1, "notebook": 2, "tag": 2}  # the trashed note is live
    assert checked.ops == report.ops and checked.history

    restored = restore_backup(report.path, tmp_path / "restored", password=PASSWORD)
    assert restored.new_vault and restored.ops_added == report.ops and not restored.damaged
    assert restored.vault_id == vault.vault_id
    assert restored.device_id != vault.store.device_id  # may sync beside the original later
    # every operation, parent and envelope comes back exactly (devices keep their authors)
    assert ops_of(tmp_path / "restored") == ops_of(vault.path)
    with Vault.unlock(tmp_path / "restored", password=PASSWORD) as copy:
        assert snapshot(copy) == snapshot(vault)
        assert copy.store.master_id == vault.store.master_id
        note = copy.find_note("Plan")
        assert [v.note.body for v in copy.note_history(note) if v.note] == ["first\n", "second\n"]
        assert copy.check().ok


def test_round_trip_with_only_the_recovery_key(make_vault, tmp_path: Path) -> None:
    vault, recovery = make_vault()
    fill(vault)
    out = create_backup(vault, tmp_path).path  # a folder: the file gets a standard name
    assert out.parent == tmp_path and out.name.startswith(f"vault-{vault.vault_id[:8]}-")
    assert verify_backup(out, recovery_key=recovery).opened_with == "recovery key"
    restore_backup(out, tmp_path / "r", recovery_key=recovery.lower().replace("-", " "))
    with Vault.unlock(tmp_path / "r", recovery_key=recovery) as copy:
        assert snapshot(copy) == snapshot(vault)
    # and the restored vault still opens with the password of the time of the backup
    Vault.unlock(tmp_path / "r", password=PASSWORD).lock()


def test_wrong_secrets_are_clear_errors(make_vault, tmp_path: Path) -> None:
    vault, recovery = make_vault()
    fill(vault)
    out = create_backup(vault, tmp_path / "b.vbak").path
    with pytest.raises(WrongPasswordError, match="wrong password"):
        verify_backup(out, password="not it")
    other = keys.format_recovery_key(bytes(32))
    with pytest.raises(RecoveryKeyError, match="does not open this backup"):
        verify_backup(out, recovery_key=other)
    groups = recovery.split("-")
    groups[2] = groups[2][:4] + ("A" if groups[2][4] != "A" else "B")  # a wrong check character
    with pytest.raises(RecoveryKeyError, match="group 3 of 14"):
        verify_backup(out, recovery_key="-".join(groups))
    with pytest.raises(WrongPasswordError):
        restore_backup(out, tmp_path / "r", password="not it")
    assert not (tmp_path / "r").exists()


def test_a_keyfile_vault_needs_its_keyfile_or_the_recovery_key(make_vault, tmp_path: Path) -> None:
    keyfile = tmp_path / "key.bin"
    keyfile.write_bytes(os.urandom(64))
    vault, recovery = make_vault(keyfile=keyfile)
    fill(vault)
    out = create_backup(vault, tmp_path / "b.vbak").path
    with pytest.raises(KeyfileRequiredError):
        verify_backup(out, password=PASSWORD)
    assert verify_backup(out, password=PASSWORD, keyfile=keyfile).ok
    assert verify_backup(out, recovery_key=recovery).ok


def test_no_history_keeps_current_versions_and_conflicts(vault: Vault, tmp_path: Path) -> None:
    fill(vault)
    note = vault.find_note("Plan")
    # two writers edit the same version: a conflict, two heads
    vault.update_note(note, body="mine")
    vault.update_note(note, body="theirs")
    assert vault.find_note("Plan").conflict
    report = create_backup(vault, tmp_path / "heads.vbak", history=False)
    heads = sum(
        len(vault.store.heads(row.item_id)) for row in vault.store.items(include_deleted=True)
    )
    assert report.ops == heads < vault.store.counts()["versions"]
    checked = verify_backup(report.path, password=PASSWORD)
    assert not checked.history and checked.ok
    restore_backup(report.path, tmp_path / "r", password=PASSWORD)
    with Vault.unlock(tmp_path / "r", password=PASSWORD) as copy:
        plan = copy.find_note("Plan")
        assert plan.conflict and len(copy.store.heads(plan.id)) == 2
        assert snapshot(copy) == snapshot(vault)
        assert copy.check().ok


def test_merge_adds_only_what_is_missing_and_keeps_newer_local_versions(
    vault: Vault, tmp_path: Path
) -> None:
    fill(vault)
    out = create_backup(vault, tmp_path / "b.vbak").path
    versions = vault.store.counts()["versions"]
    # merging into the vault it came from adds nothing
    again = merge_backup(vault, out)
    assert again.ops_added == 0 and again.ops_known == again.ops_read == versions

    # local work after the backup: an edit, a deletion, a new note
    plan = vault.find_note("Plan")
    vault.update_note(plan, body="newer local text")
    vault.trash_note(vault.find_note("Ünïcode ✓"))
    vault.create_note("After the backup", "new")
    before = snapshot(vault)
    report = merge_backup(vault, out)
    assert report.ops_added == 0
    assert snapshot(vault) == before  # nothing older came back on top
    assert vault.find_note("Plan").body == "newer local text"
    assert not vault.find_note("Plan").conflict


def test_merge_brings_back_what_a_vault_lacks(vault: Vault, tmp_path: Path) -> None:
    fill(vault)
    old = create_backup(vault, tmp_path / "old.vbak").path
    extra = vault.create_note("Only in the newer backup", "n")
    vault.update_note(vault.find_note("Plan"), body="third\n")
    new = create_backup(vault, tmp_path / "new.vbak").path
    # a vault restored from the older backup, then merged with the newer one
    restore_backup(old, tmp_path / "r", password=PASSWORD)
    with Vault.unlock(tmp_path / "r", password=PASSWORD) as copy:
        with pytest.raises(Exception, match="no note"):
            copy.note(extra.id)
        report = merge_backup(copy, new)
        assert report.ops_added == 2  # the new note and the edit of Plan, nothing twice
        assert copy.note(extra.id).title == "Only in the newer backup"
        assert copy.find_note("Plan").body == "third\n"
        assert snapshot(copy) == snapshot(vault)
        assert merge_backup(copy, new).ops_added == 0  # idempotent


def test_merge_after_a_rekey_reseals_under_the_current_key(make_vault, tmp_path: Path) -> None:
    vault, recovery = make_vault()
    fill(vault)
    out = create_backup(vault, tmp_path / "b.vbak").path
    restore_backup(out, tmp_path / "r", password=PASSWORD)
    # the restored copy lives on: an edit, then a master key rotation
    with Vault.unlock(tmp_path / "r", password=PASSWORD) as copy:
        copy.create_note("Written after", "later")
        copy.rekey(PASSWORD)
    # meanwhile the original made a note the copy never saw, and a new backup
    vault.create_note("Only in the original", "o")
    newer = create_backup(vault, tmp_path / "newer.vbak").path
    assert backup.backup_needs_secret(vault, newer) is False
    with Vault.unlock(tmp_path / "r", password=PASSWORD) as copy:
        assert backup.backup_needs_secret(copy, newer) is True
        with pytest.raises(WrongPasswordError, match="predates a master key rotation"):
            merge_backup(copy, newer)
        report = merge_backup(copy, newer, recovery_key=recovery)  # the backup's recovery key
        assert report.ops_added == report.resealed == 1
        assert copy.find_note("Only in the original").body == "o"
        assert copy.check().ok  # every version opens under the one current key
        copy.rekey(PASSWORD)  # and a later rotation still works: nothing unreadable came in
        assert copy.find_note("Written after").body == "later"


def test_restore_refuses_another_vault_and_occupied_folders(make_vault, tmp_path: Path) -> None:
    one, _ = make_vault(tmp_path / "one")
    two, _ = make_vault(tmp_path / "two")
    fill(one)
    out = create_backup(one, tmp_path / "one.vbak").path
    with pytest.raises(BackupError, match="backup of another vault"):
        merge_backup(two, out)
    with pytest.raises(BackupError, match="already a vault"):
        restore_backup(out, tmp_path / "two", password=PASSWORD)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(out, busy, password=PASSWORD)
    assert (busy / "keep.txt").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    restore_backup(out, empty, password=PASSWORD)  # an empty folder is fine
    assert (empty / "vault.json").exists()
    assert not [p for p in tmp_path.iterdir() if ".restoring-" in p.name]


def test_a_restore_the_disk_refuses_names_the_target_and_leaves_nothing(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk refuses the vault folder half-way through creating it (its keys/ folder): the
    message names the folder the person chose, not the hidden work folder, which is gone."""
    fill(vault)
    out = create_backup(vault, tmp_path / "b.vbak").path
    parent = tmp_path / "parent"
    target = parent / "r"
    real = store_module.ensure_private_dir

    def refuse_keys(path: Path) -> None:
        if path.name == "keys":
            raise storage_error(PermissionError(errno.EACCES, "Permission denied"), path)
        real(path)

    monkeypatch.setattr(store_module, "ensure_private_dir", refuse_keys)
    with pytest.raises(StorageError) as caught:
        restore_backup(out, target, password=PASSWORD)
    assert str(caught.value) == (
        f"cannot restore into {target}: permission denied; nothing was restored"
    )
    assert list(parent.iterdir()) == []


def test_a_folder_that_cannot_be_looked_into_is_a_clear_error(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A target under a folder without search permission (os.stat says EACCES) is a one-line
    StorageError, for create and restore alike, not an internal error."""
    fill(vault)
    out = create_backup(vault, tmp_path / "b.vbak").path
    locked = tmp_path / "locked"
    locked.mkdir()
    real_stat = Path.stat

    def stat(self: Path, *args: object, **kwargs: object) -> os.stat_result:
        if locked in self.parents:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    for attempt, where in (
        (lambda: create_backup(vault, locked / "x.vbak"), locked / "x.vbak"),
        (lambda: restore_backup(out, locked / "r", password=PASSWORD), locked / "r"),
    ):
        with pytest.raises(StorageError, match=f"^cannot write {where}: permission denied"):
            attempt()
    monkeypatch.undo()
    assert list(locked.iterdir()) == []


def test_create_refuses_to_overwrite_unless_asked(vault: Vault, tmp_path: Path) -> None:
    fill(vault)
    target = tmp_path / "b.vbak"
    target.write_bytes(b"precious")
    with pytest.raises(BackupError, match="already exists"):
        create_backup(vault, target)
    assert target.read_bytes() == b"precious"
    create_backup(vault, target, overwrite=True)
    assert verify_backup(target, password=PASSWORD).ok
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    # --force replaces a file, never a device or FIFO (`backup create /dev/null --force`)
    fifo = tmp_path / "pipe.vbak"
    os.mkfifo(fifo)
    with pytest.raises(BackupError, match="not a regular file"):
        create_backup(vault, fifo, overwrite=True)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_progress_is_reported(vault: Vault, tmp_path: Path) -> None:
    for i in range(600):
        vault.create_note(f"n{i}")
    seen: list[tuple[int, int | None]] = []
    create_backup(vault, tmp_path / "b.vbak", progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (600, 600) and len(seen) >= 3
    parts: list[tuple[int, int | None]] = []
    verify_backup(
        tmp_path / "b.vbak", password=PASSWORD, progress=lambda d, t: parts.append((d, t))
    )
    assert parts[-1][0] == parts[-1][1] == (tmp_path / "b.vbak").stat().st_size


def _bulk_notes(vault: Vault, start: int, count: int, body: str) -> None:
    """Many sealed notes at once through the store's ingest (one transaction, fast)."""
    ops = []
    for i in range(start, start + count):
        item = f"{i:032x}"
        payload = {"kind": "note", "title": f"n{i}", "body": body}
        ops.append(vault.seal_op("note", item, payload, (), op_id=item))
    vault.store.ingest(ops)


def _peaks(vault: Vault, out: Path) -> tuple[int, int, int]:
    tracemalloc.start()
    try:
        create_backup(vault, out)
        _, create_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        report = verify_backup(out, password=PASSWORD)
        _, verify_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok
    return create_peak, verify_peak, out.stat().st_size


def test_memory_stays_flat_while_backing_up_and_verifying(vault: Vault, tmp_path: Path) -> None:
    """Streamed: peak Python memory does not grow with the vault, and is a small fraction of
    the backup file."""
    body = "lorem ipsum dolor sit amet " * 400  # ~10 KiB per note
    _bulk_notes(vault, 0, 500, body)
    small = _peaks(vault, tmp_path / "small.vbak")
    _bulk_notes(vault, 500, 1500, body)
    big = _peaks(vault, tmp_path / "big.vbak")
    assert big[2] > 3.5 * small[2] and big[2] > 25 * 1024 * 1024
    for small_peak, big_peak in zip(small[:2], big[:2], strict=True):
        assert big_peak < 1.5 * small_peak + 512 * 1024, (small, big)
        assert big_peak < big[2] / 6, (small, big)


# --- listing, rotation, automatic backups --------------------------------------------------------


def config_with(tmp_path: Path, **backup_settings: object) -> Config:
    config = Config.load()
    config.set("backup.dir", str(tmp_path / "backups"))
    for key, value in backup_settings.items():
        config.set(f"backup.{key}", value)
    return config


def test_list_backups_ignores_temp_files_and_flags_damaged_ones(
    vault: Vault, tmp_path: Path
) -> None:
    fill(vault)
    folder = tmp_path / "backups"
    folder.mkdir()
    good = create_backup(vault, folder).path
    (folder / f".{good.name}.abcd1234.tmp").write_bytes(good.read_bytes()[:5000])
    (folder / "junk.vbak").write_bytes(b"not a backup at all")
    (folder / "notes.txt").write_text("unrelated")
    listed = list_backups(folder)
    assert [b.path.name for b in listed if b.problem is None] == [good.name]
    damaged = [b for b in listed if b.problem]
    assert [b.path.name for b in damaged] == ["junk.vbak"]
    assert "not a vault backup" in damaged[0].problem
    other = Vault.create(tmp_path / "other", PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)[0]
    other.create_note("x")
    create_backup(other, folder)
    assert [b.vault_id for b in list_backups(folder, vault.vault_id) if b.problem is None] == [
        vault.vault_id
    ]
    other.lock()


def test_auto_backup_follows_the_schedule_and_changes(vault: Vault, tmp_path: Path) -> None:
    config = config_with(tmp_path)
    now = datetime.now(UTC)
    assert auto_backup(vault, config, now=now + timedelta(days=2)) is None  # empty vault
    fill(vault)
    assert not backup_due(vault, config, now=now)  # the vault is younger than the interval
    made = auto_backup(vault, config, now=now + timedelta(hours=25))
    assert made is not None and made.name.endswith("-auto.vbak")
    assert made.parent == tmp_path / "backups"
    assert verify_backup(made, password=PASSWORD).ok
    # nothing changed: nothing more, however late
    assert auto_backup(vault, config, now=now + timedelta(days=30)) is None
    assert auto_backup(vault, config, reason="quit", now=now + timedelta(days=30)) is None
    vault.create_note("a change")
    # a change, but the interval has not passed since the last backup
    assert auto_backup(vault, config, now=now + timedelta(hours=26)) is None
    # quitting the app after a change backs up at once
    quit_made = auto_backup(vault, config, reason="quit", now=now + timedelta(hours=26))
    assert quit_made is not None and quit_made != made
    vault.create_note("another change")
    assert auto_backup(vault, config, now=now + timedelta(hours=50)) is not None
    off = config_with(tmp_path, interval_hours=0, on_quit=False)
    vault.create_note("yet another")
    assert auto_backup(vault, off, now=now + timedelta(days=90)) is None
    assert auto_backup(vault, off, reason="quit", now=now + timedelta(days=90)) is None


def test_rotation_keeps_daily_and_weekly_and_never_manual_ones(
    vault: Vault, tmp_path: Path
) -> None:
    config = config_with(tmp_path, keep_daily=3, keep_weekly=2)
    folder = tmp_path / "backups"
    fill(vault)
    manual = create_backup(vault, folder.mkdir() or folder).path
    start = datetime(2026, 10, 1, 12, tzinfo=UTC)  # a Thursday
    made = []
    newest_of_day: dict[object, Path] = {}
    newest_of_week: dict[object, Path] = {}
    for day in range(20):  # two automatic backups a day for 20 days
        for hour in (0, 6):
            vault.create_note(f"day {day} hour {hour}")
            when = start + timedelta(days=day, hours=hour)
            path = auto_backup(vault, config, reason="quit", now=when)
            assert path is not None
            made.append(path)
            local = when.astimezone()
            newest_of_day[local.date()] = path  # later ones replace earlier ones
            newest_of_week[local.isocalendar()[:2]] = path
    left = {b.path for b in list_backups(folder, vault.vault_id)}
    assert manual in left
    # exactly the newest of each of the last 3 days and of each of the last 2 ISO weeks (local
    # time), whatever the machine's time zone: every other automatic backup was deleted
    expected = {newest_of_day[d] for d in sorted(newest_of_day)[-3:]}
    expected |= {newest_of_week[w] for w in sorted(newest_of_week)[-2:]}
    assert made[-1] in expected and 3 <= len(expected) <= 5
    assert {b.path for b in list_backups(folder, vault.vault_id) if b.automatic} == expected
    assert left == expected | {manual}
    assert all(verify_backup(p, password=PASSWORD, open_items=False).ok for p in expected)
    # rotation by hand with nothing to keep still keeps the newest
    rotate_backups(folder, vault.vault_id, keep_daily=0, keep_weekly=0)
    autos_after = [b.path for b in list_backups(folder, vault.vault_id) if b.automatic]
    assert autos_after == [made[-1]]
    assert manual.exists()


def test_an_automatic_backup_that_does_not_read_back_is_removed_and_rotates_nothing(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_with(tmp_path, keep_daily=0, keep_weekly=0)
    now = datetime.now(UTC)
    fill(vault)
    good = auto_backup(vault, config, reason="quit", now=now)
    assert good is not None
    vault.create_note("a change")

    def damaged(*_: object, **__: object) -> None:
        raise BackupError("damaged on the way to the disk")

    monkeypatch.setattr(backup, "verify_backup", damaged)
    with pytest.raises(BackupError, match="damaged on the way"):
        auto_backup(vault, config, reason="quit", now=now + timedelta(hours=1))
    # the bad file is gone, the verified one was not rotated away
    assert [b.path for b in list_backups(tmp_path / "backups")] == [good]
    monkeypatch.undo()
    # and the change still counts as not backed up: the next chance makes a backup
    assert backup_due(vault, config, reason="quit", now=now + timedelta(hours=2))
    again = auto_backup(vault, config, reason="quit", now=now + timedelta(hours=2))
    assert again is not None and verify_backup(again, password=PASSWORD).ok
    assert [b.path for b in list_backups(tmp_path / "backups")] == [again]


def test_backups_made_within_one_second_keep_their_order(vault: Vault, tmp_path: Path) -> None:
    """Names made unique with -2 ... -11 sort as made, not as text ('-auto-2' < '-auto.'), so
    rotation keeps the one just made and verified, not an older one of the same second."""
    config = config_with(tmp_path, keep_daily=0, keep_weekly=0)
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    fill(vault)
    made = []
    for i in range(11):
        vault.create_note(f"change {i}")
        path = auto_backup(vault, config, reason="quit", now=now)
        assert path is not None
        made.append(path)
    assert made[1].name.endswith("-auto-2.vbak") and made[10].name.endswith("-auto-11.vbak")
    assert [b.path for b in list_backups(tmp_path / "backups")] == [made[-1]]
    assert verify_backup(made[-1], password=PASSWORD).live["note"] == 2 + 11 + 1
    manual = [create_backup(vault, tmp_path / "backups", now=now).path for _ in range(3)]
    listed = [b.path for b in list_backups(tmp_path / "backups") if not b.automatic]
    assert listed == manual[::-1]


def test_rotation_skips_a_file_it_may_not_delete(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_with(tmp_path, keep_daily=0, keep_weekly=0)
    now = datetime.now(UTC)
    fill(vault)
    first = auto_backup(vault, config, reason="quit", now=now)
    assert first is not None
    real_unlink = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self == first:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        real_unlink(self, missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    vault.create_note("a change")
    second = auto_backup(vault, config, reason="quit", now=now + timedelta(hours=1))
    assert second is not None
    assert rotate_backups(tmp_path / "backups", vault.vault_id, keep_daily=0, keep_weekly=0) == []
    assert first.exists() and second.exists()


def test_stale_temp_files_of_killed_backups_are_cleared(vault: Vault, tmp_path: Path) -> None:
    config = config_with(tmp_path)
    folder = tmp_path / "backups"
    folder.mkdir()
    stale = folder / ".vault-0000-20200101T000000Z-auto.vbak.dead0000.tmp"
    fresh = folder / ".vault-0000-20200101T000000Z-auto.vbak.live0000.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    old = datetime.now().timestamp() - 3 * 24 * 3600
    os.utime(stale, (old, old))
    # Not what a backup of ours leaves: a symlink, or another user's file (root gives it away).
    link = folder / ".vault-0000-20200101T000000Z-auto.vbak.link0000.tmp"
    link.symlink_to(stale)
    os.utime(link, (old, old), follow_symlinks=False)
    theirs = folder / ".vault-0000-20200101T000000Z-auto.vbak.else0000.tmp"
    theirs.write_bytes(b"x")
    os.utime(theirs, (old, old))
    if os.geteuid() == 0:
        os.chown(theirs, 4242, 4242)
    fill(vault)
    assert auto_backup(vault, config, now=datetime.now(UTC) + timedelta(days=2)) is not None
    assert not stale.exists() and fresh.exists()  # a backup may still be writing that one
    assert link.is_symlink()  # never deleted: not a file this vault wrote
    assert theirs.exists() or os.geteuid() != 0


def test_every_folder_a_backup_creates_is_private(vault: Vault, tmp_path: Path) -> None:
    """Not only the last one (issue 12 §3): `mkdir(parents=True)` made the others 0755."""
    fill(vault)
    old = os.umask(0o022)
    try:
        create_backup(vault, tmp_path / "x" / "y" / "z" / "file.vbak")
        auto = config_with(tmp_path)
        auto.set("backup.dir", str(tmp_path / "p" / "q" / "r"))
        vault.create_note("a change, so an automatic backup is due")
        assert auto_backup(vault, auto, reason="quit") is not None
    finally:
        os.umask(old)
    for folder in ("x", "x/y", "x/y/z", "p", "p/q", "p/q/r"):
        assert stat.S_IMODE((tmp_path / folder).stat().st_mode) == 0o700, folder


# --- a hostile backup folder (issue 12 §3) -------------------------------------------------------


def _forge_date(real: Path, forged: Path, when: str) -> None:
    """A copy of a real backup whose clear header claims another creation time: anyone who can
    write the backup folder can do this without any key."""
    data = real.read_bytes()
    magic, rest = data[:8], data[8:]
    (length,) = struct.unpack(">I", rest[:4])
    header = json.loads(rest[4 : 4 + length])
    header["created"] = when
    raw = json.dumps(header, indent=1).encode()
    forged.write_bytes(magic + struct.pack(">I", len(raw)) + raw + rest[4 + length :])


def test_a_forged_backup_dated_2099_does_not_stop_automatic_backups(
    vault: Vault, tmp_path: Path
) -> None:
    config = config_with(tmp_path, keep_daily=1, keep_weekly=0)
    now = datetime.now(UTC)
    fill(vault)
    first = auto_backup(vault, config, now=now + timedelta(hours=25))
    assert first is not None
    forged = first.with_name(f"vault-{vault.vault_id[:8]}-20990101T000000Z-auto.vbak")
    _forge_date(first, forged, "2099-01-01T00:00:00Z")
    assert list_backups(first.parent)[0].path == forged  # its header says newest
    vault.create_note("a change")
    assert backup_due(vault, config, now=now + timedelta(hours=50))
    second = auto_backup(vault, config, now=now + timedelta(hours=50))
    assert second is not None and verify_backup(second, password=PASSWORD).ok
    # Rotation (keep 1 a day) counts only backups this vault's key authenticates: the forged
    # one neither takes the real one's place nor is deleted (not ours to delete).
    assert second.exists() and forged.exists()
    assert not first.exists()  # the older real one rotated away as before


def test_the_due_check_reads_nothing_in_the_backup_folder(vault: Vault, tmp_path: Path) -> None:
    """The last backup is the vault's own record; deleting that file makes one due again."""
    config = config_with(tmp_path)
    now = datetime.now(UTC)
    fill(vault)
    made = auto_backup(vault, config, now=now + timedelta(hours=25))
    assert made is not None
    assert not backup_due(vault, config, reason="quit", now=now + timedelta(days=9))
    made.unlink()
    assert backup_due(vault, config, now=now + timedelta(days=9))


@pytest.mark.parametrize("kind", ["deep json", "fifo", "symlink to /dev/zero", "folder"])
def test_a_bad_file_in_the_backup_folder_never_blocks_an_unlock(
    cli: CLI, tmp_path: Path, kind: str
) -> None:
    cli.init()
    cli("config", "set", "backup.dir", str(tmp_path / "backups"), check=True)
    cli("config", "set", "backup.interval_hours", "0.0001", check=True)
    cli("new", "Something", input="to keep", check=True)
    folder = tmp_path / "backups"
    folder.mkdir()
    bad = folder / "vault-00000000-20260101T000000Z-auto.vbak"
    if kind == "deep json":
        header = b"[" * 1000 + b"]" * 1000
        bad.write_bytes(b"VAULTBAK" + struct.pack(">I", len(header)) + header + b"\0" * 24)
    elif kind == "fifo":
        os.mkfifo(bad)
    elif kind == "folder":
        bad.mkdir()
    else:
        bad.symlink_to("/dev/zero")
    time.sleep(0.5)
    result = cli("tags")  # unlocks, and makes the scheduled backup (rotation lists the folder)
    assert result.returncode == 0, result.stderr
    assert "Made the scheduled backup" in result.stderr
    listed = cli("backup", "list")
    assert listed.returncode == 0, listed.stderr
    lines = [line for line in listed.stdout.splitlines() if bad.name in line]
    assert len(lines) == 1 and "UNREADABLE" in lines[0], listed.stdout
