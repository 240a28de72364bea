"""The sync engine against a real shared folder on disk, two or three real vaults at a time.

Each test plays one thing a sync daemon or a person does to the folder (a missing, truncated,
renamed, hidden or restored file, a copied vault, a killed run) and checks the promise that
covers it: nothing is lost, nothing unverified is applied, going backwards is reported.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from vault.errors import (
    IntegrityError,
    NotFoundError,
    RecoveryKeyError,
    RemoteError,
    UnsupportedFormatError,
    WrongPasswordError,
)
from vault.notes.vault import Vault
from vault.sealing import crypto
from vault.sealing.crypto import TEST_KDF
from vault.storage.store import SCHEMA_VERSION, Op, Store
from vault.sync import (
    SyncEngine,
    clone,
    get_conflict,
    layout,
    list_conflicts,
    remote_info,
    resolve,
    set_remote,
    unset_remote,
)
from vault.sync.remote import RemoteFolder
from vault.sync.segments import open_file, seal_file

MakeVault = Callable[..., tuple[Vault, str]]


class Devices:
    """Device a (created here) and b (cloned), syncing through one folder."""

    def __init__(self, tmp_path: Path, make_vault: MakeVault) -> None:
        self.folder = tmp_path / "shared"
        self.a, self.recovery = make_vault(tmp_path / "a")
        set_remote(self.a.store, self.folder)
        self.a.create_note("Seed", "one\ntwo\nthree\n", tags=["start"])
        self.sync(self.a)
        self.b, _ = clone(self.folder, tmp_path / "b", password=PASSWORD)
        self.opened = [self.b]

    def sync(self, vault: Vault, **kw: object) -> object:
        return SyncEngine(vault, **kw).sync()  # type: ignore[arg-type]

    def both(self, rounds: int = 2) -> None:
        for _ in range(rounds):
            self.sync(self.a)
            self.sync(self.b)

    def log(self, vault: Vault) -> Path:
        return self.folder / "log" / vault.store.device_id

    def close(self) -> None:
        for v in self.opened:
            v.lock()


@pytest.fixture
def dev(tmp_path: Path, make_vault: MakeVault):
    d = Devices(tmp_path, make_vault)
    yield d
    d.close()


def _notes(vault: Vault) -> dict[str, tuple[str, str]]:
    return {n.id: (n.title, n.body) for n in vault.all_notes()}


# --- the file format ---------------------------------------------------------------------


def test_chain_file_round_trip_and_tampering() -> None:
    key = crypto.random_bytes(32)
    vault_id, device = crypto.random_id(), crypto.random_id()
    data = seal_file(
        key, vault_id, device=device, seq=3, kind="seg", prev="ab" * 16, ops=[], acks={}, wall=5
    )
    opened = open_file(key, vault_id, data, "f")
    assert (opened.device, opened.seq, opened.kind, opened.prev, opened.wall) == (
        device,
        3,
        "seg",
        "ab" * 16,
        5,
    )
    assert opened.hash == layout.content_hash(data)
    flipped = bytearray(data)
    flipped[-5] ^= 1
    moved = data.replace(b'"seq":3', b'"seq":4')
    for bad in (bytes(flipped), data[:-10], moved, b"", b"garbage"):
        with pytest.raises(IntegrityError):
            open_file(key, vault_id, bad, "f")
    with pytest.raises(IntegrityError):
        open_file(key, crypto.random_id(), data, "f")  # another vault's
    with pytest.raises(UnsupportedFormatError):
        open_file(key, vault_id, data.replace(b"VAULTSYNC2", b"VAULTSYNC3"), "f")


def test_names() -> None:
    name = layout.chain_file_name(7, "0" * 32, "seg")
    assert name == "0000000007-" + "0" * 32 + ".seg"
    assert layout.parse_chain_name(name) == layout.ChainName(7, "0" * 32, "seg")
    for odd in (
        name.replace(".seg", " (conflicted copy 2026-11-22).seg"),
        name.replace(".seg", ".sync-conflict-20261122-101010-ABCDEFG.seg"),
        name.replace(".seg", " (1).seg"),
        "." + name + ".1234.tmp",
    ):
        assert layout.parse_chain_name(odd) is None


def test_store_migrates_from_schema_1(vault: Vault) -> None:
    path = vault.path
    vault.lock()
    db = sqlite3.connect(path / "store.sqlite")
    db.executescript(
        "DROP TABLE sync_ops; DROP TABLE sync_files; UPDATE meta SET value='1' WHERE key='schema';"
    )
    db.close()
    reopened = Vault.unlock(path, password=PASSWORD)
    try:
        assert reopened.store.meta("schema") == str(SCHEMA_VERSION)
        assert reopened.store.query("SELECT count(*) FROM sync_ops") == [(0,)]
    finally:
        reopened.lock()


# --- the folder and its errors ------------------------------------------------------------


def test_remote_errors(tmp_path: Path, make_vault: MakeVault) -> None:
    a, _ = make_vault(tmp_path / "a")
    with pytest.raises(RemoteError, match="no sync folder is set"):
        SyncEngine(a).sync()
    with pytest.raises(RemoteError, match="does not exist"):
        set_remote(a.store, tmp_path / "missing" / "deeper")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "photo.jpg").write_bytes(b"x")
    with pytest.raises(RemoteError, match="not empty"):
        set_remote(a.store, busy)
    set_remote(a.store, tmp_path / "shared")
    shutil.rmtree(tmp_path / "shared")
    with pytest.raises(RemoteError, match="does not exist"):
        SyncEngine(a).sync()
    assert "does not exist" in (SyncEngine(a).status().last_error or "")
    other, _ = make_vault(tmp_path / "other")
    set_remote(other.store, tmp_path / "theirs")
    with pytest.raises(RemoteError, match="another vault"):
        set_remote(a.store, tmp_path / "theirs")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RemoteError, match="not a folder"):
        SyncEngine(a, tmp_path / "file").sync()


def test_rekey_refuses_the_old_folder(dev: Devices) -> None:
    dev.a.rekey(PASSWORD)
    with pytest.raises(RemoteError, match="rekey"):
        dev.sync(dev.a)
    fresh = dev.folder.parent / "fresh"
    set_remote(dev.a.store, fresh)
    dev.sync(dev.a)
    c, _ = clone(fresh, dev.folder.parent / "c", password=PASSWORD)
    dev.opened.append(c)
    assert _notes(c) == _notes(dev.a)


def test_remote_show_and_unset(dev: Devices) -> None:
    info = remote_info(dev.a.store)
    assert info.reachable and info.source == "vault" and info.devices == 1
    unset_remote(dev.a.store)
    assert remote_info(dev.a.store).path is None
    info = remote_info(dev.a.store, str(dev.folder))
    assert info.source == "config" and info.reachable


def test_folder_holds_no_plaintext_or_ids(dev: Devices) -> None:
    markers = ["Zebra-Title-4711", "quokka body marker", "secret-tag-xyz", "Hidden Notebook 99"]
    nb, _ = dev.a.ensure_notebook(markers[3])
    note = dev.a.create_note(markers[0], markers[1], tags=[markers[2]], notebook=nb.id)
    dev.both()
    assert dev.b.note(note.id).body == markers[1]
    needles = [m.encode() for m in markers]
    ids = [note.id, nb.id, dev.a.tag_id(markers[2]), *(n.id for n in dev.a.all_notes())]
    needles += [i.encode() for i in ids]
    needles += [str(note.modified).encode(), str(note.created).encode()]
    for path in dev.folder.rglob("*"):
        text = path.name.encode()
        if path.is_file():
            text += path.read_bytes()
        for needle in needles:
            assert needle not in text, f"{needle!r} found in {path}"


# --- cost -------------------------------------------------------------------------------------


class CountingFolder(RemoteFolder):
    reads = 0
    writes = 0

    def read(self, device: str, name: str, area: str = "log", **kw: str | None) -> bytes:
        self.reads += 1
        return super().read(device, name, area, **kw)

    def read_header(self):  # type: ignore[no-untyped-def]
        self.reads += 1
        return super().read_header()

    def write(self, device: str, name: str, data: bytes, area: str = "log") -> None:
        self.writes += 1
        super().write(device, name, data, area)


def test_idle_sync_reads_and_writes_nothing(dev: Devices) -> None:
    dev.b.create_note("From b", "x")
    dev.both()
    for vault in (dev.a, dev.b):
        folder = CountingFolder(dev.folder)
        report = SyncEngine(vault, folder).sync()
        assert (folder.reads, folder.writes) == (0, 0)
        assert (report.pulled, report.pushed, report.files_read) == (0, 0, 0)


# --- what the folder does to files ------------------------------------------------------------


def test_truncated_and_placeholder_files_wait(dev: Devices) -> None:
    note = dev.a.create_note("Arrives late", "whole")
    dev.sync(dev.a)
    newest = max(dev.log(dev.a).iterdir())
    data = newest.read_bytes()
    for broken in (data[: len(data) // 2], b""):
        newest.write_bytes(broken)
        report = dev.sync(dev.b)
        assert report.pending and "hash does not match" in report.pending[0].reason
        assert note.id not in _notes(dev.b)
    newest.write_bytes(data)
    report = dev.sync(dev.b)
    assert not report.pending
    assert dev.b.note(note.id).body == "whole"


def test_vendor_conflict_copies_are_ingested_once(dev: Devices) -> None:
    note = dev.a.create_note("Via a copy", "content")
    dev.sync(dev.a)
    newest = max(dev.log(dev.a).iterdir())
    renamed = newest.with_name(newest.stem + " (conflicted copy 2026-11-22).seg")
    newest.rename(renamed)
    shutil.copy(renamed, newest.with_name(newest.stem + ".sync-conflict-20261122-1-ABC.seg"))
    report = dev.sync(dev.b)
    assert dev.b.note(note.id).body == "content"
    assert [n.title for n in dev.b.all_notes()].count("Via a copy") == 1
    assert not report.pending
    assert report.files_read >= 1
    again = CountingFolder(dev.folder)
    report = SyncEngine(dev.b, again).sync()
    assert again.reads == 0  # judged once, not read on every sync...
    assert not report.rollbacks and not report.pending  # ...and still counts as a's file
    renamed.rename(newest)  # the canonical name comes back: nothing new, nothing doubled
    report = dev.sync(dev.b)
    assert [n.title for n in dev.b.all_notes()].count("Via a copy") == 1
    assert not report.rollbacks and not report.pending


def test_a_copy_of_an_applied_file_keeps_its_place(dev: Devices) -> None:
    dev.a.create_note("Applied", "x")
    dev.sync(dev.a)
    dev.sync(dev.b)  # b applies a's newest file under its own name
    newest = max(dev.log(dev.a).iterdir())
    copy = newest.with_name(newest.stem + " (1).seg")
    shutil.copy(newest, copy)
    assert not dev.sync(dev.b).rollbacks  # the copy: same bytes, set aside
    newest.unlink()  # the daemon keeps only the copy
    for _ in range(2):
        report = dev.sync(dev.b)
        assert not report.rollbacks and not report.pending


def test_hidden_files_delete_nothing(dev: Devices) -> None:
    for i in range(3):
        dev.a.create_note(f"n{i}", "x")
    dev.both()
    before = _notes(dev.b)
    stash = dev.folder.parent / "stash"
    shutil.move(dev.log(dev.a), stash)
    report = dev.sync(dev.b)
    assert report.rollbacks  # every file of a is gone: reported...
    assert _notes(dev.b) == before  # ...and nothing deleted
    shutil.move(stash, dev.log(dev.a))
    report = dev.sync(dev.b)
    assert not report.rollbacks and _notes(dev.b) == before


def test_rollback_is_reported_never_applied(dev: Devices) -> None:
    old = dev.folder.parent / "old-copy"
    shutil.copytree(dev.folder, old)
    dev.a.create_note("Later", "after the copy")
    dev.sync(dev.a)
    dev.a.create_note("Later still", "more")
    dev.sync(dev.a)
    dev.sync(dev.b)
    before = _notes(dev.b)
    shutil.rmtree(dev.folder)
    shutil.copytree(old, dev.folder)  # an old copy of the folder restored
    report = dev.sync(dev.b)
    assert report.rollbacks and "went back" in report.rollbacks[0]
    assert not report.ok
    assert _notes(dev.b) == before
    assert SyncEngine(dev.b).status().rollbacks == 1


def test_a_rollback_still_applies_what_was_never_applied(dev: Devices) -> None:
    # b missed a's file 2 (still on its way) but applied file 3; then an old copy of the
    # folder, which has file 2 but not file 3, is restored. That is reported, nothing local is
    # undone, and file 2 (genuine, and only adding) is applied.
    first = dev.a.create_note("In file 2", "x")
    dev.sync(dev.a)
    old = dev.folder.parent / "old-copy"
    shutil.copytree(dev.folder, old)
    second = dev.a.create_note("In file 3", "y")
    dev.sync(dev.a)
    (two,) = [p for p in dev.log(dev.a).iterdir() if layout.parse_chain_name(p.name).seq == 2]
    two.rename(dev.folder.parent / two.name)
    dev.sync(dev.b)
    assert second.id in _notes(dev.b) and first.id not in _notes(dev.b)
    shutil.rmtree(dev.folder)
    shutil.copytree(old, dev.folder)
    report = dev.sync(dev.b)
    assert report.rollbacks and "local data was not rolled back" in report.rollbacks[0]
    assert {first.id, second.id} <= set(_notes(dev.b))


def test_file_removed_from_a_chain_is_reported_and_repaired(dev: Devices) -> None:
    for i in range(3):
        dev.a.create_note(f"n{i}", "x")
        dev.sync(dev.a)
    files = sorted(dev.log(dev.a).iterdir())
    files[1].unlink()  # a file in the middle of a's log, which b never read
    report = dev.sync(dev.b)
    assert any("missing" in p.reason for p in report.pending)
    report = dev.sync(dev.a)  # the owner notices and rewrites its log as a snapshot
    assert report.repaired == 1
    report = dev.sync(dev.b)
    assert not report.pending
    assert _notes(dev.b) == _notes(dev.a)


def test_a_file_named_as_a_snapshot_counts_only_once_it_verifies(dev: Devices) -> None:
    # b has applied a's whole log. Then a's next file is hidden from b for a while, and a file
    # merely named as a snapshot at that position appears. Were the name taken on trust, b
    # would count the position as applied and skip a's real snapshot (which holds the hidden
    # file's note) for good.
    log = dev.log(dev.a)
    position = max(layout.parse_chain_name(p.name).seq for p in log.iterdir()) + 1
    note = dev.a.create_note("Hidden for a while", "x")
    dev.sync(dev.a)
    (hidden,) = [p for p in log.iterdir() if layout.parse_chain_name(p.name).seq == position]
    hidden.rename(dev.folder.parent / hidden.name)
    forged = b"VAULTSYNC1\nnot sealed with the vault's key"
    (log / layout.chain_file_name(position, layout.content_hash(forged), "snap")).write_bytes(
        forged
    )
    report = dev.sync(dev.b)
    assert [p.reason for p in report.pending] == ["does not verify"]
    SyncEngine(dev.a, compact_after=0).sync()  # a's snapshot, at the position after
    report = dev.sync(dev.b)
    assert dev.b.note(note.id).body == "x"
    assert not report.pending


def test_files_below_a_snapshot_that_never_verifies_are_still_read(dev: Devices) -> None:
    # A snapshot replaces the files below it only once it can be used: a junk name (or a
    # snapshot damaged for good, from a device that no longer syncs) must not hide them.
    note = dev.a.create_note("Before the junk arrives", "x")
    dev.sync(dev.a)
    junk = b"VAULTSYNC1\nnot a snapshot"
    name = layout.chain_file_name(100_000, layout.content_hash(junk), "snap")
    (dev.log(dev.a) / name).write_bytes(junk)
    report = dev.sync(dev.b)
    assert dev.b.note(note.id).body == "x"
    assert [p.reason for p in report.pending] == ["does not verify"]


def test_a_stray_name_claiming_a_far_position_is_harmless(dev: Devices) -> None:
    far = layout.chain_file_name(100_000, "f" * 32, "seg")
    (dev.log(dev.a) / far).write_bytes(b"not a vault file")
    report = dev.sync(dev.b)
    # The stray itself, and one entry for the run of positions it claims to skip.
    assert sorted((p.file, p.reason.split(" (")[0]) for p in report.pending) == [
        (far, "incomplete or damaged"),
        ("files 2-99999", "missing from its log"),
    ]
    # In this device's own folder: at a position it never chose, so not a file it can show
    # it wrote: left in place (never deleted), never a reason to jump ahead.
    dev.log(dev.b).mkdir(parents=True, exist_ok=True)
    (dev.log(dev.b) / far).write_bytes(b"not a vault file")
    note = dev.b.create_note("After the stray", "x")
    report = dev.sync(dev.b)
    assert report.repaired == 0
    assert not [p for p in report.pending if p.device == dev.b.store.device_id]
    names = sorted(p.name for p in dev.log(dev.b).iterdir())
    assert far in names
    assert [layout.parse_chain_name(n).seq for n in names if n != far] == [1]
    dev.sync(dev.a)
    assert dev.a.note(note.id).body == "x"


# --- history, merges and conflicts -----------------------------------------------------------


def test_non_overlapping_edits_merge_and_overlapping_ones_conflict(dev: Devices) -> None:
    seed = next(n for n in dev.a.all_notes() if n.title == "Seed")
    dev.a.update_note(dev.a.note(seed.id), body="ONE\ntwo\nthree\n")
    dev.b.update_note(dev.b.note(seed.id), body="one\ntwo\nTHREE\n")
    dev.both()
    for v in (dev.a, dev.b):
        assert v.note(seed.id).body == "ONE\ntwo\nTHREE\n" and not v.note(seed.id).conflict
    assert len(dev.a.store.heads(seed.id)) == 1
    assert dev.a.store.heads(seed.id)[0].op_id == dev.b.store.heads(seed.id)[0].op_id
    dev.a.update_note(dev.a.note(seed.id), body="from a\n")
    dev.b.update_note(dev.b.note(seed.id), body="from b\n")
    dev.both()
    conflict = get_conflict(dev.b, seed.id)
    assert conflict is not None and conflict.mine.item.body == "from b\n"
    assert [v.item.body for v in conflict.theirs] == ["from a\n"]
    assert get_conflict(dev.a, seed.id).mine.item.body == "from a\n"
    assert [c.item_id for c in list_conflicts(dev.a)] == [seed.id]
    resolve(dev.b, seed.id, "theirs")
    dev.both()
    assert dev.a.note(seed.id).body == dev.b.note(seed.id).body == "from a\n"
    assert not list_conflicts(dev.a) and not list_conflicts(dev.b)


def test_keep_both_makes_a_copy(dev: Devices) -> None:
    seed = next(n for n in dev.a.all_notes() if n.title == "Seed")
    dev.a.update_note(dev.a.note(seed.id), body="A\n")
    dev.b.update_note(dev.b.note(seed.id), body="B\n")
    dev.both()
    written = resolve(dev.a, seed.id, "both")
    assert len(written) == 2
    dev.both()
    for v in (dev.a, dev.b):
        bodies = sorted(n.body for n in v.all_notes() if n.title.startswith("Seed"))
        assert bodies == ["A\n", "B\n"]
    with pytest.raises(NotFoundError):
        resolve(dev.a, seed.id, "mine")


def test_same_fork_merged_on_two_devices_gives_one_version(dev: Devices) -> None:
    seed = next(n for n in dev.a.all_notes() if n.title == "Seed")
    c, _ = clone(dev.folder, dev.folder.parent / "c", password=PASSWORD)
    dev.opened.append(c)
    dev.a.update_note(dev.a.note(seed.id), body="ONE\ntwo\nthree\n")
    dev.b.update_note(dev.b.note(seed.id), body="one\ntwo\nTHREE\n")
    dev.sync(dev.a)
    dev.sync(dev.b)
    dev.sync(c)  # c sees both edits and merges
    dev.sync(dev.a)  # a merges too, independently (it has not seen c's merge)
    for v in (dev.a, dev.b, c, dev.a, dev.b, c):
        dev.sync(v)
    heads = {tuple(h.op_id for h in v.store.heads(seed.id)) for v in (dev.a, dev.b, c)}
    assert len(heads) == 1 and len(next(iter(heads))) == 1
    assert dev.a.note(seed.id).body == "ONE\ntwo\nTHREE\n"


def test_local_fork_takes_the_same_path(dev: Devices) -> None:
    seed = next(n for n in dev.a.all_notes() if n.title == "Seed")
    other = Vault.unlock(dev.a.path, password=PASSWORD)  # a second process on device a
    dev.opened.append(other)
    stale = other.note(seed.id)
    dev.a.update_note(dev.a.note(seed.id), body="ONE\ntwo\nthree\n")
    other.update_note(stale, body="x")
    assert dev.a.store.item(seed.id).conflict
    report = dev.sync(dev.a)
    assert report.conflicts == (seed.id,)  # "x" overlaps the edit: both kept
    resolve(dev.a, seed.id, "mine")
    dev.both()
    assert dev.b.note(seed.id).body == dev.a.note(seed.id).body
    assert not dev.b.note(seed.id).conflict


def test_an_edit_saved_while_a_purge_arrives_is_kept(
    dev: Devices, monkeypatch: pytest.MonkeyPatch
) -> None:
    note = dev.a.create_note("Busy", "v1\n")
    dev.both()
    app = Vault.unlock(dev.b.path, password=PASSWORD)  # the app, open on b meanwhile
    dev.opened.append(app)
    stale = app.note(note.id)
    dev.a.purge_note(dev.a.note(note.id))
    dev.sync(dev.a)
    saved: list[object] = []
    real_heads = Store.heads

    def heads(store: Store, item_id: str) -> list[Op]:
        found = real_heads(store, item_id)
        # The app saves right after the sync looked at the note's versions, unless the sync
        # holds the store's write lock (then the save waits for it).
        if item_id == note.id and not saved and not store._db.in_transaction:
            saved.append(None)
            saved[0] = app.update_note(stale, body="edited meanwhile\n")
        return found

    monkeypatch.setattr(Store, "heads", heads)
    dev.sync(dev.b)
    monkeypatch.undo()
    if not saved:
        saved.append(app.update_note(stale, body="edited meanwhile\n"))
    dev.both()
    for v in (dev.a, dev.b):
        assert v.note(note.id).body == "edited meanwhile\n"


def test_purge_travels_and_erases_old_versions(dev: Devices) -> None:
    note = dev.a.create_note("Temporary", "sensitive")
    dev.a.update_note(note, body="more sensitive")
    dev.both()
    dev.a.purge_note(dev.a.note(note.id))
    dev.both()
    with pytest.raises(NotFoundError):
        dev.b.note(note.id)
    history = dev.b.store.history(note.id)
    assert [dev.b.open_op(op) for op in history if not op.deleted] == [
        {"kind": "note", "erased": True}
    ] * 2


def test_a_purge_that_arrives_removes_this_devices_snapshot(dev: Devices) -> None:
    from vault.sealing import keys, snapshot
    from vault.sealing.crypto import Label, subkey

    with dev.a.batch():
        for n in range(250):
            dev.a.create_note(f"Note {n}", f"body {n}")
    secret = dev.a.create_note("Secret", "the purged text")
    dev.both()
    path_b = dev.b.path
    dev.b.lock()
    assert snapshot.path_in(path_b).exists()
    dev.b = Vault.unlock(path_b, password=PASSWORD)
    dev.opened.append(dev.b)
    dev.a.purge_note(dev.a.note(secret.id))
    dev.both()
    mk = dev.b.master_key
    dev.b.lock()
    found = snapshot.read(path_b, subkey(mk, Label.SNAPSHOT), dev.b.vault_id, keys.mk_id(mk))
    held = [e for e in found or [] if e[0] == secret.id]
    assert not held, "the purged note is still in the snapshot"


# --- devices, keys, cloning ------------------------------------------------------------------


def test_clone_with_recovery_key_and_password_changes(dev: Devices) -> None:
    root = dev.folder.parent
    c, _ = clone(
        dev.folder,
        root / "c",
        recovery_key=dev.recovery,
        new_password="a new one",
        kdf=TEST_KDF,
        allow_weak_kdf=True,
    )
    dev.opened.append(c)
    assert _notes(c) == _notes(dev.a)
    c.lock()
    reopened = Vault.unlock(root / "c", password="a new one")
    dev.opened.append(reopened)
    with pytest.raises(WrongPasswordError):
        clone(dev.folder, root / "d", password="nope")
    with pytest.raises(RecoveryKeyError):
        clone(
            dev.folder,
            root / "d",
            recovery_key=dev.recovery.replace(
                dev.recovery[0], "Q" if dev.recovery[0] != "Q" else "R", 1
            ),
            new_password="x",
            kdf=TEST_KDF,
            allow_weak_kdf=True,
        )
    # A password change reaches the folder: the new one clones, the old one no longer does
    # (unless another device still uses it: passwords are per device).
    dev.a.change_password("changed", kdf=TEST_KDF)
    dev.sync(dev.a)
    b_slots = list((dev.folder / "keys" / dev.b.store.device_id).iterdir())
    for p in b_slots:
        p.unlink()
    dev.b.store.close()
    dev.opened.remove(dev.b)
    e, _ = clone(dev.folder, root / "e", password="changed")
    dev.opened.append(e)
    with pytest.raises(WrongPasswordError):
        clone(dev.folder, root / "f", password=PASSWORD)


def test_compaction_bounds_the_folder(dev: Devices) -> None:
    for i in range(30):
        dev.a.create_note(f"note {i}", "x")
        SyncEngine(dev.a, compact_after=4).sync()
        SyncEngine(dev.b, compact_after=4).sync()
    for v in (dev.a, dev.b):
        SyncEngine(v, compact_after=4).sync()
    for log in (dev.folder / "log").iterdir():
        assert len(list(log.iterdir())) <= 4 + 3
    c, _ = clone(dev.folder, dev.folder.parent / "c", password=PASSWORD)
    dev.opened.append(c)
    assert _notes(c) == _notes(dev.a) == _notes(dev.b)


def test_a_silent_device_does_not_make_the_folder_grow(dev: Devices) -> None:
    dev.b.create_note("b was here", "x")
    SyncEngine(dev.b, compact_after=4).sync()  # b has a log, so it is waited for...
    SyncEngine(dev.a, compact_after=4).sync()
    made = [dev.a.create_note(f"while b is away {i}", "x").id for i in range(40)]
    for note_id in made:  # ...but then stays silent (not for retire_days yet)
        dev.a.update_note(dev.a.note(note_id), body="y")
        SyncEngine(dev.a, compact_after=4).sync()
    files = list(dev.log(dev.a).iterdir())
    assert len(files) <= 2 * (4 + 1) + 2
    assert len([p for p in files if p.suffix == ".snap"]) <= 2
    for v in (dev.b, dev.a, dev.b):
        report = SyncEngine(v, compact_after=4).sync()
        assert not report.pending and not report.rollbacks
    assert _notes(dev.b) == _notes(dev.a)
    assert len(list(dev.log(dev.a).iterdir())) <= 4 + 2


class DyingFolder(RemoteFolder):
    """The process dies right after its file lands, before it can record it."""

    def write(self, device: str, name: str, data: bytes, area: str = "log") -> None:
        super().write(device, name, data, area)
        if area == "log":
            raise KeyboardInterrupt


def test_killed_after_writing_adopts_the_file(dev: Devices) -> None:
    note = dev.a.create_note("Killed", "x")
    with pytest.raises(KeyboardInterrupt):
        SyncEngine(dev.a, DyingFolder(dev.folder)).sync()
    files = len(list(dev.log(dev.a).iterdir()))
    report = dev.sync(dev.a)
    assert report.pushed == 0 and len(list(dev.log(dev.a).iterdir())) == files
    dev.sync(dev.b)
    assert dev.b.note(note.id).body == "x"


def test_a_copied_vault_continues_as_a_new_device(dev: Devices) -> None:
    twin_path = dev.folder.parent / "twin"
    dev.a.store.close()
    shutil.copytree(dev.a.path, twin_path)
    dev.opened.remove(dev.b)
    a = Vault.unlock(dev.a.path, password=PASSWORD)
    twin = Vault.unlock(twin_path, password=PASSWORD)
    dev.opened += [a, twin, dev.b]
    a.create_note("on a", "1")
    twin.create_note("on the twin", "2")
    SyncEngine(a).sync()
    report = SyncEngine(twin).sync()
    assert any("copied" in w for w in report.warnings)
    assert twin.store.device_id != a.store.device_id
    for v in (twin, a, dev.b, twin, a, dev.b):
        SyncEngine(v).sync()
    titles = {n.title for n in dev.b.all_notes()}
    assert {"on a", "on the twin"} <= titles
    assert _notes(a) == _notes(twin) == _notes(dev.b)


def test_status_counts_unsent_changes_and_conflicts(dev: Devices) -> None:
    engine = SyncEngine(dev.a)
    assert engine.status().unpushed == 0
    dev.a.create_note("unsent", "x")
    status = engine.status()
    assert status.unpushed == 1 and status.last_sync is not None and status.conflicts == 0
    report = engine.sync()
    assert report.pushed == 1 and engine.status().unpushed == 0
    assert json.loads(json.dumps(report.to_json()))["pushed"] == 1


def test_moving_to_a_new_folder_starts_clean(dev: Devices) -> None:
    dev.b.create_note("Only on b so far", "x")
    dev.both()
    moved = dev.folder.parent / "moved"
    for v in (dev.a, dev.b):
        set_remote(v.store, moved)
    reports = [dev.sync(v) for v in (dev.a, dev.b, dev.a)]
    assert all(not r.rollbacks and not r.pending for r in reports)
    assert reports[0].pushed == len(list(dev.a.store.all_ops()))  # everything, once
    assert _notes(dev.a) == _notes(dev.b)
    c, _ = clone(moved, dev.folder.parent / "c", password=PASSWORD)
    dev.opened.append(c)
    assert _notes(c) == _notes(dev.a)


def test_a_pin_on_one_device_and_an_edit_on_the_other_merge_with_the_edits_time(
    dev: Devices,
) -> None:
    seed = next(n for n in dev.a.all_notes() if n.title == "Seed")
    edited = dev.b.update_note(dev.b.note(seed.id), body="one\ntwo\nthree\nfour\n")
    dev.a.update_note(dev.a.note(seed.id), pinned=True, tags=["start", "pinned"])  # later
    dev.both()
    for v in (dev.a, dev.b):
        merged = v.note(seed.id)
        assert (merged.pinned, merged.body, merged.conflict) == (True, edited.body, False)
        assert merged.modified == edited.modified
