"""A note whose versions conflict is shown read-only (issue 13): typing would go on the version
shown alone and the conflict would grow with every save, which `vault edit` refuses (exit 4).
The text stays visible and selectable; the details line says why and what settles it; once
settled the note is editable again."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from tests.tui.conftest import Devices, open_vault, set_config, settle, unlock, wait_until
from tests.tui.test_editing import open_note
from tests.tui.test_sync import notices
from vault.tui.screens.conflicts import ConflictScreen
from vault.tui.screens.main import MainScreen


def details(main: MainScreen) -> str:
    return main.query_one("#editor-details", Static).render_line(0).text


def heads(path: Path, title: str) -> set[str]:
    with open_vault(path) as vault:
        note = vault.find_note(title)
        return {op.op_id for op in vault.store.heads(note.id)}


async def test_a_conflicted_note_is_shown_read_only(
    devices: Devices, app_for, tmp_path: Path, monkeypatch
) -> None:
    set_config(sync__auto=False)
    devices.conflict("Reading list", "- mine\n", "- theirs\n")
    before = heads(devices.desk, "Reading list")
    assert len(before) == 2
    script = tmp_path / "fake-editor"
    ran = tmp_path / "editor-ran"
    script.write_text(f'#!/bin/sh\ntouch {ran}\nprintf "by the editor\\n" >> "$1"\n')
    script.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(script))
    app = app_for(devices.desk)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.autosave_seconds = 0.2
        await open_note(pilot, main, "Reading list")
        area = main.pane.text_area
        assert area.read_only
        assert details(main).startswith("! Versions conflict: f8 settles them · ")
        assert main.pane.border_subtitle.startswith("[$error]read-only[/$error] · ")
        assert main.pane.text == "- mine\n"  # the text stays visible
        await pilot.press(*"typed", "enter", "backspace", "delete")
        await pilot.press("ctrl+end", "shift+home", "shift+up")  # and selectable
        assert area.selected_text == "- mine\n"
        await pilot.press("ctrl+o")  # the external editor is refused as well
        await settle(pilot)
        assert not ran.exists()
        assert any("f8 compares and settles them" in n for n in notices(app))
        assert main.pane.text == "- mine\n"
        assert not main.dirty
        await pilot.pause(0.4)  # an autosave would have run by now
        await settle(pilot)
    assert heads(devices.desk, "Reading list") == before  # the conflict did not grow


async def test_a_note_that_conflicts_while_typing_keeps_what_was_typed_and_turns_read_only(
    devices: Devices, app_for
) -> None:
    set_config(sync__auto=False)
    app = app_for(devices.desk)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.autosave_seconds = 60
        await open_note(pilot, main, "Garden ideas")
        assert not main.pane.text_area.read_only
        await pilot.press(*"Mine ")
        devices.edit(devices.laptop, "Garden ideas", "Theirs: roses by the wall.\n", 1)
        devices.sync(devices.laptop)
        await pilot.press("f9")  # saves what is typed first, then syncs
        await wait_until(pilot, lambda: main.pane.note is not None and main.pane.note.conflict)
        await settle(pilot)
        assert main.pane.text_area.read_only
        assert any("f8 compares them" in n for n in notices(app))  # the existing notice
        assert details(main).startswith("! Versions conflict: f8 settles them")
        assert "read-only" in main.pane.border_subtitle
        assert not main.dirty  # what was typed is saved
        await pilot.press(*"more")
        await settle(pilot)
        assert main.pane.text.startswith("Mine Tomatoes")
        assert "more" not in main.pane.text
    with open_vault(devices.desk) as desk:
        note = desk.find_note("Garden ideas")
        assert note.conflict
        bodies = {desk.store.heads(note.id)[0].op_id, desk.store.heads(note.id)[1].op_id}
        assert len(bodies) == 2  # both versions kept, no third one
        assert note.body.startswith("Mine Tomatoes")


async def test_a_settled_note_is_editable_again(devices: Devices, app_for) -> None:
    set_config(sync__auto=False)
    devices.conflict("Reading list", "- mine\n", "- theirs\n")
    app = app_for(devices.desk)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.autosave_seconds = 0.2
        await open_note(pilot, main, "Reading list")
        assert main.pane.text_area.read_only
        await pilot.press("f8")
        await settle(pilot)
        assert isinstance(app.screen, ConflictScreen)
        await pilot.press("t")  # keep theirs
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        await wait_until(pilot, lambda: main.pane.note is not None and not main.pane.note.conflict)
        await settle(pilot)
        assert main.pane.text == "- theirs\n"
        area = main.pane.text_area
        assert not area.read_only
        assert "Versions conflict" not in details(main)
        assert "read-only" not in main.pane.border_subtitle
        main.focus_editor()
        await pilot.press("ctrl+end", *"more")
        await pilot.pause(0.4)
        await settle(pilot)
        assert main.pane.save_state == "saved"
    with open_vault(devices.desk) as desk:
        note = desk.find_note("Reading list")
        assert not note.conflict
        assert note.body == "- theirs\nmore"


async def test_a_conflict_another_process_syncs_in_turns_the_open_note_read_only(
    devices: Devices, app_for
) -> None:
    """`vault sync` in a shell while the app shows the note: the sync forked the open note,
    and the app said "1 conflict" but left the note editable, so typing went on one version
    and the app warned only after saving (found by a first-hour test)."""
    set_config(sync__auto=False)
    app = app_for(devices.desk, poll_seconds=0.1)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.autosave_seconds = 60
        await open_note(pilot, main, "Garden ideas")
        await pilot.press(*"Mine ", "ctrl+s")
        await settle(pilot)
        assert not main.dirty and not main.pane.text_area.read_only
        devices.edit(devices.laptop, "Garden ideas", "Theirs: roses by the wall.\n", 1)
        devices.sync(devices.laptop)
        devices.sync(devices.desk)  # another process: the command line's `vault sync`
        await wait_until(pilot, lambda: main.pane.note is not None and main.pane.note.conflict)
        await settle(pilot)
        assert main.pane.text_area.read_only
        assert details(main).startswith("! Versions conflict: f8 settles them")
        await pilot.press(*"more")
        await settle(pilot)
        assert "more" not in main.pane.text and not main.dirty
