"""The domain API: notes, notebooks, tags, trash, search, history, passwords and rekey."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from vault.errors import (
    AmbiguousError,
    InvalidInputError,
    NotFoundError,
    RecoveryKeyError,
    WrongPasswordError,
)
from vault.notes.vault import Vault


def test_note_life_cycle(vault: Vault, vault_path) -> None:
    note = vault.create_note("  Groceries  list ", "milk\n", tags=["home", "#Errands"])
    assert note.title == "Groceries list"
    assert note.tags == ("home", "Errands")
    note = vault.update_note(note, body="milk\neggs\n", pinned=True)
    note = vault.trash_note(note)
    assert vault.notes() == [] and [n.id for n in vault.notes(trashed=True)] == [note.id]
    assert not note.pinned  # trashing unpins
    note = vault.restore_note(note)
    assert [n.body for n in vault.notes()] == ["milk\neggs\n"]
    vault.lock()
    with Vault.unlock(vault_path, password=PASSWORD) as again:
        (n,) = again.all_notes()
        assert (n.title, n.body, n.tags) == ("Groceries list", "milk\neggs\n", ("home", "Errands"))


def test_unchanged_save_writes_nothing(vault: Vault) -> None:
    note = vault.create_note("A", "b")
    same = vault.update_note(note, body="b", title="A")
    assert same.version == note.version
    assert len(vault.store.history(note.id)) == 1


def test_empty_title_is_refused(vault: Vault) -> None:
    with pytest.raises(InvalidInputError):
        vault.create_note("   ")


def test_find_note_by_id_prefix_title_and_ambiguity(vault: Vault) -> None:
    a = vault.create_note("Meeting", "1")
    b = vault.create_note("Meeting", "2")
    c = vault.create_note("Unique Title", "3")
    assert vault.find_note(c.id).id == c.id
    assert vault.find_note(c.id[:6]).id == c.id
    assert vault.find_note("Unique Title").id == c.id
    assert vault.find_note("unique title").id == c.id
    with pytest.raises(AmbiguousError) as info:
        vault.find_note("Meeting")
    assert a.id[:8] in str(info.value) and b.id[:8] in str(info.value)
    with pytest.raises(NotFoundError):
        vault.find_note("nothing like it")


def test_nested_notebooks(vault: Vault) -> None:
    projects, created = vault.ensure_notebook("Work/Projects")
    assert created
    again, created = vault.ensure_notebook("work/projects")
    assert again.id == projects.id and not created
    work = vault.find_notebook("Work")
    assert vault.notebook_path(projects.id) == "Work/Projects"
    n1 = vault.create_note("In projects", notebook=projects.id)
    n2 = vault.create_note("In work", notebook=work.id)
    vault.create_note("Top level")
    assert {n.id for n in vault.notes(notebook=work.id)} == {n1.id, n2.id}
    assert [n.id for n in vault.notes(notebook=projects.id)] == [n1.id]
    with pytest.raises(InvalidInputError, match="inside itself"):
        vault.move_notebook(work, projects.id)
    vault.rename_notebook(projects, "Active")
    assert vault.notebook_path(projects.id) == "Work/Active"
    vault.move_notebook(vault.notebook(projects.id), None)
    assert vault.notebook_path(projects.id) == "Active"
    assert [nb.name for nb in vault.notebooks()] == ["Active", "Work"]
    with pytest.raises(InvalidInputError, match="'/'"):
        vault.create_notebook("a/b")


def test_no_rename_or_move_makes_two_notebooks_of_one_name_side_by_side(vault: Vault) -> None:
    """`vault notebook move Home/Projects Work` beside Work/Projects made two "Work/Projects",
    and neither could be named again (found by a first-hour test; the app's rename too)."""
    work, _ = vault.ensure_notebook("Work/Projects")
    home, _ = vault.ensure_notebook("Home/Projects")
    misc, _ = vault.ensure_notebook("Work/Misc")
    top = vault.find_notebook("Work")
    with pytest.raises(InvalidInputError, match="Work already has a notebook named 'Projects'"):
        vault.move_notebook(home, top.id)
    with pytest.raises(InvalidInputError, match="already has a notebook named 'Projects'"):
        vault.rename_notebook(misc, "PROJECTS")  # case aside, as a path is looked up
    with pytest.raises(InvalidInputError, match="the top level already has a notebook named"):
        vault.rename_notebook(vault.find_notebook("Home"), "work")
    renamed = vault.rename_notebook(vault.notebook(misc.id), "misc")  # itself, another case
    assert vault.notebook_path(renamed.id) == "Work/misc"
    moved = vault.move_notebook(vault.notebook(home.id), None)  # nothing there by that name
    assert vault.notebook_path(moved.id) == "Projects" and work.id != moved.id
    paths = sorted(vault.notebook_path(nb.id) for nb in vault.notebooks())
    assert paths == ["Home", "Projects", "Work", "Work/Projects", "Work/misc"]


def test_deleting_a_notebook_trashes_its_notes_and_restore_goes_to_top(vault: Vault) -> None:
    sub, _ = vault.ensure_notebook("Old/Sub")
    note = vault.create_note("Keep me", "important", notebook=sub.id)
    trashed = vault.delete_notebook(vault.find_notebook("Old"))
    assert trashed == 1 and vault.notebooks() == []
    (in_trash,) = vault.notes(trashed=True)
    restored = vault.restore_note(in_trash)
    assert restored.id == note.id and restored.notebook is None and restored.body == "important"


def test_tags_registry_rename_and_delete(vault: Vault) -> None:
    a = vault.create_note("A", tags=["Work", "urgent"])
    vault.create_note("B", tags=["work"])  # same tag, other case: the registry's spelling wins
    assert [(t.name, t.notes) for t in vault.tags()] == [("urgent", 1), ("Work", 2)]
    assert vault.note(a.id).tags == ("Work", "urgent")
    assert vault.rename_tag("work", "Job") == 2
    assert [(t.name, t.notes) for t in vault.tags()] == [("Job", 2), ("urgent", 1)]
    assert vault.delete_tag("urgent") == 1
    assert vault.note(a.id).tags == ("Job",)
    assert {n.title for n in vault.notes(tag="job")} == {"A", "B"}
    with pytest.raises(NotFoundError):
        vault.delete_tag("nope")


def test_renaming_or_deleting_a_tag_reaches_every_note_carrying_it_the_trash_too(
    vault: Vault,
) -> None:
    """The notes carrying a tag are found from its spellings among all tag names (vault.notes
    .editing `_carrying`): every spelling that folds to it, notes in the trash included, and a
    tag no listing knows is refused, as before."""
    kept = vault.create_note("Kept", tags=["Straße", "other"])
    binned = vault.create_note("Binned", tags=["STRASSE"])
    vault.create_note("Untagged")
    vault.trash_note(vault.note(binned.id))
    assert vault.rename_tag("strasse", "Road") == 2
    assert vault.note(kept.id).tags == ("Road", "other")
    assert vault.note(binned.id).tags == ("Road",)
    assert vault.delete_tag("ROAD") == 2
    assert vault.note(kept.id).tags == ("other",)
    for missing in ("road", "nope"):
        with pytest.raises(NotFoundError):
            vault.rename_tag(missing, "x")
        with pytest.raises(NotFoundError):
            vault.delete_tag(missing)


@pytest.mark.parametrize("hostile", ["a,b", "#", "  ", "\x1b[2J"])
def test_a_tag_from_another_device_this_one_would_refuse_is_renamed_and_removed(
    vault: Vault, hostile: str
) -> None:
    """A version from sync may carry any tag string (only this device's own input is cleaned):
    the name `vault tags` lists is the name that renames or removes it."""
    import dataclasses

    note = vault.create_note("Synced", tags=["home"])
    vault._write(dataclasses.replace(note, tags=("home", hostile)), vault._parents(note))
    assert hostile in [t.name for t in vault.tags()]
    assert vault.rename_tag(hostile, "fine") == 1
    assert vault.find_note("Synced").tags == ("home", "fine")
    again = vault.find_note("Synced")
    vault._write(dataclasses.replace(again, tags=("home", hostile)), vault._parents(again))
    assert vault.delete_tag(hostile) == 1
    assert vault.find_note("Synced").tags == ("home",)


def test_a_tag_renamed_to_another_spelling_of_its_name_is_spelled_so(vault: Vault) -> None:
    vault.create_note("A", tags=["work"])
    vault.create_note("B", tags=["Work", "x"])
    assert vault.rename_tag("work", "WORK") == 2
    assert [(t.name, t.notes) for t in vault.tags()] == [("WORK", 2), ("x", 1)]
    assert vault.find_note("B").tags == ("WORK", "x")
    vault.create_note("C", tags=["work"])  # a new note takes the registry's spelling
    assert vault.find_note("C").tags == ("WORK",)


def test_a_notebook_moves_to_a_path_made_if_missing_but_never_into_itself(vault: Vault) -> None:
    work, _ = vault.ensure_notebook("Work")
    vault.ensure_notebook("Work/Projects")
    moved = vault.move_notebook_to(vault.find_notebook("Work/Projects"), "Archive/2026")
    assert vault.notebook_path(moved.id) == "Archive/2026/Projects"
    for into in ("Work", "work/", " Work / Deeper", "Work/Sub/Deeper"):
        with pytest.raises(InvalidInputError, match="inside itself"):
            vault.move_notebook_to(vault.notebook(work.id), into)
    paths = {vault.notebook_path(nb.id) for nb in vault.notebooks()}
    assert paths == {"Work", "Archive", "Archive/2026", "Archive/2026/Projects"}  # no stray
    assert vault.notebook_path(vault.move_notebook_to(moved, None).id) == "Projects"


def test_search_ranks_title_hits_and_rare_terms_first(vault: Vault) -> None:
    vault.create_note("Shopping", "apples and pears")
    vault.create_note("Apples", "a note about apples")
    vault.create_note("Recipes", "apple pie needs apples, apples, apples")
    vault.create_note("Café notes", "résumé of the meeting")
    hits = vault.search("apples")
    assert hits[0].note.title == "Apples"
    assert {h.note.title for h in hits} == {"Shopping", "Apples", "Recipes"}
    assert [h.note.title for h in vault.search("cafe resume")] == ["Café notes"]
    assert [h.note.title for h in vault.search('"apple pie"')] == ["Recipes"]
    assert {h.note.title for h in vault.search("apples -pears")} == {"Apples", "Recipes"}
    assert vault.search("zebra") == []


def test_search_filters_by_tag_and_skips_trash(vault: Vault) -> None:
    a = vault.create_note("A", "needle", tags=["x"])
    vault.create_note("B", "needle")
    assert [h.note.id for h in vault.search("needle tag:x")] == [a.id]
    vault.trash_note(vault.note(a.id))
    assert [h.note.title for h in vault.search("needle")] == ["B"]
    assert [h.note.title for h in vault.search("needle", trashed=True)] == ["A"]


def test_purge_erases_older_versions(vault: Vault) -> None:
    note = vault.create_note("Secret", "v1")
    note = vault.update_note(note, body="v2")
    vault.purge_note(note)
    # every version keeps its claims sealed, but only a deletion or an erasure is left
    history = vault.store.history(note.id)
    payloads = [vault.open_op(op) for op in history]
    assert [op.deleted for op in history] == [False, False, True]
    assert payloads[:2] == [{"kind": "note", "erased": True}] * 2
    assert payloads[2] == {"kind": "note"}
    with pytest.raises(NotFoundError):
        vault.note(note.id)


def test_history_lists_every_version(vault: Vault) -> None:
    note = vault.create_note("H", "one")
    note = vault.update_note(note, body="two")
    note = vault.update_note(note, title="H2")
    versions = vault.note_history(note)
    assert [v.note.body for v in versions if v.note] == ["one", "two", "two"]
    assert versions[-1].version == note.version


def test_refresh_sees_another_process_writing(vault: Vault, vault_path) -> None:
    with Vault.unlock(vault_path, password=PASSWORD) as other:
        other.create_note("From elsewhere", "x")
    assert [n.title for n in vault.all_notes()] == ["From elsewhere"]


def test_a_batch_keeps_the_cache_current_and_still_sees_other_writers(
    vault: Vault, vault_path
) -> None:
    """A committed batch of our own writes leaves the cache current without a full scan, yet a
    write another process commits before, between or after batches is always seen."""
    with Vault.unlock(vault_path, password=PASSWORD) as other:
        with vault.batch():
            nb = vault.ensure_notebook("Work")[0]
            vault.create_note("one", "1", notebook=nb.id, tags=["a"])
        assert vault.store.data_version() == vault._seen_version  # caught up, no scan needed
        other.create_note("between", "x", tags=["b"])
        with vault.batch():
            vault.create_note("two", "2", tags=["a", "c"])
        other.create_notebook("Theirs")
        with vault.batch():
            vault.create_note("three", "3")
        assert sorted(n.title for n in vault.all_notes()) == ["between", "one", "three", "two"]
        assert {nb.name for nb in vault.notebooks()} == {"Work", "Theirs"}
        assert sorted(t.name for t in vault.tags()) == ["a", "b", "c"]
        other.create_note("after", "y")
    assert "after" in {n.title for n in vault.all_notes()}


def test_a_vault_kept_open_matches_a_fresh_unlock_after_any_mix_of_writers(
    vault: Vault, vault_path
) -> None:
    """A vault kept open (the session agent's, the app's) re-reads after another process's
    commit only the items whose version or fork moved (ItemCache._item_states); whatever the
    mix of its own writes, the other's, forks and purges, it then holds exactly what a vault
    unlocked afresh holds."""
    import contextlib
    import random

    rng = random.Random(15)
    box = vault.create_notebook("Box")

    def seen(v: Vault) -> dict:
        return {
            n.id: (n.title, n.body, n.conflict, n.in_trash, n.version, n.notebook, n.tags)
            for n in v.all_notes()
        } | {nb.id: (nb.name, nb.parent, nb.conflict) for nb in v.notebooks()}

    with Vault.unlock(vault_path, password=PASSWORD) as other:
        for step in range(120):
            writer = rng.choice([vault, other])
            notes = writer.all_notes()
            live = [n for n in notes if not n.in_trash]
            actions = ["new", "edit", "stale", "trash", "restore", "purge", "nb", "rollback"]
            action = rng.choice(actions)
            if action == "new" or not live:
                writer.create_note(f"Note {step}", "x", notebook=rng.choice([None, box.id]))
            elif action == "edit":
                writer.update_note(rng.choice(live), body=f"edit {step}", tags=[f"t{step % 3}"])
            elif action == "stale":  # a fork: the other writer's older copy of the note
                note = rng.choice(live)
                reader = other if writer is vault else vault
                older = reader.note(note.id)
                writer.update_note(note, body=f"mine {step}")
                reader.update_note(older, body=f"theirs {step}")
            elif action == "trash":
                writer.trash_note(rng.choice(live))
            elif action == "restore" and len(live) < len(notes):
                writer.restore_note(rng.choice([n for n in notes if n.in_trash]))
            elif action == "purge":  # a forked note's other versions stay: it is still there
                writer.purge_note(rng.choice([n for n in notes if n.conflict] or notes))
            elif action == "rollback":  # a batch that fails keeps none of its changes
                with contextlib.suppress(RuntimeError), writer.batch():
                    writer.update_note(rng.choice(live), body="rolled back")
                    writer.create_note("Rolled back", "y")
                    raise RuntimeError
            elif action == "nb":
                writer.rename_notebook(writer.notebook(box.id), f"Box {step}")
            for kept in (vault, other):
                with Vault.unlock(vault_path, password=PASSWORD) as fresh:
                    assert seen(kept) == seen(fresh), (step, action)


def test_password_change_is_o1_and_recovery_resets_it(make_vault, vault_path) -> None:
    vault, recovery = make_vault()
    vault.create_note("Kept", "body")
    before = [op.envelope for op in vault.store.all_ops()]
    vault.change_password("new password")
    assert [op.envelope for op in vault.store.all_ops()] == before  # nothing re-encrypted
    vault.lock()
    with pytest.raises(WrongPasswordError):
        Vault.unlock(vault_path, password=PASSWORD)
    with Vault.unlock(vault_path, recovery_key=recovery) as v:
        v.change_password("third password")
    with Vault.unlock(vault_path, password="third password") as v:
        assert [n.title for n in v.all_notes()] == ["Kept"]
    slots = list((vault_path / "keys").glob("*.json"))
    assert len(slots) == 2


def test_rekey_reseals_everything_and_replaces_the_recovery_key(make_vault, vault_path) -> None:
    vault, old_recovery = make_vault()
    note = vault.create_note("Rekeyed", "v1")
    vault.update_note(note, body="v2")
    old_mk = vault.master_key
    before = {op.op_id: op.envelope for op in vault.store.all_ops()}
    new_recovery = vault.rekey(PASSWORD)
    after = {op.op_id: op.envelope for op in vault.store.all_ops()}
    assert before.keys() == after.keys()
    assert all(before[k] != after[k] for k in before)
    assert vault.master_key != old_mk
    assert [n.body for n in vault.all_notes()] == ["v2"]
    vault.lock()
    with pytest.raises(RecoveryKeyError):
        Vault.unlock(vault_path, recovery_key=old_recovery)
    with Vault.unlock(vault_path, recovery_key=new_recovery) as v:
        assert [b.note.body for b in v.note_history(v.all_notes()[0]) if b.note] == ["v1", "v2"]
    with Vault.unlock(vault_path, password=PASSWORD) as v:
        assert v.check().ok
    assert len(list((vault_path / "keys").glob("*.json"))) == 2


def test_check_password_accepts_only_a_secret_of_this_master_key(vault: Vault) -> None:
    """What the app asks before it changes the password: the current password opens this very
    master key. A slot of another key (left from a rotation not yet followed) is not enough."""
    from vault.sealing import crypto, keys

    vault.check_password(PASSWORD)
    with pytest.raises(WrongPasswordError):
        vault.check_password("wrong")
    stray = keys.Slot.create(
        vault.vault_id,
        keys.PASSWORD,
        crypto.random_bytes(32),
        keys.Secret("stray password"),
        crypto.TEST_KDF,
    )
    vault.store.write_slot(stray)
    with pytest.raises(WrongPasswordError):
        vault.check_password("stray password")
    assert not vault.uses_keyfile


def test_rekey_needs_the_right_password(vault: Vault) -> None:
    with pytest.raises(WrongPasswordError):
        vault.rekey("wrong")


def test_interrupted_rekey_before_commit_keeps_the_old_keys(make_vault, vault_path) -> None:
    """New slots written, store not yet switched: the vault opens with the old secrets and the
    stray slots are cleaned up."""
    from vault.sealing import crypto, keys

    vault, recovery = make_vault()
    vault.create_note("Safe", "body")
    stray = keys.Slot.create(
        vault.vault_id,
        keys.PASSWORD,
        crypto.random_bytes(32),
        keys.Secret(PASSWORD),
        crypto.TEST_KDF,
    )
    vault.store.write_slot(stray)
    vault.lock()
    with Vault.unlock(vault_path, password=PASSWORD) as v:
        assert [n.title for n in v.all_notes()] == ["Safe"]
    assert not (vault_path / "keys" / f"{stray.slot_id}.json").exists()
    Vault.unlock(vault_path, recovery_key=recovery).lock()


def test_unknown_payload_fields_survive_an_edit(vault: Vault) -> None:
    import dataclasses

    note = vault.create_note("Future", "x")
    future = dataclasses.replace(note, extra={"color": "teal", "attachments": ["b1"]})
    written = vault._write(future, [note.version])
    edited = vault.update_note(written, body="y")
    payload = vault.open_op(vault.store.item(note.id))
    assert payload["color"] == "teal" and payload["attachments"] == ["b1"]
    assert edited.body == "y"


def test_live_filter_with_a_rank_limit_puts_title_matches_first(vault: Vault) -> None:
    for i in range(6):
        vault.create_note(f"Other {i}", "the garden grows")
    titled = vault.create_note("Garden plans", "dig")
    notes = vault.notes()
    hits = vault.filter_notes(notes, "garden", rank_limit=3)
    assert len(hits) == 7 and hits[0].note.id == titled.id
    # the rest keep the order they were given in
    assert [h.note.id for h in hits[1:]] == [n.id for n in notes if n.id != titled.id]
    # narrowing while typing gives the same answer as searching afresh
    typed = [vault.filter_notes(notes, "garden"[:i]) for i in range(1, 7)][-1]
    assert [h.note.id for h in typed] == [h.note.id for h in vault.search("garden")]


def test_purge_never_erases_a_concurrent_version(vault: Vault) -> None:
    base = vault.create_note("Forked", "base")
    vault.update_note(base, body="one")
    vault.update_note(base, body="two")
    vault.update_note(base, body="three")  # three versions at once, all from `base`
    shown = vault.note(base.id)
    vault.purge_note(shown)
    heads = vault.store.heads(base.id)
    live = [h for h in heads if not h.deleted]
    assert len(live) == 2 and all(h.envelope is not None for h in live)
    bodies = {vault.open_op(h)["body"] for h in live}
    assert bodies == {"one", "two", "three"} - {shown.body}
    assert vault.note(base.id).body in bodies  # the note is still there, with an unseen edit
    assert vault.check().ok


def test_unlock_with_an_earlier_prefetch_sees_later_changes(make_vault, vault_path) -> None:
    from vault.notes.vault import prefetch

    vault, _ = make_vault()
    a = vault.create_note("A", "one")
    b = vault.create_note("B", "two")
    vault.lock()
    early = prefetch(vault_path)  # ciphertext only: read before anyone typed a password
    assert {row.item_id for row, _ in early.values()} >= {a.id, b.id}
    with Vault.unlock(vault_path, password=PASSWORD) as other:
        other.update_note(other.note(a.id), body="changed")
        other.create_note("C", "three")
        other.purge_note(other.note(b.id))
    with Vault.unlock(vault_path, password=PASSWORD, prefetched=early) as v:
        assert {n.title: n.body for n in v.all_notes()} == {"A": "changed", "C": "three"}


def test_modified_follows_title_and_text_only(vault: Vault, vault_path) -> None:
    """Pinning, tagging, moving, trashing and restoring keep "modified": a list sorted by it
    must not reshuffle when a note is pinned. A new title or text moves it on."""
    older = vault.create_note("Older", "a\n")
    note = vault.create_note("Newer", "b\n")
    book = vault.create_notebook("Box")
    first = note.modified
    note = vault.update_note(note, pinned=True)
    note = vault.update_note(note, tags=["x"])
    note = vault.update_note(note, notebook=book.id)
    note = vault.restore_note(vault.trash_note(note))
    assert note.modified == first
    older = vault.update_note(older, pinned=True)
    older = vault.update_note(older, pinned=False)
    assert [n.title for n in vault.notes(sort="modified")] == ["Newer", "Older"]
    assert len(vault.note_history(older)) == 3  # the changes are versions all the same
    renamed = vault.update_note(older, title="Oldest")
    assert renamed.modified > older.modified
    edited = vault.update_note(note, body="c\n")
    assert edited.modified > note.modified
    vault.lock()  # the snapshot keeps it as written
    with Vault.unlock(vault_path, password=PASSWORD) as again:
        assert again.note(note.id).modified == edited.modified


def test_a_purge_whose_commit_fails_leaves_the_open_vault_as_the_store_is(
    tmp_path: Path,
) -> None:
    """The disk refuses the purge's commit (a file size limit, in a process of its own): the
    purge fails with one error, and the vault kept open still shows the note, as a fresh
    unlock does (it had dropped it from its cache before the commit and kept it dropped)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        f"""
        import os, resource
        from pathlib import Path
        from vault.errors import VaultError
        from vault.notes.vault import Vault
        from vault.sealing.crypto import TEST_KDF
        path = Path({str(tmp_path / "v")!r})
        v, _ = Vault.create(path, "pw pw pw pw", kdf=TEST_KDF, allow_weak_kdf=True)
        a = v.create_note("keep me", "important body " * 50)
        v.create_note("other", "x")
        v.all_notes()
        size = max(os.path.getsize(p) for p in path.glob("store.sqlite*"))
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
        try:
            v.purge_note(v.note(a.id))
            print("purged")
        except VaultError:
            print("refused")
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
        print(sorted(n.title for n in v.all_notes()))
        print(v.note(a.id).title)
        fresh = Vault.open_with_key(path, v.master_key)
        print(sorted(n.title for n in fresh.all_notes()))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    ).stdout.splitlines()
    assert out == ["refused", "['keep me', 'other']", "keep me", "['keep me', 'other']"]


