"""The tamper table, grown by the attacks on history (format version 2): an attacker who can
write store.sqlite but has no key rewrites what a version claims about itself. Every case is
caught when the vault opens and by `vault check`, as one line naming the item, and every other
note still opens; a forged deletion never reaches the sync folder or another device."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import CLI, PASSWORD
from vault.errors import CorruptItemError
from vault.notes.vault import SNAPSHOT_MIN_ITEMS, Vault
from vault.sealing import crypto
from vault.sealing.crypto import TEST_KDF
from vault.sync import SyncEngine, clone, set_remote
from vault.sync.segments import open_file, sync_key

Ids = list[str]


def _db(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path / "store.sqlite", isolation_level=None)


def _ops(db: sqlite3.Connection, item_id: str) -> list[tuple]:
    """(op_id, parents, deleted, envelope, device) of an item's versions, oldest first."""
    return db.execute(
        "SELECT op_id, parents, deleted, envelope, device FROM ops WHERE item_id = ? ORDER BY seq",
        (item_id,),
    ).fetchall()


def _current(db: sqlite3.Connection, item_id: str) -> tuple:
    return _ops(db, item_id)[-1]


def _set(db: sqlite3.Connection, which: str, **columns: object) -> None:
    for column, value in columns.items():
        db.execute(f"UPDATE ops SET {column} = ? WHERE op_id = ?", (value, which))


def _reindex(db: sqlite3.Connection, item_id: str, op_id: str, deleted: int = 0) -> None:
    """What an attacker also edits so the index agrees with the forged row (as the version 1
    code would have trusted it)."""
    db.execute("DELETE FROM heads WHERE item_id = ?", (item_id,))
    db.execute("INSERT INTO heads(item_id, op_id) VALUES (?, ?)", (item_id, op_id))
    db.execute(
        "UPDATE items SET op_id = ?, deleted = ?, envelope = "
        "(SELECT envelope FROM ops WHERE op_id = ?) WHERE item_id = ?",
        (op_id, deleted, op_id, item_id),
    )


def older_envelope_over_current(db: sqlite3.Connection, ids: Ids) -> None:
    older, current = _ops(db, ids[0])[0], _current(db, ids[0])
    _set(db, current[0], envelope=older[3])
    db.execute("UPDATE items SET envelope = ? WHERE item_id = ?", (older[3], ids[0]))


def older_version_made_current(db: sqlite3.Connection, ids: Ids) -> None:
    """The older version's own row and envelope, named current by the index, with the newer
    version's row rewritten so that nothing names the older one as its parent."""
    older, current = _ops(db, ids[0])[0], _current(db, ids[0])
    _set(db, current[0], parents="[]")
    _reindex(db, ids[0], older[0])


def envelope_swapped_between_items(db: sqlite3.Connection, ids: Ids) -> None:
    other = _current(db, ids[1])
    _set(db, _current(db, ids[0])[0], envelope=other[3])


def parents_rewritten(db: sqlite3.Connection, ids: Ids) -> None:
    older = _ops(db, ids[0])[0][0]  # still named, so the version stays the only head
    _set(db, _current(db, ids[0])[0], parents=json.dumps([older, crypto.random_id()]))


def deleted_flag_flipped(db: sqlite3.Connection, ids: Ids) -> None:
    current = _current(db, ids[0])
    _set(db, current[0], deleted=1)
    _reindex(db, ids[0], current[0], deleted=1)


def device_changed(db: sqlite3.Connection, ids: Ids) -> None:
    _set(db, _current(db, ids[0])[0], device=crypto.random_id())


def tombstone_row_inserted(db: sqlite3.Connection, ids: Ids) -> None:
    insert_tombstone(db, ids[0])


def op_id_changed(db: sqlite3.Connection, ids: Ids) -> None:
    current = _current(db, ids[0])
    forged = crypto.random_id()
    _set(db, current[0], op_id=forged)
    _reindex(db, ids[0], forged)


