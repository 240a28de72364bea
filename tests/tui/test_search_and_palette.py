"""Search filters the list as one types, with matches highlighted; the command palette jumps to
notes, notebooks and tags and runs actions; it offers no screenshot."""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandPalette

from tests.tui.conftest import MARKER, settle, type_into, unlock
from vault.tui.providers import candidates, entry
from vault.tui.screens.main import MainScreen


def list_titles(main: MainScreen) -> list[str]:
    return [n.title for n in main.notes_list.notes]


async def test_typing_filters_titles_and_bodies(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await pilot.press("ctrl+f")
        assert main.search_box.has_focus
        await pilot.press(*"plan")
        await settle(pilot)
        # "Quarterly planning" by its title; the meeting notes by "planning doc" in the body.
        assert set(list_titles(main)) == {"Quarterly planning", "Meeting notes: design review"}
        assert list_titles(main)[0] == "Quarterly planning"  # a title match ranks first
        assert main.query_one("#list-pane").border_subtitle == "2 matches"

        # The match is highlighted in the rendered row.
        strip = main.notes_list.render_line(0)
        highlighted = "".join(s.text for s in strip if s.style and s.style.underline)
        assert highlighted.casefold() == "plan"

        await type_into(pilot, "#search", "plan -monday")
        await settle(pilot)
        assert list_titles(main) == ["Quarterly planning"]
        await type_into(pilot, "#search", "tag:home")
        await settle(pilot)
        assert list_titles(main) == ["Garden ideas"]
        await type_into(pilot, "#search", "nothing like this")
        await settle(pilot)
        assert list_titles(main) == [] and main.pane.note is None

        await pilot.press("escape")  # clears the search
        await settle(pilot)
        assert main.search_box.value == "" and len(list_titles(main)) == 6


async def test_opening_a_search_result_puts_the_cursor_on_the_match(sample_vault: Path, app_for):
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await type_into(pilot, "#search", "compost")
        await settle(pilot)
        await pilot.press("enter", "enter")  # to the list, into the editor
        await pilot.pause()
        area = main.pane.text_area
        assert area.has_focus
        row, column = area.cursor_location
        assert area.document.get_line(row)[column:].startswith("compost")


async def test_palette_jumps_to_a_note(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"readin")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is main
        assert main.pane.note is not None and main.pane.note.title == "Reading list"
        assert main.pane.text_area.has_focus


async def test_palette_jumps_to_a_notebook_and_runs_actions(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"work/proj")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert main.query_one("#list-pane").border_title == "Work/Projects"
        assert list_titles(main) == ["Quarterly planning"]

        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"show the trash")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert list_titles(main) == ["Old draft"]


async def test_no_screenshot_anywhere(
    sample_vault: Path, app_for, tmp_path: Path, monkeypatch
) -> None:
    app = app_for(sample_vault)
    monkeypatch.chdir(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        names = [c.title for c in app.get_system_commands(main)]
        assert "Screenshot" not in names
        assert {"Theme", "Quit", "Keys", "Lock"} <= set(names)
        app.action_screenshot()
        app.deliver_screenshot()
        await pilot.press("ctrl+s")  # saves the note; never a picture of the screen
        await settle(pilot)
    assert list(tmp_path.glob("*.svg")) == []
    assert not any(MARKER in p.name for p in tmp_path.iterdir())


def test_palette_candidates_scale_to_many_notes() -> None:
    entries = [entry(f"Note {i} about things", "", lambda: None) for i in range(10_000)]
    entries.append(entry("Budget review", "", lambda: None))
    found = candidates(entries, "budget")
    assert [e.label for e in found] == ["Budget review"]
    assert len(candidates(entries, "note")) == 60  # a short list is scored, not 10,000
    assert candidates(entries, "bdgt")[0].label == "Budget review"  # letters in order
