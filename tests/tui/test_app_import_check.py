"""Importing a folder of Markdown files and checking the vault, from the app as from the command
line: the palette offers both, the import's folder is refused in its dialog when it cannot be
read, the notes list and the sidebar show what came in, and a check says that everything opens
or shows what is damaged. File and folder names are outside text: never markup, never raw
control characters."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from textual.widgets import Input, Static

from tests.tui.conftest import open_vault, set_config, settle, type_into, unlock, wait_until
from tests.tui.test_app_parity import on_sidebar
from vault.sealing import crypto
from vault.tui.data import Target
from vault.tui.screens.dialogs import ConfirmDialog
from vault.tui.screens.import_check import FindingsDialog, ImportDialog
from vault.tui.screens.main import MainScreen


def notices(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [n.message for n in app._notifications]


def list_titles(main: MainScreen) -> list[str]:
    return [n.title for n in main.notes_list.notes]


def shown_text(screen) -> str:  # type: ignore[no-untyped-def]
    """Every Static's text on a screen, as drawn (a Content is drawn as its plain text)."""
    return "\n".join(str(widget.render()) for widget in screen.query(Static))


async def run_from_palette(pilot, words: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("ctrl+p")
    await settle(pilot)
    await pilot.press(*words)
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)


# --- import ----------------------------------------------------------------------------------------


async def test_import_from_the_palette_shows_the_notes_in_the_list_and_sidebar(
    sample_vault: Path, isolated_env: Path, app_for
) -> None:
    folder = isolated_env / "Obsidian"
    write(
        folder / "Shopping.md",
        "---\ntitle: Shopping list\ntags: [errands, home]\n---\nMilk, eggs.\n",
    )
    write(folder / "Recipes" / "Soup.md", "---\ntags: cooking\n---\n# Tomato soup\n\nSimmer.\n")
    write(folder / "Recipes" / "Bread.md", "Flour, water, salt.\n")
    write(folder / "picture.png", b"\x89PNG not linked")
    set_config(sync__auto=False)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        before = main.sidebar_data.all
        await run_from_palette(pilot, "import markdown")
        assert isinstance(app.screen, ImportDialog)
        await type_into(pilot, "#value", "~/Obsidian")
        await pilot.press("enter")
        await wait_until(pilot, lambda: any(n.startswith("Imported") for n in notices(app)))
        assert isinstance(app.screen, MainScreen)
        text = next(n for n in notices(app) if n.startswith("Imported"))
        assert text.startswith("Imported 3 notes and 1 new notebook from ~/Obsidian."), text
        assert "1 other file (not Markdown, and no note links to it) was left alone." in text
        await wait_until(pilot, lambda: main.sidebar_data.all == before + 3)
        assert main.query_one("#status-message").display is False  # the progress is gone
        titles = list_titles(main)
        assert {"Shopping list", "Tomato soup", "Bread"} <= set(titles), titles
        assert any(nb.path == "Recipes" and nb.notes == 2 for nb in main.sidebar_data.notebooks)
        tags = {tag.name: tag.notes for tag in main.sidebar_data.tags}
        assert tags["errands"] == 1 and tags["cooking"] == 1 and tags["home"] == 2

        # The same folder again adds nothing, and says so.
        await run_from_palette(pilot, "import markdown")
        await type_into(pilot, "#value", str(folder))
        await pilot.press("enter")
        await wait_until(pilot, lambda: any("were skipped" in n for n in notices(app)))
        assert any(n.startswith("Imported 0 notes from ~/Obsidian. 3 notes") for n in notices(app))
    with open_vault(sample_vault) as vault:
        soup = vault.find_note("Tomato soup")
        assert vault.notebook_path(soup.notebook) == "Recipes" and soup.tags == ("cooking",)
        assert len([n for n in vault.all_notes() if n.title == "Bread"]) == 1


async def test_an_import_goes_into_the_notebook_chosen_in_the_dialog(
    sample_vault: Path, isolated_env: Path, app_for
) -> None:
    """As `vault import markdown --notebook`: the notebook shown in the sidebar is offered,
    another can be typed (made if missing), and a path with an empty part is refused."""
    folder = isolated_env / "Obsidian"
    write(folder / "Recipes" / "Soup.md", "# Tomato soup\n\nSimmer.\n")
    write(folder / "Shopping.md", "Milk.\n")
    set_config(sync__auto=False)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        work = next(nb for nb in main.sidebar_data.notebooks if nb.path == "Work")
        await on_sidebar(pilot, main, Target("notebook", work.id))
        main.action_import_markdown()
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ImportDialog)
        assert dialog.query_one("#notebook", Input).value == "Work"  # where the person is
        await type_into(pilot, "#notebook", "Work//Old")
        await type_into(pilot, "#value", "~/Obsidian")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is dialog
        assert "needs a name" in str(dialog.query_one(".dialog-hint").render())
        await type_into(pilot, "#notebook", "Archive/From Obsidian")
        await pilot.press("enter")  # (Enter in the notebook field imports too)
        await wait_until(pilot, lambda: any(n.startswith("Imported") for n in notices(app)))
    with open_vault(sample_vault) as vault:
        soup = vault.find_note("Tomato soup")
        assert vault.notebook_path(soup.notebook) == "Archive/From Obsidian/Recipes"
        shopping = vault.find_note("Shopping")
        assert vault.notebook_path(shopping.notebook) == "Archive/From Obsidian"