def insert_tombstone(db: sqlite3.Connection, item_id: str) -> str:
    """A deletion written as the version 1 code wrote one: a row, no envelope, and the index."""
    current = _current(db, item_id)
    op_id = crypto.random_id()
    db.execute(
        "INSERT INTO ops(op_id, item_id, kind, parents, deleted, envelope, device) "
        "VALUES (?, ?, 'note', ?, 1, NULL, ?)",
        (op_id, item_id, json.dumps([current[0]]), current[4]),
    )
    db.execute("INSERT INTO edges(parent, child) VALUES (?, ?)", (current[0], op_id))
    _reindex(db, item_id, op_id, deleted=1)
    return op_id


HISTORY_ATTACKS: dict[str, Callable[[sqlite3.Connection, Ids], None]] = {
    "older envelope copied over the current one": older_envelope_over_current,
    "older version made current": older_version_made_current,
    "envelope swapped between items": envelope_swapped_between_items,
    "parents rewritten": parents_rewritten,
    "deleted flag flipped": deleted_flag_flipped,
    "device changed": device_changed,
    "tombstone row inserted": tombstone_row_inserted,
    "op id changed": op_id_changed,
}


def _make(path: Path, extra: int = 0) -> tuple[Ids, dict[str, tuple[str, str]]]:
    """Three notes with history (and `extra` more, for a vault big enough for a snapshot)."""
    vault, _ = Vault.create(path, PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
    ids = []
    for i in range(3):
        note = vault.create_note(f"Note {i}", f"body {i} v1")
        note = vault.update_note(note, body=f"body {i} v2")
        ids.append(note.id)
    with vault.batch():
        for i in range(extra):
            vault.create_note(f"Filler {i}", "x")
    shown = {n.id: (n.title, n.body) for n in vault.all_notes()}
    vault.lock()
    return ids, shown


@pytest.mark.parametrize("snapshot", [False, True], ids=["no snapshot", "with snapshot"])
@pytest.mark.parametrize("attack", list(HISTORY_ATTACKS))
def test_history_attack_is_caught_by_open_and_by_check(
    vault_path: Path, cli: CLI, attack: str, snapshot: bool
) -> None:
    ids, shown = _make(vault_path, extra=SNAPSHOT_MIN_ITEMS if snapshot else 0)
    assert (vault_path / "snapshot.sealed").exists() == snapshot
    db = _db(vault_path)
    HISTORY_ATTACKS[attack](db, ids)
    db.close()
    with Vault.unlock(vault_path, password=PASSWORD) as vault:
        assert list(vault.corrupt) == [ids[0]], vault.corrupt
        assert "\n" not in vault.corrupt[ids[0]] and ids[0][:8] in vault.corrupt[ids[0]]
        with pytest.raises(CorruptItemError):
            vault.note(ids[0])
        rest = {n.id: (n.title, n.body) for n in vault.all_notes()}
        assert rest == {i: v for i, v in shown.items() if i != ids[0]}
        report = vault.check()
        assert ids[0] in report.corrupt and not report.ok
    result = cli("check")
    assert result.returncode == 1
    assert "damaged: " in result.stdout and ids[0][:8] in result.stdout


def test_a_forged_tombstone_never_reaches_the_folder_or_another_device(
    tmp_path: Path, make_vault: Callable[..., tuple[Vault, str]]
) -> None:
    a_path, folder = tmp_path / "a", tmp_path / "shared"
    a, _ = make_vault(a_path)
    keep = a.create_note("Keep me", "precious")
    keep = a.update_note(keep, body="precious, edited")
    set_remote(a.store, folder)
    SyncEngine(a).sync()
    b, _ = clone(folder, tmp_path / "b", password=PASSWORD)
    a.lock()

    db = _db(a_path)
    forged = insert_tombstone(db, keep.id)
    db.close()

    with Vault.unlock(a_path, password=PASSWORD) as a:
        assert keep.id in a.corrupt  # not hidden as deleted: refused as tampered
        report = SyncEngine(a).sync()
        assert report.pushed == 0
        assert any(keep.id[:8] in w and "not sent" in w for w in report.warnings)
        key = sync_key(a.master_key)
        for path in (folder / "log").rglob("*.seg"):
            chain = open_file(key, a.vault_id, path.read_bytes(), path.name)
            assert forged not in {op.op_id for op in chain.ops}
    try:
        SyncEngine(b).sync()
        assert b.note(keep.id).body == "precious, edited"
        assert len(b.note_history(b.note(keep.id))) == 2
    finally:
        b.lock()


def test_an_index_only_edit_is_rebuilt_from_the_sealed_history(vault_path: Path) -> None:
    """Pointing `items`/`heads` at an older version (the ops rows untouched) shows the true
    current version, and check says the index had been altered."""
    ids, shown = _make(vault_path)
    db = _db(vault_path)
    _reindex(db, ids[0], _ops(db, ids[0])[0][0])
    db.close()
    with Vault.unlock(vault_path, password=PASSWORD) as vault:
        assert {n.id: (n.title, n.body) for n in vault.all_notes()} == shown
        report = vault.check()
        assert list(report.corrupt) == [ids[0]] and "index" in report.corrupt[ids[0]]
    with Vault.unlock(vault_path, password=PASSWORD) as vault:
        assert vault.check().ok  # rebuilt for good


# --- any metadata of any row ---------------------------------------------------------------

_COLUMNS = ("op_id", "item_id", "kind", "parents", "deleted", "device", "envelope")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("pristine") / "vault"
    vault, _ = Vault.create(path, PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
    notes = []
    for i in range(3):
        note = vault.create_note(f"Note {i}", f"body {i}", tags=["t"])
        for v in range(i + 1):
            note = vault.update_note(note, body=f"body {i} v{v}")
        notes.append(note)
    vault.trash_note(notes[2])
    gone = vault.create_note("Gone", "purged")
    vault.purge_note(gone)
    shown = {n.id: (n.version, n.title, n.body, n.trashed) for n in vault.all_notes()}
    vault.lock()
    return path, shown


@settings(max_examples=60)
@given(data=st.data())
def test_rewriting_any_metadata_of_any_row_is_refused_or_harmless(
    pristine: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """Whatever column of whatever ops row is rewritten: the vault opens, and each note is
    either refused with one line naming it or shown exactly as it was; nothing appears."""
    source, shown = pristine
    path = tmp_path_factory.mktemp("mutated") / "vault"
    shutil.copytree(source, path)
    db = _db(path)
    rows = db.execute(f"SELECT seq, {', '.join(_COLUMNS)} FROM ops ORDER BY seq").fetchall()
    row = data.draw(st.sampled_from(rows), label="row")
    column = data.draw(st.sampled_from(_COLUMNS), label="column")
    index = _COLUMNS.index(column) + 1
    others = sorted({r[index] for r in rows if r[index] != row[index]}, key=str)
    candidates: list[object] = [] if column == "op_id" else list(others)  # op_id is UNIQUE
    if column in ("op_id", "item_id", "device"):
        candidates.append(crypto.random_id())
    if column == "parents":
        candidates += ["[]", json.dumps([crypto.random_id()]), "not json", "{}"]
    if column == "deleted":
        candidates = [1 - int(row[index])]
    if column == "envelope":
        candidates.append(None)
    value = data.draw(st.sampled_from([c for c in candidates if c != row[index]]), label="value")
    db.execute(f"UPDATE ops SET {column} = ? WHERE seq = ?", (value, row[0]))
    if data.draw(st.booleans(), label="also fix the index"):
        db.execute("DELETE FROM items")  # the reader must rebuild it from the ops rows
    db.close()
    with Vault.unlock(path, password=PASSWORD) as vault:
        for reason in vault.corrupt.values():
            assert "\n" not in reason
        now = {n.id: (n.version, n.title, n.body, n.trashed) for n in vault.all_notes()}
        assert set(now) <= set(shown)
        for note_id, before in shown.items():
            if note_id in now:
                assert now[note_id] == before
            else:
                assert note_id in vault.corrupt
        assert not vault.check().ok
