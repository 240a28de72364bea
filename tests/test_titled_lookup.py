"""Naming a note by its exact title without building every note (`Vault.unlock(titled=...)`,
vault.notes.lookup.note_titled): the snapshot's listing narrows which notes are read, and the
answer is always the one `find_note` gives over every note, whatever changed since the
snapshot (a rename, a new note, a deletion, a row rewritten without the key)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CLI, PASSWORD
from vault.errors import VaultError
from vault.notes import lookup
from vault.notes.model import has_body
from vault.notes.vault import SNAPSHOT_MIN_ITEMS, Vault

COUNT = SNAPSHOT_MIN_ITEMS + 20


@pytest.fixture
def big(make_vault: Callable[..., tuple[Vault, str]], vault_path: Path) -> Path:
    vault, _ = make_vault()
    with vault.store.transaction():
        nb = vault.create_notebook("Book")
        for n in range(COUNT):
            vault.create_note(f"Note {n:03}", f"body {n}", notebook=nb.id, tags=["t"])
        vault.create_note("Twice", "first")
        vault.create_note("Twice", "second")
        vault.trash_note(vault.create_note("Trashed and live", "old"))
        vault.create_note("Trashed and live", "live")
    vault.lock()
    return vault_path


def answer(path: Path, ref: str, *, titled: bool) -> str:
    """What naming `ref` gives: the note's id and body, or the error's type and message."""
    vault = Vault.unlock(
        path, password=PASSWORD, bodies=False, titled=ref.strip() if titled else None
    )
    try:
        note = lookup.note_titled(vault, ref) if titled else None
        if note is None:
            note = vault.note(lookup.find_note(vault, ref).id)
        assert has_body(note)
        return f"{note.id} {note.body}"
    except VaultError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        vault._unsnapped = 0  # (the snapshot stays as each test made it)
        vault.lock()


REFS = ["Note 007", " Note 007 ", "Note 00", "note 007", "Twice", "Trashed and live", "nothing"]


def test_the_exact_title_is_found_without_building_every_note(big: Path) -> None:
    with Vault.unlock(big, password=PASSWORD, bodies=False, titled="Note 007") as vault:
        assert vault.titled is not None and [n.title for n in vault.titled] == ["Note 007"]
        assert not has_body(vault.titled[0])
        assert len(vault._items) < 10  # the notebook and the tag, no note
        with pytest.raises(RuntimeError):
            vault.all_notes()  # a view without the notes
        note = lookup.note_titled(vault, "Note 007")
        assert note is not None and note.body == "body 7"
        assert vault.notebook_path(note.notebook) == "Book"
    assert vault.titled is None  # locking forgets them with every decrypted item


@pytest.mark.parametrize("ref", REFS)
def test_the_answer_is_the_one_every_note_gives(big: Path, ref: str) -> None:
    assert answer(big, ref, titled=True) == answer(big, ref, titled=False)


def test_changes_since_the_snapshot_are_read_from_the_store(big: Path) -> None:
    """A rename, a new note and a deletion after the snapshot was sealed (too few changes to
    seal it again): the stale entries are not used, the store decides."""
    with Vault.unlock(big, password=PASSWORD) as vault:
        seven = vault.find_note("Note 007")
        vault.update_note(seven, title="Renamed")
        vault.create_note("Note 007", "a newcomer")
        vault.trash_note(vault.find_note("Note 008"))
        vault._unsnapped = 0  # (no new snapshot at this lock: the old one is stale)
    for ref in ["Note 007", "Renamed", "Note 008", *REFS]:
        assert answer(big, ref, titled=True) == answer(big, ref, titled=False)
    assert answer(big, "Note 007", titled=True).endswith(" a newcomer")
    with Vault.unlock(big, password=PASSWORD, bodies=False, titled="Renamed") as vault:
        assert vault.titled is not None and [n.body for n in vault.titled] == ["body 7"]
        vault._unsnapped = 0


def test_a_row_rewritten_without_the_key_is_never_vouched_for(big: Path) -> None:
    with Vault.unlock(big, password=PASSWORD) as vault:
        victim = vault.find_note("Note 009")
        vault._unsnapped = 0
    db = sqlite3.connect(big / "store.sqlite")
    with db:
        db.execute("UPDATE ops SET device = 'forged' WHERE op_id = ?", (victim.version,))
    db.close()
    for ref in ["Note 009", "Note 010"]:
        assert answer(big, ref, titled=True) == answer(big, ref, titled=False)
    assert not answer(big, "Note 009", titled=True).startswith(victim.id)


def test_show_and_history_by_title(cli: CLI, big: Path) -> None:
    """The real command: `show TITLE` (and `--json`, `history TITLE`) as before."""
    shown = cli("show", "Note 012", check=True)
    assert shown.stdout.startswith("Note 012\n") and "in Book" in shown.stdout
    assert "body 12" in shown.stdout
    twice = cli("show", "Twice")
    assert twice.returncode != 0 and "matches 2 notes" in twice.stderr
    assert len(twice.stderr.strip().splitlines()) >= 1 and "Traceback" not in twice.stderr
    assert cli("show", "Note 01").returncode != 0  # a prefix of several: every note decides
    assert cli("history", "Note 012", check=True).stdout.count("Note 012") == 1
    assert cli("show", "Trashed and live", "--raw", check=True).stdout == "live"
