"""Conflicts that could grow: an edit on one version of a real conflict, copies that share a
title, a conflict named differently on each device."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from vault.notes.vault import Vault
from vault.sync import (
    SyncEngine,
    blocks_edit,
    clone,
    get_conflict,
    list_conflicts,
    resolve,
    set_remote,
)

MakeVault = Callable[..., tuple[Vault, str]]


@pytest.fixture
def three(tmp_path: Path, make_vault: MakeVault):
    folder = tmp_path / "shared"
    a, _ = make_vault(tmp_path / "a")
    set_remote(a.store, folder)
    note = a.create_note("Minutes", "agenda\n")
    SyncEngine(a).sync()
    b, _ = clone(folder, tmp_path / "b", password=PASSWORD)
    c, _ = clone(folder, tmp_path / "c", password=PASSWORD)
    yield a, b, c, note.id
    for v in (a, b, c):
        v.lock()


def _sync_all(*vaults: Vault, rounds: int = 2) -> None:
    for _ in range(rounds):
        for v in vaults:
            SyncEngine(v).sync()


def test_a_real_conflict_blocks_edits_until_settled(three) -> None:
    a, b, _, note_id = three
    a.update_note(a.note(note_id), body="agenda from a\n")
    b.update_note(b.note(note_id), body="agenda from b\n")
    _sync_all(a, b)
    assert get_conflict(a, note_id) is not None
    assert blocks_edit(a, note_id) and blocks_edit(b, note_id)
    resolve(a, note_id, "mine")
    assert not blocks_edit(a, note_id)
    _sync_all(a, b)
    assert not blocks_edit(b, note_id)


def test_a_fork_that_merges_is_merged_before_the_edit(three, tmp_path: Path) -> None:
    a, _, _, note_id = three
    other = Vault.unlock(a.path, password=PASSWORD)  # a second process on device a
    try:
        stale = other.note(note_id)
        a.update_note(a.note(note_id), title="Minutes (draft)")
        other.update_note(stale, body="agenda\nitem\n")
        assert a.store.item(note_id).conflict
        assert not blocks_edit(a, note_id)  # merged on the spot: nothing to settle
        note = a.note(note_id)
        assert (note.title, note.body, note.conflict) == (
            "Minutes (draft)",
            "agenda\nitem\n",
            False,
        )
    finally:
        other.lock()


def test_keep_both_of_three_versions_gives_distinct_titles(three) -> None:
    a, b, c, note_id = three
    for v, text in ((a, "A\n"), (b, "B\n"), (c, "C\n")):
        v.update_note(v.note(note_id), body=text)
    _sync_all(a, b, c)
    conflict = get_conflict(a, note_id)
    assert conflict is not None and len(conflict.versions) == 3
    resolve(a, note_id, "both")
    _sync_all(a, b, c)
    for v in (a, b, c):
        titles = sorted(n.title for n in v.all_notes())
        assert titles == ["Minutes", "Minutes (conflicted copy 1)", "Minutes (conflicted copy 2)"]
        assert sorted(n.body for n in v.all_notes()) == ["A\n", "B\n", "C\n"]
        assert not list_conflicts(v)


def test_a_conflict_has_the_same_title_on_every_device(three) -> None:
    a, b, _, note_id = three
    a.update_note(a.note(note_id), title="Minutes A", body="a\n")
    b.update_note(b.note(note_id), title="Minutes B", body="b\n")
    _sync_all(a, b)
    on_a, on_b = get_conflict(a, note_id), get_conflict(b, note_id)
    assert on_a is not None and on_b is not None
    assert on_a.mine.version != on_b.mine.version  # each lists its own first...
    assert on_a.title == on_b.title  # ...but names the conflict alike