def test_search_sees_every_change_to_the_notes_it_keeps_listed(vault: Vault) -> None:
    """`Vault.search` keeps its sorted list of notes between searches until a note changes."""
    a = vault.create_note("Alpha", "needle")
    assert [h.note.title for h in vault.search("needle")] == ["Alpha"]
    b = vault.create_note("Beta", "needle")
    assert {h.note.title for h in vault.search("needle")} == {"Alpha", "Beta"}
    vault.update_note(vault.note(a.id), body="thread")
    assert [h.note.title for h in vault.search("needle")] == ["Beta"]
    vault.trash_note(vault.note(b.id))
    assert vault.search("needle") == []
    assert [h.note.title for h in vault.search("needle", trashed=True)] == ["Beta"]
    vault.restore_note(vault.note(b.id))
    assert [h.note.title for h in vault.search("needle")] == ["Beta"]


def test_match_notes_is_filter_notes_without_scores(vault: Vault) -> None:
    for i in range(6):
        vault.create_note(f"Other {i}", "the garden grows")
    vault.create_note("Garden plans", "dig")
    notes = vault.notes()
    for typed in ["g", "ga", "garden", "gard", "garden -grows", "zebra"]:
        for limit in (None, 3):
            hits = vault.filter_notes(notes, typed, rank_limit=limit)
            shown = vault.match_notes(notes, typed, rank_limit=limit)
            assert shown == [h.note for h in hits], typed


