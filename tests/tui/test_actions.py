"""Note and notebook actions from the keyboard: rename, tags, move, pin, trash, restore, empty
the trash, and new / rename / delete notebook. Each test checks the store afterwards."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from tests.tui.conftest import open_vault, settle, type_into, unlock
from vault.tui.data import TRASH, Target
from vault.tui.screens.dialogs import ConfirmDialog, MoveDialog, TagsDialog, TagSuggester
from vault.tui.screens.main import MainScreen


async def highlight(pilot, main: MainScreen, title: str) -> None:
    note = next(n for n in main.notes_list.notes if n.title == title)
    main.notes_list.select(note.id)
    main.notes_list.focus()
    await pilot.pause()
    assert main.current_note() is not None and main.current_note().title == title


async def test_rename_tags_move_and_pin(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await highlight(pilot, main, "Garden ideas")

        await pilot.press("r")
        await type_into(pilot, "#value", "Garden plans")
        await pilot.press("enter")
        await settle(pilot)
        assert main.pane.border_title == "Garden plans"

        await pilot.press("t")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, TagsDialog)
        field = dialog.query_one("#value", Input)
        assert field.value == "home"
        await type_into(pilot, "#value", "home, pla")
        await settle(pilot)  # the suggestion is worked out in the background
        await pilot.press("end", "right")  # → at the end accepts the completion
        await pilot.pause()
        assert field.value == "home, planning"
        await pilot.press("enter")
        await settle(pilot)

        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, MoveDialog)
        await type_into(pilot, "#value", "Home/Outside")
        await pilot.press("enter")  # a path that does not exist: a new notebook
        await settle(pilot)

        main.notes_list.focus()
        await pilot.press("p")
        await settle(pilot)

    with open_vault(sample_vault) as vault:
        note = vault.find_note("Garden plans")
        assert note.tags == ("home", "planning")
        assert vault.notebook_path(note.notebook) == "Home/Outside"
        assert note.pinned
        assert len(vault.note_history(note)) == 5  # four changes, one version each


async def test_move_to_an_existing_notebook_and_back_to_the_top(sample_vault: Path, app_for):
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await highlight(pilot, main, "Reading list")
        await pilot.press("f4")
        await settle(pilot)
        await type_into(pilot, "#value", "proj")
        await pilot.press("enter")
        await settle(pilot)
        with open_vault(sample_vault) as vault:
            note = vault.find_note("Reading list")
            assert vault.notebook_path(note.notebook) == "Work/Projects"
        await pilot.press("f4")
        await settle(pilot)
        await pilot.press("enter")  # the first choice with nothing typed: the top level
        await settle(pilot)
    with open_vault(sample_vault) as vault:
        assert vault.find_note("Reading list").notebook is None


async def test_trash_restore_and_empty_the_trash(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await highlight(pilot, main, "Reading list")
        await pilot.press("delete")
        await settle(pilot)
        assert "Reading list" not in [n.title for n in main.notes_list.notes]
        with open_vault(sample_vault) as vault:
            assert vault.find_note("Reading list").in_trash

        main.go_to_target(TRASH)
        await settle(pilot)
        assert sorted(n.title for n in main.notes_list.notes) == ["Old draft", "Reading list"]
        await highlight(pilot, main, "Reading list")
        assert main.pane.text_area.read_only  # a note in the trash is restored before editing
        await pilot.press("u")
        await settle(pilot)
        assert [n.title for n in main.notes_list.notes] == ["Old draft"]

        # Emptying the trash asks first; cancelling keeps everything.
        main.sidebar.focus()
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")
        await settle(pilot)
        with open_vault(sample_vault) as vault:
            assert [n.title for n in vault.notes(trashed=True)] == ["Old draft"]
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert main.notes_list.notes == []

    with open_vault(sample_vault) as vault:
        assert not vault.find_note("Reading list").in_trash
        assert vault.notes(trashed=True) == []
        assert "Old draft" not in [n.title for n in vault.all_notes()]


async def test_delete_for_good_from_the_trash_asks_first(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.go_to_target(TRASH)
        await settle(pilot)
        await highlight(pilot, main, "Old draft")
        await pilot.press("delete")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        assert dialog.focused is not None and dialog.focused.id == "cancel"  # not the default
        await pilot.press("y")
        await settle(pilot)
    with open_vault(sample_vault) as vault:
        assert vault.all_notes() and "Old draft" not in [n.title for n in vault.all_notes()]


async def test_notebooks_new_rename_delete(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        work = next(nb for nb in main.sidebar_data.notebooks if nb.path == "Work")
        main.sidebar.focus()
        main.sidebar.show(main.sidebar_data, Target("notebook", work.id))
        await pilot.pause()
        await pilot.press("n")
        await type_into(pilot, "#value", "Hiring")
        await pilot.press("enter")
        await settle(pilot)
        assert any(nb.path == "Work/Hiring" for nb in main.sidebar_data.notebooks)

        main.sidebar.show(main.sidebar_data, Target("notebook", work.id))
        await pilot.pause()
        await pilot.press("r")
        await type_into(pilot, "#value", "Job")
        await pilot.press("enter")
        await settle(pilot)
        assert any(nb.path == "Job/Projects" for nb in main.sidebar_data.notebooks)

        main.sidebar.show(main.sidebar_data, Target("notebook", work.id))
        await pilot.pause()
        await pilot.press("delete")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        assert [nb.path for nb in main.sidebar_data.notebooks if nb.path.startswith("Job")] == []

    with open_vault(sample_vault) as vault:
        paths = [vault.notebook_path(nb.id) for nb in vault.notebooks()]
        assert not any(p.startswith(("Work", "Job")) for p in paths)
        trashed = {n.title for n in vault.notes(trashed=True)}
        assert {"Quarterly planning", "Meeting notes: design review"} <= trashed


async def test_choosing_in_the_sidebar_filters_the_list(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.sidebar.focus()
        await pilot.press("down")  # Pinned
        await settle(pilot)
        assert [n.title for n in main.notes_list.notes] == ["Welcome to your vault"]
        main.sidebar.cursor_line = main.sidebar.node_for(Target("tag", "work")).line
        await settle(pilot)
        assert sorted(n.title for n in main.notes_list.notes) == [
            "Meeting notes: design review",
            "Quarterly planning",
        ]
        assert main.query_one("#list-pane").border_title == "#work"


async def test_tag_completion_skips_tags_already_typed() -> None:
    suggest = TagSuggester(["home", "homework", "planning"])
    assert await suggest.get_suggestion("hom") == "home"
    assert await suggest.get_suggestion("home, hom") == "home, homework"
    assert await suggest.get_suggestion("home, #pl") == "home, planning"
    assert await suggest.get_suggestion("home, ") is None


async def test_pin_and_tags_do_not_reorder_a_list_sorted_by_modified(
    sample_vault: Path, app_for
) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        assert main.sort == "modified"
        before = [n.title for n in main.notes_list.notes]
        await highlight(pilot, main, "Reading list")
        await pilot.press("p")  # pinned notes come first...
        await settle(pilot)
        pinned = {"Welcome to your vault", "Reading list"}
        assert {n.title for n in main.notes_list.notes[:2]} == pinned
        await pilot.press("p")  # ...and unpinned, it goes back where it was
        await settle(pilot)
        assert [n.title for n in main.notes_list.notes] == before
        await highlight(pilot, main, "Garden ideas")
        await pilot.press("t")
        await settle(pilot)
        await type_into(pilot, "#value", "home, outside")
        await pilot.press("enter")
        await settle(pilot)
        assert [n.title for n in main.notes_list.notes] == before


async def test_trash_and_move_can_be_undone(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await highlight(pilot, main, "Welcome to your vault")  # pinned
        await pilot.press("d")
        await settle(pilot)
        assert "Welcome to your vault" not in [n.title for n in main.notes_list.notes]
        assert any("ctrl+z undoes" in n.message for n in app._notifications)
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert main.notes_list.highlighted is not None
        assert main.notes_list.highlighted.title == "Welcome to your vault"

        await highlight(pilot, main, "Garden ideas")
        await pilot.press("m")
        await settle(pilot)
        await type_into(pilot, "#value", "Work")
        await pilot.press("enter")
        await settle(pilot)
        with open_vault(sample_vault) as vault:
            assert vault.notebook_path(vault.find_note("Garden ideas").notebook) == "Work"
        await pilot.press("ctrl+z")
        await settle(pilot)
        await pilot.press("ctrl+z")  # once only: nothing left to take back
        await settle(pilot)
    with open_vault(sample_vault) as vault:
        welcome = vault.find_note("Welcome to your vault")
        assert not welcome.in_trash and welcome.pinned
        garden = vault.find_note("Garden ideas")
        assert vault.notebook_path(garden.notebook) == "Home"
        assert len(vault.note_history(garden)) == 3
