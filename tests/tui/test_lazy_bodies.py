"""Opening a large vault: the list first, the notes' bodies after it.

The app opens the vault without the notes' bodies (from the first part of the snapshot), shows
the list, and reads the bodies in the background; a note shown before its body arrived is read
whole on its own. Meanwhile a search says it looks at titles only, and every change (an edit, a
pin, the trash, history, locking with the snapshot sealed again) keeps every note's body. The
tests with `read_bodies=False` hold the app in that state: the bodies are read only when asked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.tui.conftest import set_config, settle, unlock, wait_until
from vault.notes.model import has_body
from vault.notes.vault import SNAPSHOT_MIN_ITEMS, Vault
from vault.sealing import snapshot
from vault.sealing.crypto import TEST_KDF
from vault.tui.screens.main import MainScreen

COUNT = SNAPSHOT_MIN_ITEMS + 40


def body_of(n: int) -> str:
    return f"# Note {n:03}\n\nA body about okapi{n % 5} and the number {n}.\n"


@pytest.fixture
def large_vault(home_vault: Path) -> Path:
    """Enough notes for a snapshot (sealed at lock): the app opens such a vault lazily."""
    vault, _ = Vault.create(home_vault, PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
    with vault.batch():
        for n in range(COUNT):
            vault.create_note(f"Note {n:03}", body_of(n))
    vault.lock()
    assert snapshot.path_in(home_vault).exists()
    return home_vault


def bodies_in_store(path: Path) -> dict[str, str]:
    with Vault.unlock(path, password=PASSWORD) as vault:
        vault._unsnapped = 0  # (reading only: no new snapshot)
        return {n.title: n.body for n in vault.all_notes()}


def subtitle(main: MainScreen) -> str:
    return str(main.query_one("#list-pane").border_subtitle)


async def test_the_list_comes_first_and_the_bodies_after_it(large_vault: Path, app_for) -> None:
    app = app_for(large_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        vault = main.session.vault
        await wait_until(pilot, lambda: vault.bodies_pending == 0)
        assert len(main.notes_list.notes) == COUNT
        # Each body was folded for search and let go: the list's notes hold none.
        assert not any(has_body(n) for n in main.notes_list.notes)
        await pilot.press("ctrl+f", *"okapi3")
        await settle(pilot)
        assert subtitle(main) == f"{COUNT // 5} matches"  # over the bodies, said plainly
        assert all("okapi3" in vault.whole(n).body for n in main.notes_list.notes)


async def test_while_the_bodies_are_not_read_the_app_says_so_and_loses_nothing(
    large_vault: Path, app_for
) -> None:
    before = bodies_in_store(large_vault)
    app = app_for(large_vault, read_bodies=False)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        session = main.session
        vault = session.vault
        listed = list(main.notes_list.notes)
        # The note under the cursor is shown whole: read from its own envelope (and kept
        # whole: the list read after the first screen holds it so). No other body is read.
        shown = main.pane.note
        assert shown is not None and main.pane.text == before[shown.title]
        assert len(listed) == COUNT
        assert {n.id for n in listed if has_body(n)} <= {shown.id}

        # A search looks at titles only (and the bodies read to draw the rows on screen),
        # and says so; a title still matches.
        await pilot.press("ctrl+f", *"okapi3")
        await settle(pilot)
        found = main.notes_list.notes
        assert len(found) < COUNT // 5 and all("okapi3" in before[n.title] for n in found)
        assert subtitle(main).endswith(" · titles only, bodies loading…")
        main.search_box.value = "note 007"
        await settle(pilot)
        assert [n.title for n in main.notes_list.notes] == ["Note 007"]
        assert main.pane.text == before["Note 007"]  # shown once the typing paused

        # Changes to notes never shown (their bodies unread): each keeps its body.
        by_title = {n.title: n for n in listed}
        session.update(by_title["Note 010"], pinned=True)
        session.trash(by_title["Note 011"])
        session.update(by_title["Note 012"], title="Renamed 012")
        current, versions = session.history(by_title["Note 013"])
        assert current.body == before["Note 013"] and versions[-1].note.body == current.body

        # An edit typed into the note shown is saved as typed.
        main.notes_list.focus()
        await settle(pilot)
        main.focus_editor()
        await pilot.press("end", *"!")
        main.save_now()
        await settle(pilot)
        edited, typed = main.pane.note, main.pane.text
        assert edited is not None and edited.title == "Note 007"
        assert typed == before["Note 007"].replace("007\n", "007!\n", 1)
        assert vault.note(edited.id).body == typed
        assert vault.bodies_pending > 0  # all of that without reading every body

        # The bodies arrive: the search is made again, over them.
        main.warm_search()
        await wait_until(pilot, lambda: vault.bodies_pending == 0)
        main.search_box.value = "okapi3"
        await settle(pilot)
        assert subtitle(main) == f"{COUNT // 5} matches"

    after = bodies_in_store(large_vault)
    expected = dict(before, **{"Note 007": typed})
    expected["Renamed 012"] = expected.pop("Note 012")
    assert after == expected


async def test_locking_before_the_bodies_are_read_seals_a_whole_snapshot(
    large_vault: Path, app_for
) -> None:
    before = bodies_in_store(large_vault)
    sealed = snapshot.path_in(large_vault).read_bytes()
    app = app_for(large_vault, read_bodies=False)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        session = main.session
        for note in list(main.notes_list.notes)[:40]:  # enough changes for a new snapshot
            session.update(note, pinned=True)
        assert session.vault.bodies_pending > 0
        app.action_lock()
        await wait_until(pilot, lambda: app.session is None and not app.workers._workers)
    assert snapshot.path_in(large_vault).read_bytes() != sealed  # sealed anew, at lock
    with Vault.unlock(large_vault, password=PASSWORD, bodies=False) as vault:
        assert sum(n.pinned for n in vault.all_notes()) == 40
        vault._unsnapped = 0
    assert bodies_in_store(large_vault) == before  # from the new snapshot: every body


async def test_a_vault_without_a_snapshot_opens_with_its_bodies(large_vault: Path, app_for):
    snapshot.destroy(large_vault)
    app = app_for(large_vault, read_bodies=False)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        assert main.session.vault.bodies_pending == 0
        assert len(main.notes_list.notes) == COUNT
        assert all(has_body(n) for n in main.notes_list.notes)
        await pilot.press("ctrl+f", *"okapi3")
        await settle(pilot)
        assert subtitle(main) == f"{COUNT // 5} matches"


async def test_a_sync_while_the_bodies_are_not_read_merges_and_loses_nothing(
    large_vault: Path, tmp_path: Path, app_for
) -> None:
    from vault.sync import SyncEngine, clone, set_remote

    folder = tmp_path / "shared"
    with Vault.unlock(large_vault, password=PASSWORD) as desk:
        set_remote(desk.store, folder)
        SyncEngine(desk).sync()
        desk._unsnapped = 0
    laptop_path = tmp_path / "laptop"
    laptop, _ = clone(folder, laptop_path, password=PASSWORD)
    with laptop:
        note = laptop.find_note("Note 020")
        laptop.update_note(note, body="Written on the laptop.\n")
        SyncEngine(laptop).sync()
    before = bodies_in_store(large_vault)
    assert snapshot.path_in(large_vault).exists()

    set_config(sync__auto=False)  # the sync below is the one made while bodies are unread
    app = app_for(large_vault, read_bodies=False)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        session = main.session
        # (the note shown and the rows on screen are read whole)
        assert session.vault.bodies_pending >= COUNT - 20
        by_title = {n.title: n for n in main.notes_list.notes}
        session.update(by_title["Note 021"], pinned=True)  # a change of ours, body unread
        report = session.sync("")
        assert report.pulled
        await settle(pilot)
        assert session.vault.note(by_title["Note 020"].id).body == "Written on the laptop.\n"

    expected = dict(before, **{"Note 020": "Written on the laptop.\n"})
    assert bodies_in_store(large_vault) == expected
    with Vault.unlock(laptop_path, password=PASSWORD) as laptop:
        SyncEngine(laptop).sync()
        assert {n.title: n.body for n in laptop.all_notes()} == expected
        assert laptop.find_note("Note 021").pinned


# --- the first screen, from the snapshot's head (format version 3) -----------------------------

HEAD_COUNT = snapshot.HEAD_NOTES * 2 + 60  # more than the head holds in any order


@pytest.fixture
def head_vault(home_vault: Path) -> Path:
    """More notes than the snapshot's head holds; one edited after the snapshot was sealed."""
    vault, _ = Vault.create(home_vault, PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
    with vault.batch():
        for n in range(HEAD_COUNT):
            vault.create_note(f"Note {n:03}", body_of(n))
    vault.lock()
    with Vault.unlock(home_vault, password=PASSWORD) as vault:
        old = next(n for n in vault.all_notes() if n.title == "Note 220")  # not in the head
        vault.update_note(old, title="Edited since the snapshot", body="fresh")
        vault._unsnapped = 0  # the snapshot stays as it was: one note changed since
    return home_vault


async def test_the_first_screen_comes_from_the_head_then_the_whole_list(
    head_vault: Path, app_for
) -> None:
    """The list appears from the head (the note edited since at its top at once, the count
    exact), then the whole list replaces it with the cursor on the same note."""
    from tests.tui.conftest import type_into
    from vault.tui.messages import ListLoaded

    loaded: list[ListLoaded] = []

    def hook(message: object) -> None:
        if isinstance(message, ListLoaded):
            loaded.append(message)

    app = app_for(head_vault, read_bodies=False)
    async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
        await settle(pilot)
        await type_into(pilot, "#password", PASSWORD)
        await pilot.press("enter", "down", "down")  # typed while it opens: held, then applied
        await settle(pilot)
        main = app.screen
        assert isinstance(main, MainScreen)
        vault = main.session.vault
        await wait_until(pilot, lambda: not vault.listing_pending and main._list_total is None)
        first, whole = loaded[0], loaded[-1]
        assert first.total == HEAD_COUNT and whole.total is None
        assert first.notes[0].title == "Edited since the snapshot"
        assert len(first.notes) < HEAD_COUNT  # a first screen, not the whole listing
        assert [n.id for n in first.notes] == [n.id for n in whole.notes[: len(first.notes)]]
        assert len(main.notes_list.notes) == HEAD_COUNT
        assert main.notes_list.cursor == 2  # the keys typed meanwhile, kept across the swap
        assert main.notes_list.highlighted.id == first.notes[2].id
        assert subtitle(main) == f"{HEAD_COUNT} notes · by modified"


async def test_an_item_that_does_not_open_is_told_once_the_listing_is_read(
    head_vault: Path, app_for
) -> None:
    """A note's envelope altered without the key, off the first screen: the whole listing
    leaves it out and the app says so, as it does when the vault opens without a head."""
    import json
    import sqlite3

    with Vault.unlock(head_vault, password=PASSWORD) as vault:
        victim = next(n for n in vault.all_notes() if n.title == "Note 230")  # not in the head
        vault._unsnapped = 0
    db = sqlite3.connect(head_vault / "store.sqlite", isolation_level=None)
    (raw,) = db.execute("SELECT envelope FROM ops WHERE op_id = ?", (victim.version,)).fetchone()
    sealed = json.loads(raw)
    cipher = sealed["cipher"].rstrip("=")  # its end: the authentication tag
    sealed["cipher"] = sealed["cipher"].replace(
        cipher, cipher[:-3] + ("B" if cipher[-3] == "A" else "A") + cipher[-2:], 1
    )
    db.execute("UPDATE ops SET envelope = ? WHERE op_id = ?", (json.dumps(sealed), victim.version))
    db.close()
    app = app_for(head_vault, read_bodies=False)
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        main = await unlock(pilot)
        vault = main.session.vault
        await wait_until(pilot, lambda: not vault.listing_pending and main._list_total is None)
        from textual.widgets._toast import Toast

        toasts = [str(toast.render()) for toast in app.screen.query(Toast)]
        assert any(t.startswith("1 item could not be opened") for t in toasts), toasts
        assert len(main.notes_list.notes) == HEAD_COUNT - 1
        assert victim.id not in {n.id for n in main.notes_list.notes}


async def test_a_search_typed_while_it_opens_waits_for_the_whole_listing(
    head_vault: Path, app_for
) -> None:
    """Keys typed before the list is there are kept: the search they make is answered from
    the whole listing, not from the first screen."""
    from tests.tui.conftest import type_into

    app = app_for(head_vault, read_bodies=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await type_into(pilot, "#password", PASSWORD)
        await pilot.press("enter", "ctrl+f", *"note 23")
        await settle(pilot)
        main = app.screen
        assert isinstance(main, MainScreen)
        vault = main.session.vault
        await wait_until(pilot, lambda: not vault.listing_pending)
        await settle(pilot)
        assert main.search_box.value == "note 23"
        # Titles with "23" (the bodies are not read yet), from the whole listing: 230-239,
        # 323 and 423 are in no order's first screen.
        expected = {f"Note {n:03}" for n in range(HEAD_COUNT) if "23" in f"{n:03}"}
        assert {n.title for n in main.notes_list.notes} == expected


async def test_the_first_screen_names_the_notebooks_and_the_counts_follow(
    home_vault: Path, app_for
) -> None:
    """The sidebar of the first screen comes from the head too: every notebook by name (a
    nested one under its parent) and how many notes in all, no other count shown as 0 and
    no tag said to be missing; the whole listing then brings the counts and the tags."""
    from vault.tui.data import Target
    from vault.tui.messages import SidebarLoaded

    vault, _ = Vault.create(home_vault, PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
    work = vault.create_notebook("Work")
    plans = vault.create_notebook("Plans", parent=work.id)
    with vault.batch():
        for n in range(HEAD_COUNT):
            vault.create_note(
                f"Note {n:03}", body_of(n), notebook=plans.id if n % 3 else None, tags=["kept"]
            )
    vault.lock()
    shown: list[SidebarLoaded] = []

    def hook(message: object) -> None:
        if isinstance(message, SidebarLoaded):
            shown.append(message)

    app = app_for(home_vault, read_bodies=False)
    async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
        main = await unlock(pilot)
        vault = main.session.vault
        await wait_until(pilot, lambda: not vault.listing_pending and not shown[-1].data.loading)
        first, whole = shown[0].data, shown[-1].data
        assert first.loading and not whole.loading
        assert first.all == whole.all == HEAD_COUNT
        assert (
            [(nb.path, nb.parent) for nb in first.notebooks]
            == [(nb.path, nb.parent) for nb in whole.notebooks]
            == [("Work", None), ("Work/Plans", work.id)]
        )
        assert first.tags == [] and [t.name for t in whole.tags] == ["kept"]
        assert whole.notebook(plans.id).notes == sum(1 for n in range(HEAD_COUNT) if n % 3)
        sidebar = main.sidebar
        plans_node = sidebar.node_for(Target("notebook", plans.id))
        assert sidebar._counts[plans_node.id] == f"{whole.notebook(plans.id).notes:,}"


async def test_while_the_notes_are_read_the_sidebar_leaves_out_counts_it_does_not_know(
    app_for, home_vault: Path
) -> None:
    """A sidebar told it is loading draws the count of all notes only, and says the tags are
    still being read rather than that there are none."""
    import dataclasses

    from vault.tui.data import ALL, PINNED, TRASH, NotebookEntry, SidebarData, Target

    vault, _ = Vault.create(home_vault, PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
    vault.create_note("One", "")
    vault.lock()
    app = app_for(home_vault, read_bodies=False)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        sidebar = main.sidebar
        data = SidebarData(all=500, notebooks=[NotebookEntry("b", "Books", None, "Books", 0)])
        sidebar.show(dataclasses.replace(data, loading=True), ALL)
        await pilot.pause()
        counts = sidebar._counts
        assert counts[sidebar.node_for(ALL).id] == "500"
        for target in (PINNED, TRASH, Target("notebook", "b")):
            assert sidebar.node_for(target).id not in counts
        labels = [str(node.label) for node in sidebar.root.children[3].children]
        assert labels == ["(reading the notes…)"]
        sidebar.show(data, ALL)  # the whole listing: every count, the tags' own hint
        await pilot.pause()
        assert sidebar._counts[sidebar.node_for(TRASH).id] == "0"
        assert sidebar._counts[sidebar.node_for(Target("notebook", "b")).id] == "0"
        labels = [str(node.label) for node in sidebar.root.children[3].children]
        assert labels == ["(none: ctrl+t)"]


@pytest.mark.parametrize("quit_after", [False, True])
async def test_an_edit_on_the_first_screen_survives_the_whole_listing(
    head_vault: Path, app_for, quit_after: bool
) -> None:
    """The first screen's top note opened and typed into while the whole listing is still
    being read (the cache's lock held as a listing of 100,000 notes holds it): the edit keeps
    the note's body, survives the list being swapped in, and a quit right after saves it."""
    import threading
    import time

    from tests.tui.test_first_hour import burst, wait_for_screen

    app = app_for(head_vault, read_bodies=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        burst(app, [*PASSWORD, "enter"])
        await wait_for_screen(pilot, MainScreen)
        main = app.screen
        assert isinstance(main, MainScreen)
        vault = main.session.vault
        held = threading.Event()

        def hold() -> None:
            with vault._lock:
                held.set()
                time.sleep(2.0)

        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        held.wait(5)
        await wait_until(pilot, lambda: len(main.notes_list.notes) > 0)
        first = main.notes_list.notes[0]
        burst(app, ["enter", *"hello "])
        await pilot.pause(0.3)
        if quit_after:
            burst(app, ["ctrl+q"])
            await pilot.pause(0.5)
        holder.join()
        if not quit_after:
            await wait_until(pilot, lambda: not vault.listing_pending and main._list_total is None)
            await pilot.pause(1.5)  # the autosave
            await settle(pilot)
            assert main.pane.text == "hello fresh"
            assert len(main.notes_list.notes) == HEAD_COUNT
    with Vault.unlock(head_vault, password=PASSWORD) as after:
        assert after.note(first.id).body == "hello fresh"
        after._unsnapped = 0


async def test_the_rows_show_the_bodies_the_vault_let_go_of(large_vault: Path, app_for) -> None:
    """Once folded for search the bodies are let go; the list reads the body of each row it
    draws (its snippet, its match) from the note's envelope, and the editor the note's."""
    app = app_for(large_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        vault = main.session.vault
        await wait_until(pilot, lambda: vault.bodies_pending == 0)
        await settle(pilot)
        rows = main.notes_list
        first = rows.notes[0]
        assert not has_body(first)
        number = int(first.title.split()[1])
        assert f"A body about okapi{number % 5} and" in rows.render_line(1).text
        assert main.pane.text == body_of(number)
        await pilot.press("ctrl+f", *"okapi2")
        await settle(pilot)
        shown = rows.highlighted  # (the cursor stays on its note: the list may scroll)
        assert shown is not None and not has_body(shown)
        assert "okapi2" in vault.whole(shown).body
        detail = rows.cursor * 2 + 1 - int(rows.scroll_offset.y)
        assert "okapi2" in rows.render_line(detail).text
