"""Typing in the editor: autosave after a pause, and nothing typed is lost by switching notes,
locking, quitting, or the idle lock. Each test checks the store afterwards."""

from __future__ import annotations

import gc
from pathlib import Path

from textual.command import CommandPalette
from textual.widget import Widget
from textual.widgets import Input, Markdown, Static, TextArea

from tests.tui.conftest import MARKER, open_vault, settle, type_into, unlock, workers_done
from vault.config import Config
from vault.notes.model import Note
from vault.tui.app import VaultApp
from vault.tui.screens.main import MainScreen
from vault.tui.screens.unlock import UnlockScreen
from vault.tui.widgets.note_list import NoteList


def body_of(path: Path, title: str) -> str:
    with open_vault(path) as vault:
        return vault.find_note(title).body


async def open_note(pilot, main: MainScreen, title: str) -> None:
    assert main.notes_list.select(main.notes_list.notes[0].id)
    for note in main.notes_list.notes:
        if note.title == title:
            main.notes_list.select(note.id)
            break
    else:
        raise AssertionError(f"{title} is not in the list")
    await pilot.pause()
    main.notes_list.focus()
    await pilot.press("enter")
    await pilot.pause()
    assert main.pane.note is not None and main.pane.note.title == title
    assert main.pane.text_area.has_focus


