"""The indexes that make the unlock scan of the history cheap (store._SCAN_INDEXES): the scan
reads the same values through them as from the tables, a store without them (an older one, or
one whose indexes were dropped) gets them at its next open and is checked the same way in the
meantime, and a row rewritten through SQL is seen through the index as it is in the table."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from vault.errors import VaultError
from vault.notes.vault import Vault
from vault.storage.store import Store


def _db(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path / "store.sqlite", isolation_level=None)


def _indexes(path: Path) -> set[str]:
    db = _db(path)
    try:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        db.close()


def _history(vault: Vault) -> tuple[str, str]:
    """A note with two versions and a second note; returns (edited id, its first op id)."""
    note = vault.create_note("first", "one")
    first_op = note.version
    vault.update_note(note, body="two")
    vault.create_note("second", "other")
    return note.id, first_op


def test_scan_through_the_index_equals_the_table(
    make_vault: Callable[..., tuple[Vault, str]], vault_path: Path
) -> None:
    vault, _ = make_vault()
    _history(vault)
    vault.lock()
    store = Store.open(vault_path)
    try:
        assert {"ops_scan", "items_scan"} <= _indexes(vault_path)
        plan = store.query("EXPLAIN QUERY PLAN SELECT op_id, device FROM ops INDEXED BY ops_scan")
        assert "ops_scan" in str(plan)
        through_index = store.scan_history(tails=True)
        store.query("DROP INDEX ops_scan")
        store.query("DROP INDEX items_scan")
        from_table = store.scan_history(tails=True)
    finally:
        store.close()
    assert through_index == from_table
    assert through_index.shown and not through_index.wrong and not through_index.headless


def test_an_older_store_gets_the_indexes_at_its_next_open(
    make_vault: Callable[..., tuple[Vault, str]], vault_path: Path
) -> None:
    vault, _ = make_vault()
    _history(vault)
    vault.lock()
    db = _db(vault_path)
    db.execute("DROP INDEX ops_scan")
    db.execute("DROP INDEX items_scan")
    db.close()
    with Vault.unlock(vault_path, password=PASSWORD) as reopened:
        assert {n.title for n in reopened.notes()} == {"first", "second"}
    assert {"ops_scan", "items_scan"} <= _indexes(vault_path)


def test_a_rewritten_row_is_seen_through_the_index(
    make_vault: Callable[..., tuple[Vault, str]], vault_path: Path
) -> None:
    """Rolling the shown version back through SQL (index tables and all) is still caught: the
    index copies the rewritten ops row, so the derived heads disagree with the forged ones."""
    vault, _ = make_vault()
    item_id, first_op = _history(vault)
    vault.lock()
    db = _db(vault_path)
    # Hide the newer version's parent link: the old version becomes a head again.
    db.execute(
        "UPDATE ops SET parents = '[]' WHERE item_id = ? AND op_id != ?", (item_id, first_op)
    )
    db.close()
    with Vault.unlock(vault_path, password=PASSWORD) as reopened:
        assert item_id in reopened.index_repaired or item_id in reopened.corrupt


def test_a_scan_made_before_another_commit_is_not_used(
    make_vault: Callable[..., tuple[Vault, str]], vault_path: Path
) -> None:
    """Unlocking scans while the KDF runs; a note saved by another process meanwhile must
    still be shown, so a scan older than the store's last commit is made again."""
    vault, _ = make_vault()
    _history(vault)
    vault.lock()
    store = Store.open(vault_path)
    early = store.scan_history(rebuild=False)
    with Vault.unlock(vault_path, password=PASSWORD) as other:
        other.create_note("third", "made while the first was unlocking")
    key = Vault.unwrap_master_key(vault_path, password=PASSWORD)
    with Vault(store, key, scan=early) as opened:
        assert {n.title for n in opened.notes()} == {"first", "second", "third"}


def test_the_scan_during_the_kdf_writes_nothing_until_the_password_is_right(
    make_vault: Callable[..., tuple[Vault, str]], vault_path: Path
) -> None:
    vault, _ = make_vault()
    item_id, _ = _history(vault)
    vault.lock()
    db = _db(vault_path)
    db.execute("UPDATE items SET conflict = 1 WHERE item_id = ?", (item_id,))  # an edited index
    store = Store.open(vault_path)
    scan = store.scan_history(rebuild=False)
    assert item_id in scan.wrong
    assert db.execute("SELECT conflict FROM items WHERE item_id = ?", (item_id,)).fetchone() == (1,)
    with pytest.raises(VaultError):
        Vault.unlock(vault_path, password="not the password")
    assert db.execute("SELECT conflict FROM items WHERE item_id = ?", (item_id,)).fetchone() == (1,)
    store.close()
    with Vault.unlock(vault_path, password=PASSWORD) as opened:
        assert item_id in opened.index_repaired
    assert db.execute("SELECT conflict FROM items WHERE item_id = ?", (item_id,)).fetchone() == (0,)
    db.close()


def test_a_prepared_scan_lets_go_of_its_rows_unless_the_index_needs_them(
    make_vault: Callable[..., tuple[Vault, str]], vault_path: Path
) -> None:
    """Once prepared (the commitment's messages made), a scan holds no ops rows: unlocking
    decrypts the notes meanwhile. What the index is rebuilt from stays if it is wrong."""
    vault, _ = make_vault()
    item_id, _ = _history(vault)
    vault.lock()
    store = Store.open(vault_path)
    try:
        scan = store.scan_history(rebuild=False)
        rows = len(scan.rows)
        assert rows == scan.count == 3 and scan.found  # 3 versions of 2 notes
        assert scan.prepare() is scan
        assert len(scan.prepared["messages"]) == rows
        assert (scan.rows, scan.found, scan.count) == ([], {}, rows)
    finally:
        store.close()
    db = _db(vault_path)
    db.execute("UPDATE items SET conflict = 1 WHERE item_id = ?", (item_id,))  # an edited index
    db.close()
    store = Store.open(vault_path)
    try:
        scan = store.scan_history(rebuild=False).prepare()
        assert item_id in scan.wrong and item_id in scan.found and not scan.rows
    finally:
        store.close()
    with Vault.unlock(vault_path, password=PASSWORD) as opened:
        assert item_id in opened.index_repaired and opened.history_incident is None