async def test_an_import_folder_that_cannot_be_used_is_refused_in_the_dialog(
    sample_vault: Path, isolated_env: Path, app_for
) -> None:
    (isolated_env / "a-file.md").write_text("# not a folder\n")
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        before = main.sidebar_data.all
        main.action_import_markdown()
        await settle(pilot)
        for typed, said in (
            ("", "Type the folder to import from."),
            ("~/nowhere", "~/nowhere does not exist."),
            ("~/a-file.md", "~/a-file.md is a file, not a folder."),
        ):
            await type_into(pilot, "#value", typed)
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, ImportDialog)  # said in place, nothing imported
            assert str(app.screen.query_one(".dialog-hint").render()) == said
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert main.sidebar_data.all == before
        assert not any(n.startswith("Imported") for n in notices(app))


async def test_hostile_names_in_an_import_are_shown_as_text(
    sample_vault: Path, isolated_env: Path, app_for
) -> None:
    """File and folder names with markup and escape sequences: the notification, the list of
    files left out, the list and the sidebar show them as text, control characters visible."""
    folder = isolated_env / "in[bold]box\x1b]0;owned\x07"  # (no "/": a file name has none)
    write(folder / "[bold]x\x1b[2J.md", "A note named by its file.\n")
    write(folder / "[red]Book\x1b[2J" / "Inside.md", "In a hostile notebook.\n")
    write(folder / "[@click=app.quit]bad\x1b[2J.md", b"\xff\xfe not UTF-8 \x1b[2J")
    set_config(sync__auto=False)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.action_import_markdown()
        await settle(pilot)
        await type_into(pilot, "#value", str(folder))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, FindingsDialog))
        shown = shown_text(app.screen)
        assert "Imported 2 notes and 1 new notebook from ~/in[bold]box^[]0;owned^G." in shown
        assert "1 file could not be imported:" in shown
        assert "[@click=app.quit]bad^[[2J.md: is not UTF-8 text" in shown
        assert "\x1b" not in shown and "\x07" not in shown
        app.export_screenshot()  # the whole screen draws
        await pilot.press("enter")  # Close
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        await wait_until(pilot, lambda: "[bold]x\x1b[2J" in list_titles(main))
        assert any(nb.path == "[red]Book\x1b[2J" for nb in main.sidebar_data.notebooks)
        app.export_screenshot()
    with open_vault(sample_vault) as vault:
        assert vault.find_note("[bold]x\x1b[2J").body == "A note named by its file.\n"


# --- check -----------------------------------------------------------------------------------------


def counted(path: Path) -> str:
    """The first line of `vault check` for the vault at `path`, from the domain."""
    with open_vault(path) as vault:
        report = vault.check()
    return f"{report.items} items, {report.versions} versions, 0 attached files checked."


async def test_check_on_a_healthy_vault_says_everything_opens(sample_vault: Path, app_for) -> None:
    first_line = counted(sample_vault)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await run_from_palette(pilot, "check the vault")
        await wait_until(pilot, lambda: any("checked." in n for n in notices(app)))
        text = next(n for n in notices(app) if "checked." in n)
        assert text == f"{first_line} Everything opens.", text
        assert isinstance(app.screen, MainScreen)
        assert main.query_one("#status-message").display is False


def _damage_the_first_version(path: Path, title: str) -> str:
    """Flip one byte of the sealed text of a note's oldest version (its newest still opens)."""
    with open_vault(path) as vault:
        note = vault.find_note(title)
        vault.update_note(note, body="A second version.\n")
    db = sqlite3.connect(path / "store.sqlite", isolation_level=None)
    try:
        op_id, text = db.execute(
            "SELECT op_id, envelope FROM ops WHERE item_id = ? ORDER BY seq LIMIT 1", (note.id,)
        ).fetchone()
        envelope = json.loads(text)
        cipher = bytearray(crypto.b64d(envelope["cipher"]))
        cipher[10] ^= 0x80
        envelope["cipher"] = crypto.b64e(bytes(cipher))
        db.execute("UPDATE ops SET envelope = ? WHERE op_id = ?", (json.dumps(envelope), op_id))
    finally:
        db.close()
    return note.id


async def test_check_shows_a_damaged_version(sample_vault: Path, app_for) -> None:
    note_id = _damage_the_first_version(sample_vault, "Garden ideas")
    first_line = counted(sample_vault)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        assert "Garden ideas" in list_titles(main)  # the note itself still opens
        main.action_check_vault()
        await wait_until(pilot, lambda: isinstance(app.screen, FindingsDialog))
        shown = shown_text(app.screen)
        assert "Damage found" in str(app.screen.query_one(".dialog-title").render())
        assert first_line in shown
        assert f"damaged: note {note_id[:8]} failed to verify" in shown
        assert "(the note “Garden ideas”)" in shown  # which one it is, as it still opens
        assert "Everything not listed opens." in shown
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert main.query_one("#status-message").display is False


