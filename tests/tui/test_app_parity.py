"""What the command line does and the app used to lack: moving a notebook under another,
renaming and removing a tag, changing the password. Driven with keys, as a person does."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.tui.conftest import open_vault, settle, type_into, unlock
from tests.tui.test_actions import highlight
from vault.errors import WrongPasswordError
from vault.notes.vault import Vault
from vault.sealing.crypto import TEST_KDF
from vault.sealing.keys import create_keyfile
from vault.tui.data import ALL, Target
from vault.tui.screens.dialogs import ConfirmDialog, MoveDialog, PromptDialog
from vault.tui.screens.main import MainScreen
from vault.tui.screens.password_dialogs import ChangePasswordDialog

HOSTILE_TAG = "[bold]loud[/] \x1b]52;c;aGk=\x07"


def notebook_id(main: MainScreen, path: str) -> str:
    return next(nb.id for nb in main.sidebar_data.notebooks if nb.path == path)


async def on_sidebar(pilot, main: MainScreen, target: Target) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot)
    main.sidebar.focus()
    main.sidebar.show(main.sidebar_data, target, reveal=True)
    for _ in range(10):  # a rebuilt tree puts its cursor there once it is laid out
        await pilot.pause()
        if main.sidebar.highlighted_target == target:
            return
    assert main.sidebar.highlighted_target == target


def keyfile_vault(tmp_path: Path, home_vault: Path) -> Path:
    """A vault at `home_vault` that needs a keyfile (made in `tmp_path`): the keyfile."""
    keyfile = tmp_path / "key.bin"
    create_keyfile(keyfile)
    vault, _ = Vault.create(
        home_vault, PASSWORD, keyfile=keyfile, kdf=TEST_KDF, allow_weak_kdf=True
    )
    vault.lock()
    return keyfile


async def password_dialog(pilot) -> ChangePasswordDialog:  # type: ignore[no-untyped-def]
    """Unlocked, and "Change password…" open."""
    main = await unlock(pilot)
    main.action_change_password()
    await settle(pilot)
    dialog = pilot.app.screen
    assert isinstance(dialog, ChangePasswordDialog)
    return dialog


async def test_a_notebook_moves_under_another_and_back_to_the_top(
    sample_vault: Path, app_for
) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        projects = notebook_id(main, "Work/Projects")
        await on_sidebar(pilot, main, Target("notebook", projects))
        await pilot.press("m")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, MoveDialog)
        # Neither the notebook itself nor anything inside it is offered.
        offered = [path for _, path in dialog._notebooks]
        assert "Work/Projects" not in offered and "Home" in offered
        await type_into(pilot, "#value", "home")
        await pilot.press("enter")
        await settle(pilot)
        assert any(nb.path == "Home/Projects" for nb in main.sidebar_data.notebooks)
        assert "Moved notebook to Home/Projects" in [n.message for n in app._notifications]

        await on_sidebar(pilot, main, Target("notebook", projects))
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("enter")  # nothing typed: the first choice is the top level
        await settle(pilot)
        assert any(nb.path == "Projects" for nb in main.sidebar_data.notebooks)
    with open_vault(sample_vault) as vault:
        note = vault.find_note("Quarterly planning")
        assert vault.notebook_path(note.notebook) == "Projects"


async def test_a_notebook_cannot_move_into_a_new_notebook_inside_itself(
    sample_vault: Path, app_for
) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await on_sidebar(pilot, main, Target("notebook", notebook_id(main, "Work")))
        await pilot.press("m")
        await settle(pilot)
        # Its own notebook (there already) and a new one under it: neither is offered.
        for typed in ("Work/Projects", "work/projects/Deeper"):
            await type_into(pilot, "#value", typed)
            choices = app.screen.query_one("#choices")
            labels = [
                str(choices.get_option_at_index(i).prompt) for i in range(choices.option_count)
            ]
            assert labels == [f"{typed}: inside itself"], labels
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, MoveDialog)
        # Spaced as typed, past the dialog's check: the domain still refuses, making nothing.
        await type_into(pilot, "#value", "Work /Projects/ Deeper")
        app.screen._choose(MoveDialog.NEW)
        await settle(pilot)
        assert any("cannot move inside itself" in n.message for n in app._notifications)
    with open_vault(sample_vault) as vault:
        paths = {vault.notebook_path(nb.id) for nb in vault.notebooks()}
        assert "Work/Projects" in paths and not any("Deeper" in p for p in paths)


async def test_a_tag_is_renamed_and_removed_from_the_sidebar(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.go_to_target(Target("tag", "work"))
        await settle(pilot)
        await on_sidebar(pilot, main, Target("tag", "work"))
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, PromptDialog)
        await type_into(pilot, "#value", "a,b")  # not a tag name: refused in place
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PromptDialog)
        assert "cannot contain ','" in str(app.screen.query_one(".dialog-hint").content)
        await type_into(pilot, "#value", "#job")
        await pilot.press("enter")
        await settle(pilot)
        # The view follows the tag to its new name.
        assert main.target == Target("tag", "job")
        assert "Quarterly planning" in [n.title for n in main.notes_list.notes]
        names = [t.name for t in main.sidebar_data.tags]
        assert "job" in names and "work" not in names

        # A name in use: asked, then the two tags merge.
        await on_sidebar(pilot, main, Target("tag", "books"))
        await pilot.press("r")
        await settle(pilot)
        await type_into(pilot, "#value", "Planning")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert "Merge" in str(app.screen.query_one(".dialog-title").content)
        await pilot.press("y")
        await settle(pilot)
        assert "books" not in [t.name for t in main.sidebar_data.tags]
        assert next(t.notes for t in main.sidebar_data.tags if t.name == "planning") == 2

        await on_sidebar(pilot, main, Target("tag", "planning"))
        await pilot.press("delete")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        assert "planning" not in [t.name for t in main.sidebar_data.tags]
    with open_vault(sample_vault) as vault:
        note = vault.find_note("Quarterly planning")
        assert sorted(note.tags) == ["job"]
        assert not note.in_trash
        assert vault.find_note("Reading list").tags == ()


async def test_a_hostile_tag_from_another_device_is_renamed_as_text(
    sample_vault: Path, app_for
) -> None:
    with open_vault(sample_vault) as vault:
        vault.update_note(vault.find_note("Garden ideas"), tags=["home", HOSTILE_TAG])
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        hostile = next(t.name for t in main.sidebar_data.tags if "loud" in t.name)
        await on_sidebar(pilot, main, Target("tag", hostile))
        # Its palette entries too (their help quotes the tag).
        names = [name for name, _, _ in main.palette_actions()]
        assert "Rename tag" in names and "Remove tag" in names
        await pilot.press("r")
        await settle(pilot)
        shown = app.screen.query_one("#value").value
        assert "\x1b" not in shown and "\x07" not in shown  # control characters made visible
        await type_into(pilot, "#value", "quiet")
        await pilot.press("enter")
        await settle(pilot)
        assert [n.message for n in app._notifications if "quiet" in n.message]
        for note in app._notifications:
            assert "\x1b" not in note.message
    with open_vault(sample_vault) as vault:
        assert sorted(vault.find_note("Garden ideas").tags) == ["home", "quiet"]


async def test_the_tag_keys_leave_a_notebook_alone(sample_vault: Path, app_for) -> None:
    """r and del on a notebook still rename and delete the notebook (the tag's bindings share
    the keys and are not available there)."""
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await on_sidebar(pilot, main, Target("notebook", notebook_id(main, "Home")))
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, PromptDialog)
        assert app.screen.query_one("#value").value == "Home"
        await pilot.press("escape")
        await on_sidebar(pilot, main, ALL)
        await pilot.press("r", "delete", "m")  # nothing to rename, delete or move there
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)


async def change_password(pilot, current: str, new: str, repeat: str | None = None) -> None:  # type: ignore[no-untyped-def]
    await type_into(pilot, "#current", current)
    await type_into(pilot, "#new", new)
    await type_into(pilot, "#repeat", new if repeat is None else repeat)
    await pilot.press("enter")
    await settle(pilot)


async def test_the_password_changes_only_with_the_current_one(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(80, 24)) as pilot:
        main = await unlock(pilot)
        assert "Change password…" in [name for name, _, _ in main.palette_actions()]
        main.action_change_password()
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ChangePasswordDialog)
        assert not dialog.query_one("#keyfile").display  # this vault has no keyfile

        await change_password(pilot, PASSWORD, "new horse battery", "new horse batery")
        assert app.screen is dialog
        assert "differ" in str(dialog.query_one("#password-message").content)
        assert dialog.query_one("#repeat").value == ""

        await change_password(pilot, "not it", "new horse battery")
        assert app.screen is dialog
        assert "not the current password" in str(dialog.query_one("#password-message").content)
        assert dialog.focused is dialog.query_one("#current")

        await change_password(pilot, PASSWORD, "new horse battery")
        assert isinstance(app.screen, MainScreen)
        assert any("Password changed" in n.message for n in app._notifications)
    with pytest.raises(WrongPasswordError):
        Vault.unlock(sample_vault, password=PASSWORD)
    with Vault.unlock(sample_vault, password="new horse battery") as vault:
        assert vault.find_note("Garden ideas")


async def test_a_keyfile_vault_keeps_its_keyfile(tmp_path: Path, home_vault: Path, app_for) -> None:
    keyfile = keyfile_vault(tmp_path, home_vault)
    app = app_for(home_vault, keyfile=keyfile)
    async with app.run_test(size=(120, 40)) as pilot:
        dialog = await password_dialog(pilot)
        assert isinstance(dialog, ChangePasswordDialog)
        field = dialog.query_one("#keyfile")
        assert field.display and field.value == str(keyfile)
        await type_into(pilot, "#keyfile", "")
        await change_password(pilot, PASSWORD, "quiet orchid lantern ninety")
        assert app.screen is dialog
        assert "needs its keyfile" in str(dialog.query_one("#password-message").content)
        await type_into(pilot, "#keyfile", str(keyfile))
        await change_password(pilot, PASSWORD, "quiet orchid lantern ninety")
        assert isinstance(app.screen, MainScreen)
    with Vault.unlock(home_vault, password="quiet orchid lantern ninety", keyfile=keyfile):
        pass
    with pytest.raises(WrongPasswordError):
        Vault.unlock(home_vault, password=PASSWORD, keyfile=keyfile)


async def test_a_notebook_inside_a_folded_one_is_unfolded_to(sample_vault: Path, app_for) -> None:
    """Chosen from the palette while its parent is folded, the notebook is highlighted (the
    cursor stayed on All notes: a line not drawn cannot take it)."""
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        work = Target("notebook", notebook_id(main, "Work"))
        main.sidebar.node_for(work).collapse()
        await pilot.pause()
        projects = Target("notebook", notebook_id(main, "Work/Projects"))
        main.go_to_target(projects)
        await settle(pilot)
        assert main.sidebar.node_for(work).is_expanded
        assert main.sidebar.highlighted_target == projects


async def test_a_heading_mark_typed_before_a_new_title_is_left_out(
    sample_vault: Path, app_for
) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        for typed, title in (("# Groceries", "Groceries"), ("#1 priority", "#1 priority")):
            await pilot.press("ctrl+n")
            await pilot.pause()
            await type_into(pilot, "#value", typed)
            await pilot.press("enter")
            await settle(pilot)
            assert main.pane.note is not None and main.pane.note.title == title
            await pilot.press("escape")
            await settle(pilot)


async def test_a_notebook_folded_by_hand_stays_folded_through_a_reload(
    sample_vault: Path, app_for
) -> None:
    """Unfolding to a notebook is for a view just chosen; a save or a sync reloads the sidebar
    with the same view, and what the person folded stays folded."""
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        work = Target("notebook", notebook_id(main, "Work"))
        main.go_to_target(Target("notebook", notebook_id(main, "Work/Projects")))
        await settle(pilot)
        main.sidebar.node_for(work).collapse()
        await pilot.pause()
        main.schedule_reload()
        await settle(pilot)
        assert not main.sidebar.node_for(work).is_expanded


async def test_the_app_renames_and_removes_a_tag_this_device_would_refuse(
    sample_vault: Path, app_for
) -> None:
    """A tag from another device need not be one this device accepts ("a,b"): Enter on it as
    shown changes nothing, a new name renames it, and it can be removed."""
    import dataclasses

    with open_vault(sample_vault) as vault:
        note = vault.find_note("Garden ideas")
        vault._write(dataclasses.replace(note, tags=("home", "a,b")), vault._parents(note))
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await on_sidebar(pilot, main, Target("tag", "a,b"))
        await pilot.press("r")
        await settle(pilot)
        await pilot.press("enter")  # as shown: nothing to do
        await settle(pilot)
        assert app.screen is main and app.is_running
        await pilot.press("r")
        await settle(pilot)
        await type_into(pilot, "#value", "ab")
        await pilot.press("enter")
        await settle(pilot)
        assert "ab" in [t.name for t in main.sidebar_data.tags]
    with open_vault(sample_vault) as vault:
        assert sorted(vault.find_note("Garden ideas").tags) == ["ab", "home"]


async def test_a_password_change_that_fails_says_why_and_lets_go(
    tmp_path: Path, home_vault: Path, app_for
) -> None:
    """Any failure (here the keyfile is empty) is said in the dialog, which is usable again:
    focus back in the first field, escape closes it. A keyfile that is not there is said at
    once, with the focus in its field."""
    keyfile = keyfile_vault(tmp_path, home_vault)
    app = app_for(home_vault, keyfile=keyfile)
    async with app.run_test(size=(120, 40)) as pilot:
        dialog = await password_dialog(pilot)
        await type_into(pilot, "#keyfile", str(tmp_path / "gone.bin"))
        await change_password(pilot, PASSWORD, "quiet orchid lantern ninety")
        assert "gone.bin is not there" in str(dialog.query_one("#password-message").content)
        assert dialog.focused is dialog.query_one("#keyfile")
        (tmp_path / "empty.bin").write_bytes(b"")
        await type_into(pilot, "#keyfile", str(tmp_path / "empty.bin"))
        await change_password(pilot, PASSWORD, "quiet orchid lantern ninety")
        assert "was not changed" in str(dialog.query_one("#password-message").content)
        assert not dialog.query_one("#busy").display
        assert dialog.focused is dialog.query_one("#current")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)


async def test_ctrl_z_does_not_take_back_an_older_move_after_another_change(
    sample_vault: Path, app_for
) -> None:
    """A note moved, then a tag removed: ctrl+z would have moved the note back, unasked (the
    tag's removal cannot be taken back, and is the last thing done)."""
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await highlight(pilot, main, "Garden ideas")
        await pilot.press("m")
        await settle(pilot)
        await type_into(pilot, "#value", "Work")
        await pilot.press("enter")
        await settle(pilot)
        assert main.check_action("undo", ()) is True
        await on_sidebar(pilot, main, Target("tag", "books"))
        await pilot.press("delete")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert main.check_action("undo", ()) is False
        await pilot.press("ctrl+z")
        await settle(pilot)
    with open_vault(sample_vault) as vault:
        assert vault.notebook_path(vault.find_note("Garden ideas").notebook) == "Work"


async def test_the_dialogs_show_their_title_at_80x24(sample_vault: Path, app_for) -> None:
    """A card taller than the screen scrolls; focusing its field scrolled the title out of
    view. Opened at 80x24, each shows its title, and the field typed into is in view too."""
    app = app_for(sample_vault)
    async with app.run_test(size=(80, 24)) as pilot:
        main = await unlock(pilot)
        opened = [
            ("Change password", main.action_change_password),
            ("Import Markdown", main.action_import_markdown),
        ]
        for title, action in opened:
            action()
            await settle(pilot)
            dialog = app.screen
            heading = dialog.query_one(".dialog-title")
            assert str(heading.content) == title
            screen = dialog.region
            card = dialog.query_one(".card")
            assert card.scroll_y == 0, title  # scrolled to the field, the title went under
            assert screen.contains_region(heading.region), (title, heading.region)
            assert dialog.focused is not None
            assert screen.contains_region(dialog.focused.region), (title, dialog.focused.region)
            await pilot.press("escape")
            await settle(pilot)


async def test_a_weak_new_password_is_taken_only_when_confirmed(
    sample_vault: Path, app_for
) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.action_change_password()
        await settle(pilot)
        dialog = app.screen
        await change_password(pilot, PASSWORD, "hunter2")
        assert app.screen is dialog
        assert "is weak" in str(dialog.query_one("#password-message").content)
        await pilot.press("enter")  # again: taken
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
    with Vault.unlock(sample_vault, password="hunter2"):
        pass
