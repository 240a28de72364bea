"""The unlock screen: a wrong password is said plainly, the right one opens the notes, and a
vault that needs a keyfile asks for it."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static

from tests.conftest import PASSWORD
from tests.tui.conftest import settle, type_into, unlock
from vault.crypto import TEST_KDF
from vault.notes import Vault
from vault.tui.screens.main import MainScreen
from vault.tui.screens.unlock import UnlockScreen


async def test_wrong_password_then_right_one(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, UnlockScreen)
        assert "~/vault" in str(screen.query_one(".card-path", Static).render())
        await type_into(pilot, "#password", "not the password")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, UnlockScreen)
        message = str(screen.query_one("#unlock-message", Static).render())
        assert message == "Wrong password. Try again."
        assert screen.query_one("#password", Input).value == ""  # nothing kept in the field
        assert app.session is None

        main = await unlock(pilot)
        titles = [n.title for n in main.notes_list.notes]
        assert titles[0] == "Welcome to your vault"  # pinned first
        assert "Old draft" not in titles  # in the trash
        assert len(titles) == 6


async def test_keyfile_vault_asks_for_the_keyfile(home_vault: Path, tmp_path: Path, app_for):
    keyfile = tmp_path / "key.bin"
    keyfile.write_bytes(b"k" * 64)
    vault, _ = Vault.create(
        home_vault, PASSWORD, keyfile=keyfile, kdf=TEST_KDF, allow_weak_kdf=True
    )
    vault.create_note("Behind a keyfile", "body")
    vault.lock()
    app = app_for(home_vault)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, UnlockScreen)
        assert screen.query_one("#keyfile").display  # shown: this vault needs one
        await type_into(pilot, "#password", PASSWORD)
        await pilot.press("enter")
        await settle(pilot)
        assert "keyfile" in str(screen.query_one("#unlock-message", Static).render())
        screen.query_one("#keyfile", Input).value = str(keyfile)
        screen.query_one("#password", Input).focus()
        main = await unlock(pilot)
        assert [n.title for n in main.notes_list.notes] == ["Behind a keyfile"]


async def test_keyfile_given_on_the_command_line_is_filled_in(
    home_vault: Path, tmp_path: Path, app_for
) -> None:
    keyfile = tmp_path / "key.bin"
    keyfile.write_bytes(b"q" * 64)
    Vault.create(home_vault, PASSWORD, keyfile=keyfile, kdf=TEST_KDF, allow_weak_kdf=True)[0].lock()
    app = app_for(home_vault, keyfile=keyfile)
    async with app.run_test(size=(100, 30)) as pilot:
        main = await unlock(pilot)
        assert isinstance(main, MainScreen)


async def test_a_folder_that_is_not_a_vault_is_explained(home_vault: Path, app_for) -> None:
    home_vault.mkdir()
    (home_vault / "shopping.txt").write_text("not a vault")
    app = app_for(home_vault)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        text = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "cannot be opened" in text
        assert (home_vault / "shopping.txt").read_text() == "not a vault"
