"""The note's history in the app (f6 or the palette): the versions, the chosen one compared
with now, and restore as a new version with nothing lost. Checked against the store."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import OptionList, Static

from tests.tui.conftest import open_vault, settle, unlock
from tests.tui.test_editing import open_note
from vault.tui.screens.conflicts import DiffView
from vault.tui.screens.history import HistoryScreen
from vault.tui.screens.main import MainScreen

GARDEN = "Tomatoes by the south wall, basil in pots.\n\nAsk about the compost bin.\n"


async def test_history_compares_and_restores_a_version(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main, "Garden ideas")
        await pilot.press(*"Hi ")  # typed, not saved yet: opening the history saves it
        await pilot.press("f6")  # from inside the editor
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        options = screen.query_one("#history-list", OptionList)
        assert options.option_count == 2
        assert "now" in str(options.get_option_at_index(0).prompt)  # newest first
        help_text = str(screen.query_one("#history-help", Static).render())
        assert help_text.startswith("2 versions")
        await pilot.press("down")  # the original version
        await pilot.pause()
        diff = screen.query_one(DiffView)
        assert diff.heads[1] == "Now"
        assert any(r.differs and r.left == GARDEN.splitlines()[0] for r in diff.rows)
        assert any(r.right == "Hi " + GARDEN.splitlines()[0] for r in diff.rows)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert main.pane.text == GARDEN  # the editor shows what was restored
    with open_vault(sample_vault) as vault:
        note = vault.find_note("Garden ideas")
        assert note.body == GARDEN
        bodies = [v.note.body for v in vault.note_history(note) if v.note]
        assert bodies == [GARDEN, "Hi " + GARDEN, GARDEN]  # nothing lost


async def test_history_from_the_palette_shows_titles_as_text(sample_vault: Path, app_for) -> None:
    with open_vault(sample_vault) as vault:
        note = vault.create_note("[b]Not bold[/b] \x1b[31m", "one\n")
        vault.update_note(note, body="two\n")
    app = app_for(sample_vault)
    async with app.run_test(size=(100, 30)) as pilot:
        main = await unlock(pilot)
        target = next(n for n in main.notes_list.notes if n.title.startswith("[b]"))
        main.notes_list.select(target.id)
        main.notes_list.focus()
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"note history")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        title = str(screen.query_one("#history-title", Static).render())
        assert "[b]Not bold[/b] ^[[31m" in title
        assert screen.query_one("#history-list", OptionList).option_count == 2
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
    with open_vault(sample_vault) as vault:
        assert len(vault.note_history(vault.note(target.id))) == 2  # looking wrote nothing


async def test_locking_from_the_history_leaves_nothing(sample_vault: Path, app_for) -> None:
    from tests.tui.test_editing import widget_texts
    from vault.tui.screens.unlock import UnlockScreen

    with open_vault(sample_vault) as vault:
        note = vault.create_note("Secrets", "QWXOLD\n")
        vault.update_note(note, body="QWXNEW\n")
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main, "Secrets")
        await pilot.press("f6")
        await settle(pilot)
        view = app.screen
        assert isinstance(view, HistoryScreen)
        await pilot.press("down")
        await pilot.pause()
        diff = view.query_one(DiffView)
        assert any("QWXOLD" in (row.left or "") for row in diff.rows)
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, UnlockScreen)
        assert view.current is None and view.versions == []
        assert (diff.rows, diff.fields, diff.note) == ([], [], "")
        assert not [t for t in widget_texts(app) if "QWX" in t]


async def test_a_conflicting_note_is_settled_before_a_restore(devices, app_for) -> None:
    from textual.widgets import Button

    from tests.tui.conftest import set_config

    set_config(sync__auto=False)
    devices.conflict("Garden ideas", "Tomatoes by the east fence.\n", "Tomatoes inside.\n")
    app = app_for(devices.desk)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main, "Garden ideas")
        await pilot.press("f6")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        assert "settle them first" in str(screen.query_one("#history-help", Static).render())
        await pilot.press("down", "down")
        await pilot.pause()
        assert screen.query_one("#restore", Button).disabled
        await pilot.press("r")  # refused quietly: nothing written
        await settle(pilot)
    with open_vault(devices.desk) as vault:
        assert vault.find_note("Garden ideas").conflict
