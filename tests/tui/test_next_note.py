"""Moving from note to note: what it repaints and what it leaves alone.

Moving the cursor repaints only the rows it leaves and reaches, the footer is rebuilt only when
the keys it offers change, and the status bar's counts follow the note shown."""

from __future__ import annotations

import gc
from pathlib import Path

from textual import events
from textual.geometry import Region
from textual.widgets._footer import FooterKey

from tests.tui.conftest import settle, unlock
from vault.tui.data import TRASH
from vault.tui.memory import OPEN_THRESHOLDS
from vault.tui.messages import TargetChosen
from vault.tui.screens.main import MainScreen
from vault.tui.widgets.status import StatusBar


async def list_focused(pilot) -> MainScreen:
    """The sample vault unlocked, the focus in the list, everything settled."""
    main = await unlock(pilot)
    main.notes_list.focus()
    await settle(pilot)
    return main


def footer_keys(main: MainScreen) -> list[str]:
    return [key.description for key in main.query(FooterKey)]


def drawn_rows(main: MainScreen) -> list[str]:
    """The list's rows as the screen has them (cached lines included), as text and styles."""
    notes = main.notes_list
    strips = notes.render_lines(Region(0, 0, notes.size.width, notes.size.height))
    return [repr(list(strip)) for strip in strips]


async def test_moving_the_cursor_repaints_the_rows_it_leaves_and_reaches(
    sample_vault: Path, app_for
) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await list_focused(pilot)
        for key in ("down", "down", "up", "end", "home", "down"):
            await pilot.press(key)
            await settle(pilot)
            shown = drawn_rows(main)
            main.notes_list._styles_cache.clear()  # everything drawn again from scratch
            assert shown == drawn_rows(main), key
        assert main.pane.note is not None
        assert main.pane.note.id == main.notes_list.notes[1].id


async def test_the_footer_is_rebuilt_only_when_its_keys_change(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await list_focused(pilot)
        rebuilt: list[object] = []
        main.bindings_updated_signal.subscribe(main, rebuilt.append)
        first = main.pane.note
        await pilot.press("down")
        await pilot.press("down")
        await settle(pilot)
        assert main.pane.note is not None and main.pane.note is not first
        assert rebuilt == []  # two ordinary notes offer the same keys
        assert "Trash" in footer_keys(main)

        main.post_message(TargetChosen(TRASH, confirmed=True))
        await settle(pilot)
        assert main.pane.note is not None and main.pane.note.in_trash
        assert rebuilt  # a note in the trash offers other keys: the footer follows
        assert main.check_action("restore_note", ()) is True
        assert "Pin" not in footer_keys(main)


async def test_the_status_bar_counts_follow_the_note(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await list_focused(pilot)
        bar = main.query_one(StatusBar)
        seen = set()
        for _ in range(len(main.notes_list.notes)):
            body = main.pane.text
            words = len(body.split())
            text = bar.segment_text("counts")
            assert text.startswith(f"{words:,} word"), text
            segment = main.query_one("#status-counts")
            assert segment.size.width == len(text)  # as wide as its text, never cut
            seen.add(len(text))
            await pilot.press("down")
            await settle(pilot)
        assert len(seen) > 1  # the width changed on the way, and the bar followed


def press_now(app, key: str) -> None:  # type: ignore[no-untyped-def]
    """A key as the terminal delivers it: into the driver, without waiting for anything."""
    event = events.Key(key, None)
    event.set_sender(app)
    app._driver.send_message(event)


async def test_the_cursor_row_and_the_note_reach_the_screen_in_one_frame(
    sample_vault: Path, app_for
) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await list_focused(pilot)
        frames: list[set[str | None]] = []
        paint = main._compositor_refresh

        def observed() -> None:
            frames.append({widget.id for widget in main._dirty_widgets})
            paint()

        main._compositor_refresh = observed  # type: ignore[method-assign]
        for index in (1, 2):
            frames.clear()
            press_now(app, "down")
            await settle(pilot)
            assert main.pane.note is not None
            assert main.pane.note.id == main.notes_list.notes[index].id
            first = next(frame for frame in frames if "notes" in frame)
            # The frame that moves the cursor also draws the note it reached.
            assert {"editor", "editor-details"} <= first, frames


async def test_a_held_down_arrow_loads_only_the_note_it_stops_on(
    sample_vault: Path, app_for
) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await list_focused(pilot)
        area = main.pane.text_area
        loaded: list[str] = []
        load = area.load_text

        def observed(text: str) -> None:
            loaded.append(text)
            load(text)

        area.load_text = observed  # type: ignore[method-assign]
        for _ in range(4):  # faster than the app answers: the gate keeps the repeats
            press_now(app, "down")
        await settle(pilot)
        notes = main.notes_list.notes
        assert main.pane.note is not None and main.pane.note.id == notes[4].id
        assert loaded == [notes[4].body]  # the notes passed over were never loaded

        # At the end of the list a repeat moves nowhere: the last note still shows.
        loaded.clear()
        for _ in range(len(notes) + 2):
            press_now(app, "down")
        await settle(pilot)
        assert main.pane.note is not None and main.pane.note.id == notes[-1].id
        assert loaded == [notes[-1].body]
        press_now(app, "up")  # and one key alone shows its note at once
        await settle(pilot)
        assert main.pane.note.id == notes[-2].id


async def test_the_collector_waits_longer_while_a_vault_is_open(
    sample_vault: Path, app_for
) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        assert gc.get_threshold() == OPEN_THRESHOLDS
        assert gc.get_freeze_count() > 0
        main.app.action_lock()  # type: ignore[attr-defined]
        await settle(pilot)
        assert gc.get_threshold() != OPEN_THRESHOLDS  # locking gives the default back
        assert gc.get_freeze_count() == 0
