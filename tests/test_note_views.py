"""The lists of notes the app shows per view (vault.notes.editing `Notes.notes`, filtered in C
passes) against their definitions, and the app's views kept for going back to them
(vault.tui.data `NoteSource`): the same list while nothing changed, a fresh one after."""

from __future__ import annotations

from vault.notes.editing import sort_notes
from vault.notes.vault import Vault
from vault.tui.data import ALL, TRASH, NoteSource, Target

# Tags whose case folds meet in ways `str.lower` would miss: ß, dotted İ, ǅ, final sigma.
TAGS = ["Straße", "STRASSE", "İstanbul", "i̇stanbul", "ǅemal", "ǆemal", "ΣΟΦΟΣ", "σοφος", "plain"]


def _reference(vault: Vault, notebook=None, tag=None, trashed=False, pinned=None, sort="modified"):
    """`Notes.notes` as it is defined: one comprehension per filter, as it was written."""
    notes = [n for n in vault.all_notes() if n.in_trash == trashed]
    if notebook is not None:
        inside = vault.notebook_descendants(notebook)
        notes = [n for n in notes if n.notebook in inside]
    if tag is not None:
        notes = [n for n in notes if any(t.casefold() == tag.casefold() for t in n.tags)]
    if pinned is not None:
        notes = [n for n in notes if n.pinned == pinned]
    return sort_notes(notes, sort)


def test_each_view_lists_what_its_definition_lists(vault: Vault) -> None:
    top, _ = vault.ensure_notebook("Top")
    inner, _ = vault.ensure_notebook("Top/Inner")
    other, _ = vault.ensure_notebook("Other")
    books = [None, top.id, inner.id, other.id]
    made = []
    for i in range(36):
        tags = [TAGS[i % len(TAGS)], TAGS[(i * 5 + 1) % len(TAGS)]][: 1 + i % 2]
        note = vault.create_note(
            f"Note {i}", "", notebook=books[i % 4], tags=tags, pinned=i % 7 == 0
        )
        made.append(note)
    for note in made[::5]:
        vault.trash_note(note)
    for trashed in (False, True):
        for notebook in (None, top.id, inner.id, other.id):
            for tag in (None, *TAGS, "STRASSE", "straße", "ΣΟΦΟΣ", "nothing"):
                for pinned in (None, True, False):
                    for sort in ("modified", "title"):
                        args = dict(notebook=notebook, tag=tag, trashed=trashed, pinned=pinned)
                        got = vault.notes(**args, sort=sort)
                        assert got == _reference(vault, **args, sort=sort), (args, sort)


def test_a_view_gone_back_to_is_the_same_list_until_the_vault_changes(vault: Vault) -> None:
    top, _ = vault.ensure_notebook("Top")
    for i in range(6):
        vault.create_note(f"Note {i}", "", notebook=top.id if i % 2 else None, tags=["t"])
    source = NoteSource(vault)
    every = source.base(ALL, "modified")
    inside = source.base(Target("notebook", top.id), "modified")
    tagged = source.base(Target("tag", "t"), "modified")
    assert len(every) == 6 and len(inside) == 3 and len(tagged) == 6
    assert source.base(ALL, "modified") is every  # kept: nothing changed
    assert source.base(Target("notebook", top.id), "modified") is inside
    assert source.base(ALL, "title") is not every  # another order is another view
    vault.create_note("Newer", "", notebook=top.id)
    again = source.base(ALL, "modified")
    assert again is not every and len(again) == 7  # the store changed: read again
    assert len(source.base(Target("notebook", top.id), "modified")) == 4
    assert source.base(TRASH, "modified") == []
    source.clear()
    assert source.base(ALL, "modified") is not again
