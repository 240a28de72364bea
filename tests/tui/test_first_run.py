"""First run: create the vault, see the recovery key once, land on the welcome note."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Button, Checkbox, Static

from tests.tui.conftest import settle, type_into
from vault.errors import KeyfileRequiredError
from vault.notes.vault import Vault
from vault.tui.screens.create import CreateVaultScreen, RecoveryKeyScreen
from vault.tui.screens.main import MainScreen
from vault.tui.welcome import WELCOME_TITLE

NEW_PASSWORD = "plum orbit candle seventy"


async def test_create_vault_then_recovery_key_then_welcome(home_vault: Path, app_for) -> None:
    app = app_for(home_vault)
    async with app.run_test(size=(100, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CreateVaultScreen)

        await pilot.press(*"abc")
        assert "very weak" in str(screen.query_one("#strength", Static).render())
        await type_into(pilot, "#password", NEW_PASSWORD)
        assert "very weak" not in str(screen.query_one("#strength", Static).render())

        # Two different passwords: refused in place, nothing created.
        await type_into(pilot, "#repeat", "something else")
        await pilot.press("enter")
        await settle(pilot)
        assert "not the same" in str(screen.query_one("#create-message", Static).render())
        assert not (home_vault / "vault.json").exists()

        await type_into(pilot, "#repeat", NEW_PASSWORD)
        await pilot.press("enter")
        await settle(pilot)
        recovery = app.screen
        assert isinstance(recovery, RecoveryKeyScreen)
        key = str(recovery.query_one("#recovery-key", Static).render()).strip()
        assert len(key) > 40

        # Continue stays disabled until the person says the key is written down.
        assert recovery.query_one("#continue", Button).disabled
        recovery.query_one(Checkbox).value = True
        await pilot.pause()
        assert not recovery.query_one("#continue", Button).disabled
        await pilot.click("#continue")
        await settle(pilot)
        main = app.screen
        assert isinstance(main, MainScreen)
        assert main.pane.note is not None and main.pane.note.title == WELCOME_TITLE

    # The vault is real: the password opens it, and so does the recovery key shown once.
    with Vault.unlock(home_vault, password=NEW_PASSWORD) as vault:
        assert [n.title for n in vault.notes()] == [WELCOME_TITLE]
    with Vault.unlock(home_vault, recovery_key=key) as vault:
        assert len(vault.notes()) == 1


async def test_empty_password_is_refused(home_vault: Path, app_for) -> None:
    app = app_for(home_vault)
    async with app.run_test(size=(100, 36)) as pilot:
        await settle(pilot)
        await pilot.click("#create")
        await settle(pilot)
        assert "Choose a password" in str(app.screen.query_one("#create-message", Static).render())
        assert isinstance(app.screen, CreateVaultScreen)
    assert not (home_vault / "vault.json").exists()


async def test_a_new_keyfile_path_makes_a_keyfile(home_vault: Path, tmp_path: Path, app_for):
    keyfile = tmp_path / "usb" / "vault.key"
    app = app_for(home_vault)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await type_into(pilot, "#password", NEW_PASSWORD)
        await type_into(pilot, "#repeat", NEW_PASSWORD)
        await type_into(pilot, "#keyfile", str(keyfile))
        hint = str(app.screen.query_one("#keyfile-hint", Static).render())
        assert "a new random keyfile will be made" in hint
        assert not keyfile.exists()  # nothing is made before the vault is
        await pilot.click("#create")
        await settle(pilot)
        recovery = app.screen
        assert isinstance(recovery, RecoveryKeyScreen)
        told = str(recovery.query_one("#keyfile-made", Static).render())
        assert str(keyfile) in told and "keep a copy" in told
    assert keyfile.stat().st_size == 64
    assert keyfile.stat().st_mode & 0o777 == 0o600
    assert len(set(keyfile.read_bytes())) > 8  # random, not a pattern
    with Vault.unlock(home_vault, password=NEW_PASSWORD, keyfile=keyfile) as vault:
        assert [n.title for n in vault.notes()] == [WELCOME_TITLE]
    with pytest.raises(KeyfileRequiredError):
        Vault.unlock(home_vault, password=NEW_PASSWORD)


async def test_an_existing_keyfile_is_used_as_it_is(home_vault: Path, tmp_path: Path, app_for):
    keyfile = tmp_path / "photo.jpg"
    keyfile.write_bytes(b"any file will do, as long as it stays the same" * 10)
    before = keyfile.read_bytes()
    app = app_for(home_vault)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await type_into(pilot, "#password", NEW_PASSWORD)
        await type_into(pilot, "#repeat", NEW_PASSWORD)
        await type_into(pilot, "#keyfile", str(keyfile))
        assert "will be needed" in str(app.screen.query_one("#keyfile-hint", Static).render())
        await pilot.click("#create")
        await settle(pilot)
        assert isinstance(app.screen, RecoveryKeyScreen)
        assert not app.screen.query("#keyfile-made")
    assert keyfile.read_bytes() == before
    with Vault.unlock(home_vault, password=NEW_PASSWORD, keyfile=keyfile) as vault:
        assert len(vault.notes()) == 1


async def test_a_short_terminal_shows_the_create_card_from_its_title(
    home_vault: Path, app_for
) -> None:
    """80x24: the card opens at its top (title and advice in view) with the password field
    focused and visible, and typing goes into it."""
    app = app_for(home_vault)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CreateVaultScreen)
        card = screen.query_one("#create-card")
        assert card.scroll_y == 0
        title = screen.query_one(".card-title")
        password = screen.query_one("#password")
        assert password.has_focus
        for widget in (title, password):
            assert card.region.contains_region(widget.region)
        await pilot.press(*"abc")
        assert screen.query_one("#password").value == "abc"


async def test_a_short_terminal_scrolls_the_create_message_into_view(
    home_vault: Path, app_for
) -> None:
    """80x24: the message under the keyfile field (two passwords that differ, and the
    "creating" line shown while the key derivation runs) is below the fold; it is scrolled
    into view, or pressing enter would seem to do nothing."""
    app = app_for(home_vault)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        card = screen.query_one("#create-card")
        await type_into(pilot, "#password", NEW_PASSWORD)
        await pilot.press("enter")
        await type_into(pilot, "#repeat", NEW_PASSWORD + "x")
        await pilot.press("enter")
        await settle(pilot)
        message = screen.query_one("#create-message", Static)
        assert "not the same" in str(message.render())
        assert card.region.contains_region(message.region)


async def test_a_weak_password_is_taken_only_when_confirmed(home_vault: Path, app_for) -> None:
    """ "abc" was accepted at once (a person's test): now the first Enter says how weak it is,
    and only a second one creates the vault with it; another password is asked about anew."""
    app = app_for(home_vault)
    async with app.run_test(size=(100, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        for weak in ("abc", "hunter2"):
            await type_into(pilot, "#password", weak)
            await type_into(pilot, "#repeat", weak)
            await pilot.press("enter")
            await settle(pilot)
            assert "Press Enter again" in str(screen.query_one("#create-message").render())
            assert not (home_vault / "vault.json").exists()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RecoveryKeyScreen)
    with Vault.unlock(home_vault, password="hunter2"):
        pass