def _alter_history(sample_vault: Path) -> None:
    """The newest version of a note removed from the store without the key."""
    with open_vault(sample_vault) as vault:
        note = vault.find_note("Reading list")
        note = vault.update_note(note, body="two\n")
        vault.update_note(note, body="three\n")
    db = sqlite3.connect(sample_vault / "store.sqlite", isolation_level=None)
    try:
        (newest,) = db.execute(
            "SELECT op_id FROM ops WHERE item_id = ? ORDER BY seq DESC LIMIT 1", (note.id,)
        ).fetchone()
        db.execute("DELETE FROM ops WHERE op_id = ?", (newest,))
    finally:
        db.close()


async def test_check_shows_an_altered_history_once(sample_vault: Path, app_for) -> None:
    """Versions removed without the key: the app says so on opening, the check shows it, and
    once shown the vault stops repeating it (as after `vault check`)."""
    _alter_history(sample_vault)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        assert any("history was altered" in n for n in notices(app))
        main.action_check_vault()
        await wait_until(pilot, lambda: isinstance(app.screen, FindingsDialog))
        shown = shown_text(app.screen)
        assert "altered: this vault's history was altered without the key" in shown
        await pilot.press("enter")  # Close
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
    with open_vault(sample_vault) as vault:
        assert vault.history_incident is None
        assert vault.check().ok


async def test_findings_wait_for_a_person_who_typed_meanwhile(sample_vault: Path, app_for) -> None:
    """Typing in a note while the check runs: its findings do not pop up over the note (a key
    lost to them, an Enter closing them unread); a notification says how to open them, and
    only closing them with their button stops the altered history being told again."""
    _alter_history(sample_vault)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.notes_list.focus()
        await pilot.press("enter")  # open the first note in the editor
        await settle(pilot)
        main.action_check_vault()
        app.mark_active()  # a key typed while it runs
        await pilot.press("x", "y")
        await settle(pilot)
        assert app.screen is main
        assert main.pane.text_area.text.startswith("xy")
        assert any("Show the findings" in n for n in notices(app))
        assert "Show the findings" in [name for name, _, _ in main.palette_actions()]
        main.action_show_findings()
        await settle(pilot)
        assert isinstance(app.screen, FindingsDialog)
        await pilot.press("escape")  # not read: told again later
        await settle(pilot)
        with open_vault(sample_vault) as vault:
            assert vault.history_incident is not None
        main.action_show_findings()
        await settle(pilot)
        await pilot.click("#close")
        await settle(pilot)
    with open_vault(sample_vault) as vault:
        assert vault.history_incident is None


async def test_damaged_notes_are_brought_back_from_the_palette(sample_vault: Path, app_for) -> None:
    """As `vault revert ID VERSION` with the newest version that opens: the note is back in
    the list, and the palette offers the action only while something is damaged."""
    from tests.test_damaged_newest_version import _damage_newest

    with open_vault(sample_vault) as vault:
        note = vault.find_note("Garden ideas")
        previous = note.body
        vault.update_note(note, body="The newest, soon damaged.\n")
    _damage_newest(sample_vault, note.id)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        assert "Garden ideas" not in list_titles(main)
        assert "Bring back damaged notes" in [name for name, _, _ in main.palette_actions()]
        await run_from_palette(pilot, "bring back damaged")
        # Asked first: the older text will reach the other devices too.
        confirm = app.screen
        assert isinstance(confirm, ConfirmDialog)
        assert "other devices" in shown_text(confirm)
        await pilot.press("y")
        await wait_until(pilot, lambda: any(n.startswith("Brought back") for n in notices(app)))
        text = next(n for n in notices(app) if n.startswith("Brought back"))
        assert text.startswith(
            "Brought back 1 note (“Garden ideas”) at its newest version that opens"
        ), text
        await wait_until(pilot, lambda: "Garden ideas" in list_titles(main))
        assert "Bring back damaged notes" not in [name for name, _, _ in main.palette_actions()]
    with open_vault(sample_vault) as vault:
        assert not vault.corrupt
        back = vault.find_note("Garden ideas")
        assert back.body == previous
        assert len(vault.note_history(back)) == 3  # the damaged version stays in the history


async def test_a_damaged_notebook_is_not_offered_as_a_note_to_bring_back(
    sample_vault: Path, app_for
) -> None:
    from tests.test_damaged_newest_version import _damage_newest

    with open_vault(sample_vault) as vault:
        home = next(nb for nb in vault.notebooks() if nb.name == "Home")
        vault.rename_notebook(home, "House")
    _damage_newest(sample_vault, home.id)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        assert app.session is not None and home.id in app.session.vault.corrupt
        assert app.session.vault.damaged_notes() == []
        assert "Bring back damaged notes" not in [name for name, _, _ in main.palette_actions()]
