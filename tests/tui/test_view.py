"""The view: preview modes, sort order and theme are remembered in the config; narrow
terminals hide the sidebar until asked; conflicts and changes made elsewhere show up."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from textual.widgets import Markdown

from tests.conftest import PASSWORD
from tests.tui.conftest import settle, unlock, wait_until
from vault.config import Config
from vault.notes.vault import Vault
from vault.tui.keys import ALL_KEYS, help_rows, markdown_table, pretty
from vault.tui.screens.dialogs import PromptDialog
from vault.tui.screens.help import HelpScreen
from vault.tui.screens.unlock import UnlockScreen


async def test_preview_modes_and_sort_are_remembered(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert main.pane.preview == "side"
        preview = main.query_one("#preview", Markdown)
        assert main.query_one("#preview-scroll").display and main.pane.text_area.display
        assert preview.source == main.pane.note.body  # type: ignore[union-attr]
        await pilot.press("ctrl+r")
        assert main.pane.preview == "only" and not main.pane.text_area.display
        assert Config.load().get("ui.preview") == "only"

        main.notes_list.focus()
        await pilot.press("s")
        await settle(pilot)
        titles = [n.title for n in main.notes_list.notes]
        assert titles[0] == "Welcome to your vault"  # pinned first, then by title
        assert titles[1:] == sorted(titles[1:], key=str.casefold)
        assert Config.load().get("ui.sort") == "title"

    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        assert main.pane.preview == "only" and main.sort == "title"


async def test_theme_choice_is_saved(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        app.theme = "nord"
        app.theme = "textual-light"  # browsing themes: only where one stops is saved
        await pilot.pause(1.0)
    assert Config.load().get("ui.theme") == "textual-light"
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.theme == "textual-light"


async def test_narrow_terminal_hides_the_sidebar_until_asked(sample_vault: Path, app_for):
    app = app_for(sample_vault)
    async with app.run_test(size=(80, 24)) as pilot:
        main = await unlock(pilot)
        assert not main.sidebar.display
        assert main.notes_list.region.width >= 30 and main.pane.region.width >= 40
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert main.sidebar.display and main.sidebar.has_focus
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert not main.sidebar.display


async def test_help_lists_the_keys(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        await pilot.press("f1")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = app.export_screenshot()
        for words in ("ctrl+n", "New note", "Lock now", "Command palette"):
            assert words.replace(" ", "&#160;") in text or words in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


def test_every_binding_is_in_the_help_table() -> None:
    rows = help_rows()
    for key in ALL_KEYS:
        assert (key.group, pretty(key.keys), key.help or key.description) in rows
    assert "| Anywhere | `ctrl+l` | Lock now |" in markdown_table()


async def test_changes_from_elsewhere_show_up_and_conflicts_are_marked(
    sample_vault: Path, app_for
) -> None:
    app = app_for(sample_vault, poll_seconds=0.1)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        open_note = main.pane.note
        assert open_note is not None and open_note.title == "Welcome to your vault"

        # Another process (the CLI, a sync) edits the open note while it is unchanged here.
        with Vault.unlock(sample_vault, password=PASSWORD) as other:
            note = other.find_note("Welcome to your vault")
            other.update_note(note, body="Edited elsewhere\n")
        await pilot.pause(0.4)
        await settle(pilot)
        assert main.pane.text == "Edited elsewhere\n"

        # Two writers from the same version: both kept, flagged, and shown as a conflict.
        with Vault.unlock(sample_vault, password=PASSWORD) as other:
            base = other.find_note("Garden ideas")
            other.update_note(base, body="one side\n")
            other.update_note(base, body="other side\n")
        await pilot.pause(0.4)
        await settle(pilot)
        garden = next(n for n in main.notes_list.notes if n.title == "Garden ideas")
        assert garden.conflict
        row = main.notes_list.notes.index(garden)
        assert main.notes_list.render_line(row * 2).text.startswith(" ! Garden ideas")
        # The footer counts it, and counts it no more once settled elsewhere (it kept "1
        # conflict" until a sync here: a first-hour report).
        from vault.sync.conflicts import resolve

        await wait_until(pilot, lambda: "1 conflict" in footer(main))
        with Vault.unlock(sample_vault, password=PASSWORD) as other:
            resolve(other, other.find_note("Garden ideas").id, "mine")
        await wait_until(pilot, lambda: "conflict" not in footer(main))


def footer(main) -> str:
    from vault.tui.widgets.status import StatusBar

    return main.query_one(StatusBar).segment_text("sync")


async def test_keys_can_be_remapped_in_the_config(sample_vault: Path, app_for) -> None:
    config = Config.load()
    config.data["keymap"] = {"new_note": "f9", "lock": "f10"}
    config.save()
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        await pilot.press("f9")
        await settle(pilot)
        assert isinstance(app.screen, PromptDialog)
        await pilot.press("escape")
        await pilot.press("f10")
        await settle(pilot)
        assert isinstance(app.screen, UnlockScreen)


async def test_the_mouse_picks_and_opens_notes(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        second = main.notes_list.notes[1]
        await pilot.click("#notes", offset=(5, 2))  # the second row (two lines per note)
        await settle(pilot)
        assert main.pane.note is not None and main.pane.note.id == second.id
        await pilot.click("#notes", offset=(5, 2), times=2)
        await settle(pilot)
        assert main.pane.text_area.has_focus


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_sidebar_counts_stand_apart_from_the_names(
    sample_vault: Path, app_for, size: tuple[int, int]
) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=size) as pilot:
        main = await unlock(pilot)
        if not main.sidebar.display:
            await pilot.press("ctrl+b")
            await settle(pilot)
        sidebar = main.sidebar
        width = sidebar.scrollable_content_region.width
        lines = [sidebar.render_line(y).text for y in range(sidebar.size.height)]
        rows = {line.strip().split("  ")[0].strip("├└│ ▼"): line for line in lines if line.strip()}
        for name, count in (("All notes", 6), ("Home", 1), ("#books", 1), ("Trash", 1)):
            line = next(text for key, text in rows.items() if key.endswith(name))
            assert re.search(rf"{re.escape(name)} +{count} $", line), line
            # Counts end in one column, whatever the depth of the name.
            assert len(line.rstrip()) == width - 1, line


def test_help_lists_sync_conflicts_and_backups() -> None:
    from rich.console import Console

    from vault.tui.screens.help import keys_table

    console = Console(width=78, record=True, file=io.StringIO())
    console.print(keys_table())
    text = " ".join(console.export_text().split())
    for words in (
        "f9 Sync now",
        "f8 Compare the versions of a conflicting note and keep mine, theirs or both",
        "Conflict view",
        "m Keep mine",
        "t Keep theirs",
        "b Keep both (theirs becomes a separate note)",
        "Backups",
        "v Check the chosen backup",
        "n Back up now",
        "back up now, backups, export and import Markdown, check the vault",
    ):
        assert words in text, words


async def test_a_notebook_made_elsewhere_leaves_the_notebook_on_view(
    sample_vault: Path, app_for
) -> None:
    """Another process (or a sync) made a notebook while the app showed Work/Projects: the
    sidebar was rebuilt, its cursor fell on All notes before the new tree was drawn, and that
    read as the person choosing All notes (found while testing a first-hour report)."""
    from tests.tui.conftest import open_vault
    from vault.tui.data import Target

    async with app_for(sample_vault).run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await settle(pilot)
        projects = next(nb for nb in main.sidebar_data.notebooks if nb.path == "Work/Projects")
        chosen = Target("notebook", projects.id)
        main.go_to_target(chosen)
        await settle(pilot)
        listed = {n.id for n in main.notes_list.notes}
        for path in ("Work/Misc", "Elsewhere"):
            with open_vault(sample_vault) as vault:
                vault.ensure_notebook(path)
            main.reload_views()
            await settle(pilot)
            assert main.target == chosen and main.sidebar.highlighted_target == chosen
            assert {n.id for n in main.notes_list.notes} == listed
        assert any(nb.path == "Elsewhere" for nb in main.sidebar_data.notebooks)
        await pilot.press("tab")  # the person's own moves in the sidebar still choose
        main.sidebar.focus()
        main.sidebar.move_cursor(main.sidebar.node_for(Target("all")), animate=False)
        await settle(pilot)
        assert main.target == Target("all")