def test_search_warmed_ahead_folds_once_and_finds_the_same(vault: Vault) -> None:
    """`warm_search` (the session agent, right after opening) folds the texts of the list
    searches run on; a search then reuses them and finds what it finds without."""
    for n in range(40):
        vault.create_note(f"Note {n}", f"body with Ärger {n % 7} and zebra{n}")
    vault.warm_search()
    (corpus,) = vault._index._corpora
    assert corpus.notes is vault._searched(False)
    found = [h.note.id for h in vault.search("arger 3")]
    assert vault._index._corpora == [corpus]  # nothing folded again
    fresh = Vault.unlock(vault.path, password=PASSWORD)
    try:
        assert [h.note.id for h in fresh.search("arger 3")] == found
    finally:
        fresh.lock()
    assert found  # (every "Ärger 3" note, and those with a 3 elsewhere)


def test_opened_notes_share_their_names_and_lock_lets_go_of_them(
    vault: Vault, vault_path: Path
) -> None:
    """Notes read from the store hold one string per tag name and notebook id (100,000 notes
    repeat a few dozen), taken from a table that locking empties: decrypted names do not
    outlive the vault (sys.intern would keep them for good on Python 3.12)."""
    from vault.notes import model

    box = vault.create_notebook("Box")
    vault.create_note("one", "a", tags=["garden"], notebook=box.id)
    vault.create_note("two", "b", tags=["garden", "home"], notebook=box.id)
    vault.lock()
    assert not model._SHARED
    with Vault.unlock(vault_path, password=PASSWORD) as again:
        one, two = sorted(again.all_notes(), key=lambda n: n.title)
        assert (one.tags, two.tags) == (("garden",), ("garden", "home"))
        assert one.tags[0] is two.tags[0] and one.notebook is two.notebook == box.id
        assert "garden" in model._SHARED
    assert not model._SHARED