async def test_typing_is_autosaved_after_a_pause(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.autosave_seconds = 0.3
        await open_note(pilot, main, "Garden ideas")
        await pilot.press(*"Hi ")
        assert main.pane.save_state == "unsaved"
        assert main.pane.border_subtitle and "unsaved" in str(main.pane.border_subtitle)
        await pilot.pause(0.5)
        await settle(pilot)
        assert main.pane.save_state == "saved"
        assert body_of(sample_vault, "Garden ideas").startswith("Hi Tomatoes")


async def test_switching_notes_saves_at_once(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.autosave_seconds = 60  # the timer must not be what saves it
        await open_note(pilot, main, "Reading list")
        await pilot.press(*"New ")
        await pilot.press("escape", "down")  # back to the list, next note
        await settle(pilot)
        assert main.pane.note is not None and main.pane.note.title != "Reading list"
    assert body_of(sample_vault, "Reading list").startswith("New - *The Left Hand")


async def test_ctrl_s_saves_and_new_note_is_created_and_typed(sample_vault: Path, app_for):
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.autosave_seconds = 60
        await pilot.press("ctrl+n")
        await pilot.pause()
        await type_into(pilot, "#value", "Fresh idea")
        await pilot.press("enter")
        await settle(pilot)
        assert main.pane.note is not None and main.pane.note.title == "Fresh idea"
        assert main.pane.text_area.has_focus
        await pilot.press(*"Line")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert main.pane.save_state == "saved"
    assert body_of(sample_vault, "Fresh idea") == "Line"


async def test_new_note_in_a_notebook_view_lands_in_that_notebook(sample_vault: Path, app_for):
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        home = next(nb for nb in main.sidebar_data.notebooks if nb.path == "Home")
        main.go_to_target(main.target.__class__("notebook", home.id))
        await settle(pilot)
        assert [n.title for n in main.notes_list.notes] == ["Garden ideas"]
        await pilot.press("ctrl+n")
        await type_into(pilot, "#value", "Seeds to buy")
        await pilot.press("enter")
        await settle(pilot)
    with open_vault(sample_vault) as vault:
        note = vault.find_note("Seeds to buy")
        assert vault.notebook_path(note.notebook) == "Home"


def widget_texts(app: VaultApp) -> list[str]:
    """Everything the widgets of every screen hold or show, as text."""
    return [*texts_of(app.screen_stack), app.export_screenshot()]


def texts_of(screens: list) -> list[str]:
    texts: list[str] = []
    for screen in screens:
        for widget in [screen, *screen.walk_children(with_self=False)]:
            texts += [str(widget.border_title or ""), str(widget.border_subtitle or "")]
            if isinstance(widget, Input):
                texts.append(widget.value)
            elif isinstance(widget, TextArea):
                texts.append(widget.text)
            elif isinstance(widget, Markdown):
                texts.append(widget.source)
            elif isinstance(widget, Static):
                texts.append(str(widget.render()))
            elif isinstance(widget, NoteList):
                texts += [n.title + n.body for n in widget.notes]
    return texts


def rendered(widget: Widget) -> str:
    try:
        return str(widget.render())
    except Exception:  # a detached widget may no longer be able to render: it shows nothing
        return ""


async def test_lock_saves_then_clears_every_widget(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.autosave_seconds = 60
        await pilot.press("ctrl+f")
        await type_into(pilot, "#search", MARKER.lower())
        await settle(pilot)
        assert [n.title for n in main.notes_list.notes] == [f"{MARKER} secret title"]
        await pilot.press("enter")  # to the list
        await pilot.press("enter")  # into the editor
        await pilot.press(*"typed ")
        assert any(MARKER in text for text in widget_texts(app))  # it really was on screen

        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, UnlockScreen)
        assert app.session is None
        leaks = [text[:60] for text in widget_texts(app) if MARKER in text]
        assert leaks == []
        # No widget of the old main screen, and no decrypted note, is kept alive anywhere.
        del main
        await settle(pilot)
        gc.collect()
        # Textual may keep the old screen object a while (workers, context variables); it
        # must be an empty shell.
        for old in [w for w in gc.get_objects() if isinstance(w, MainScreen)]:
            assert old.session is None and old.source is None
            assert not any(MARKER in text for text in texts_of([old]))
        assert [n for n in gc.get_objects() if isinstance(n, Note)] == []
        alive = [w for w in gc.get_objects() if isinstance(w, Widget)]
        assert not [w for w in alive if MARKER in rendered(w)]
    # What was typed before locking was saved first.
    # The search put the cursor on the match, so that is where the typing went.
    assert (
        body_of(sample_vault, f"{MARKER} secret title")
        == f"The body holds typed {MARKER} as well.\n"
    )


async def test_locking_with_the_palette_open_closes_it(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"gard")
        await settle(pilot)
        app.action_lock()
        await settle(pilot)
        assert isinstance(app.screen, UnlockScreen)
        assert not any(isinstance(screen, CommandPalette) for screen in app.screen_stack)
        assert not any("Garden" in text for text in widget_texts(app))


async def test_quit_saves_what_is_typed(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.autosave_seconds = 60
        await open_note(pilot, main, "Garden ideas")
        await pilot.press(*"Bye ")
        await pilot.press("ctrl+q")
        await workers_done(app)  # the backup check and locking, then exit
        await pilot.pause()
    assert app.return_code == 0
    assert app.session is None
    assert body_of(sample_vault, "Garden ideas").startswith("Bye Tomatoes")


async def test_idle_lock_after_the_configured_minutes(sample_vault: Path, app_for) -> None:
    config = Config.load()
    config.set("ui.autolock_minutes", 3)
    config.save()
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.autosave_seconds = 60
        await open_note(pilot, main, "Reading list")
        await pilot.press(*"Idle ")
        app.check_autolock(now=app._last_activity + 2 * 60)
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)  # two minutes: not yet
        app.check_autolock(now=app._last_activity + 3 * 60 + 1)
        await settle(pilot)
        assert isinstance(app.screen, UnlockScreen)
        message = str(app.screen.query_one("#unlock-message", Static).render())
        assert "3 idle minutes" in message
    assert body_of(sample_vault, "Reading list").startswith("Idle ")


async def test_idle_lock_can_be_turned_off(sample_vault: Path, app_for) -> None:
    config = Config.load()
    config.set("ui.autolock_minutes", 0)
    config.save()
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        app.check_autolock(now=app._last_activity + 24 * 3600)
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)


async def test_external_editor_round_trip(
    sample_vault: Path, app_for, tmp_path: Path, monkeypatch
) -> None:
    script = tmp_path / "fake-editor"
    seen = tmp_path / "seen-path"
    script.write_text(f'#!/bin/sh\necho "$1" > {seen}\nprintf \'added by the editor\\n\' >> "$1"\n')
    script.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(script))
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main, "Garden ideas")
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert main.pane.text.endswith("added by the editor\n")
    assert body_of(sample_vault, "Garden ideas").endswith("compost bin.\nadded by the editor\n")
    # The private folder the note went through is gone.
    edited = Path(seen.read_text().strip())
    assert edited.name == "note.md"
    assert not edited.parent.exists()


async def test_a_failing_save_is_a_calm_notice_and_keeps_the_text(
    sample_vault: Path, app_for
) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.autosave_seconds = 60
        await open_note(pilot, main, "Garden ideas")
        # The store goes away underneath the app (as a yanked disk would).
        assert app.session is not None
        app.session.vault.store.close()
        await pilot.press(*"Kept ")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.is_running and isinstance(app.screen, MainScreen)
        assert main.pane.save_state == "failed"
        assert main.pane.text.startswith("Kept Tomatoes")
        notices = [n.message for n in app._notifications]
        assert notices and all("Garden" not in m and "Tomatoes" not in m for m in notices)
