"""Forgot the password, in the app: the unlock screen opens the vault with the recovery key and
sets a new password in the same step (as `vault passwd --recovery`); a vault with no password
here takes one from the recovery key in "Change password…"; and a key slot file that did not
read is named after a password change, since it may still hold the old password."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Static

from tests.conftest import PASSWORD
from tests.tui.conftest import settle, type_into, unlock
from vault.errors import KeyfileRequiredError, RecoveryKeyError, WrongPasswordError
from vault.notes.vault import Vault
from vault.sealing import keys
from vault.sealing.crypto import TEST_KDF
from vault.sealing.keys import create_keyfile
from vault.tui.screens.main import MainScreen
from vault.tui.screens.password_dialogs import ChangePasswordDialog, RecoverDialog
from vault.tui.screens.unlock import UnlockScreen

NEW = "a brand new horse battery"


def made(path: Path, keyfile: Path | None = None) -> str:
    """A vault with one note at `path`; its recovery key."""
    vault, recovery = Vault.create(
        path, PASSWORD, keyfile=keyfile, kdf=TEST_KDF, allow_weak_kdf=True
    )
    vault.create_note("Kept safe", "the body")
    vault.lock()
    return recovery


def keyfile_made(path: Path, tmp_path: Path) -> tuple[Path, str]:
    """A vault at `path` that needs a keyfile: the keyfile and the recovery key."""
    keyfile = tmp_path / "key.bin"
    create_keyfile(keyfile)
    return keyfile, made(path, keyfile)


def mistyped(recovery: str) -> str:
    """The key with one character of its third group changed so that the group's own check
    fails (some changes happen to pass it and fail only the whole key's checksum)."""
    groups = recovery.split("-")
    third = groups[2]
    for letter in "ACDEFGHJKLMNPQRSTUVWXYZ":
        if letter == third[0]:
            continue
        groups[2] = letter + third[1:]
        candidate = "-".join(groups)
        try:
            keys.parse_recovery_key(candidate)
        except RecoveryKeyError as exc:
            if "group 3 " in str(exc):
                return candidate
    raise AssertionError("no single change of group 3 fails its check")


async def recover_dialog(pilot) -> RecoverDialog:  # type: ignore[no-untyped-def]
    await settle(pilot)
    assert isinstance(pilot.app.screen, UnlockScreen)
    await pilot.press("ctrl+r")
    await settle(pilot)
    dialog = pilot.app.screen
    assert isinstance(dialog, RecoverDialog)
    return dialog


async def fill(pilot, proof: str, new: str, keyfile: str | None = None) -> None:  # type: ignore[no-untyped-def]
    await type_into(pilot, "#current", proof)
    if keyfile is not None:
        await type_into(pilot, "#keyfile", keyfile)
    await type_into(pilot, "#new", new)
    await type_into(pilot, "#repeat", new)
    await pilot.press("enter")
    await settle(pilot)


def said(screen) -> str:  # type: ignore[no-untyped-def]
    return str(screen.query_one("#password-message", Static).render())


async def test_a_forgotten_password_is_replaced_with_the_recovery_key(
    home_vault: Path, app_for
) -> None:
    recovery = made(home_vault)
    app = app_for(home_vault)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        hint = str(app.screen.query_one(".card-hint", Static).render())
        assert "ctrl+r" in hint and "recovery key" in hint
        dialog = await recover_dialog(pilot)
        assert dialog.query_one("#current", Input).password  # the key is not shown
        assert not dialog.query_one("#keyfile").display  # this vault has no keyfile

        # A mistyped group is named, and nothing is opened or changed; what was typed stays,
        # shown, so the group can be checked against the paper (not 70 characters again).
        await fill(pilot, mistyped(recovery), NEW)
        assert app.screen is dialog
        assert "group 3" in said(dialog)
        key_field = dialog.query_one("#current", Input)
        assert key_field.value == mistyped(recovery) and not key_field.password
        assert dialog.focused is key_field
        assert app.session is None

        # A well-formed key of another vault.
        other = made(home_vault.parent / "other")
        await fill(pilot, other, NEW)
        assert app.screen is dialog and "does not open this vault" in said(dialog)
        assert dialog.query_one("#current", Input).value == ""  # not a typo: typed again

        # Typed in lower case with spaces for dashes: taken (as the command line takes it).
        await fill(pilot, recovery.lower().replace("-", " "), NEW)
        main = app.screen
        assert isinstance(main, MainScreen), type(main).__name__
        await settle(pilot)
        assert [n.title for n in main.notes_list.notes] == ["Kept safe"]
        assert any("New password set" in n.message for n in app._notifications)

    # The new password opens it; the old one no longer does; the recovery key still does.
    Vault.unlock(home_vault, password=NEW).lock()
    with pytest.raises(WrongPasswordError):
        Vault.unlock(home_vault, password=PASSWORD)
    Vault.unlock(home_vault, recovery_key=recovery).lock()


async def test_a_keyfile_vault_recovered_without_its_keyfile_opens_with_the_password_alone(
    home_vault: Path, tmp_path: Path, app_for
) -> None:
    _, recovery = keyfile_made(home_vault, tmp_path)
    app = app_for(home_vault)
    async with app.run_test(size=(100, 30)) as pilot:
        dialog = await recover_dialog(pilot)
        assert dialog.query_one("#keyfile").display  # offered, not required
        await fill(pilot, recovery, NEW)
        assert isinstance(app.screen, MainScreen), said(dialog)
    Vault.unlock(home_vault, password=NEW).lock()  # the keyfile may be what was lost


async def test_a_keyfile_vault_recovered_with_its_keyfile_keeps_needing_it(
    home_vault: Path, tmp_path: Path, app_for
) -> None:
    keyfile, recovery = keyfile_made(home_vault, tmp_path)
    app = app_for(home_vault)
    async with app.run_test(size=(100, 30)) as pilot:
        dialog = await recover_dialog(pilot)
        await fill(pilot, recovery, NEW, keyfile=str(keyfile))
        assert isinstance(app.screen, MainScreen), said(dialog)
        # Offered again after a lock and to "Change password…", as after a plain unlock.
        assert app.keyfile == keyfile
    Vault.unlock(home_vault, password=NEW, keyfile=keyfile).lock()
    with pytest.raises(KeyfileRequiredError):
        Vault.unlock(home_vault, password=NEW)


async def test_escape_goes_back_to_the_password(home_vault: Path, app_for) -> None:
    made(home_vault)
    app = app_for(home_vault)
    async with app.run_test(size=(100, 30)) as pilot:
        await recover_dialog(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, UnlockScreen)
        assert app.screen.focused is app.screen.query_one("#password", Input)
        await unlock(pilot)


async def test_a_vault_without_a_password_here_takes_one_from_the_recovery_key(
    home_vault: Path, app_for
) -> None:
    recovery = made(home_vault)
    vault = Vault.unlock(home_vault, recovery_key=recovery)
    for slot in vault.store.slots():
        if slot.slot_type != keys.RECOVERY:
            vault.store.remove_slot(slot.slot_id)
    assert not vault.has_password
    with pytest.raises(RecoveryKeyError):
        vault.check_recovery_key(mistyped(recovery))
    vault.check_recovery_key(recovery)
    vault.lock()

    # The unlock screen's recovery path is the way in, and sets a password.
    app = app_for(home_vault)
    async with app.run_test(size=(100, 30)) as pilot:
        await recover_dialog(pilot)
        await fill(pilot, recovery, NEW)
        main = app.screen
        assert isinstance(main, MainScreen)
        # Now there is a password: the dialog asks for it, not the key.
        main.action_change_password()
        await settle(pilot)
        change = app.screen
        assert isinstance(change, ChangePasswordDialog)
        assert change.query_one("#current", Input).placeholder == "Current password"
    Vault.unlock(home_vault, password=NEW).lock()


async def test_change_password_on_a_vault_with_only_the_recovery_key(
    home_vault: Path, app_for
) -> None:
    recovery = made(home_vault)
    vault = Vault.unlock(home_vault, recovery_key=recovery)
    for slot in vault.store.slots():
        if slot.slot_type != keys.RECOVERY:
            vault.store.remove_slot(slot.slot_id)
    vault.lock()
    app = app_for(home_vault)
    async with app.run_test(size=(100, 30)) as pilot:
        # No password opens it: the unlock screen's recovery path is the way in, and it sets
        # one. Here the session is made directly from the recovery key to reach the dialog
        # on a vault that has none (as after `vault clone --recovery` declined a password).
        await settle(pilot)
        from vault.tui.session import Session

        opened = Vault.unlock(home_vault, recovery_key=recovery, bodies="later")
        screen = app.screen
        assert isinstance(screen, UnlockScreen)
        screen._opened(opened)
        await settle(pilot)
        main = app.screen
        assert isinstance(main, MainScreen)
        assert isinstance(app.session, Session)
        main.action_change_password()
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ChangePasswordDialog)
        assert dialog.query_one("#current", Input).placeholder == "Recovery key"
        assert "Set a password" in str(dialog.query_one(".dialog-title").render())
        await fill(pilot, mistyped(recovery), NEW)
        assert app.screen is dialog and "group 3" in said(dialog)
        await fill(pilot, recovery, NEW)
        assert app.screen is main
        assert any("Password set" in n.message for n in app._notifications)
    Vault.unlock(home_vault, password=NEW).lock()


async def test_a_slot_file_that_does_not_read_is_named_after_a_password_change(
    sample_vault: Path, app_for
) -> None:
    # A slot of the old password, damaged in its format only (a newer version, say): the
    # change cannot read it, so cannot remove it, and says so.
    keys_dir = sample_vault / "keys"
    (keys_dir / "zz-old.json").write_text('{"v": 99}')
    app = app_for(sample_vault)
    async with app.run_test(size=(100, 30)) as pilot:
        main = await unlock(pilot)
        main.action_change_password()
        await settle(pilot)
        await fill(pilot, PASSWORD, NEW)
        assert app.screen is main
        (note,) = [n for n in app._notifications if "Password changed" in n.message]
        assert "keys/zz-old.json" in note.message and note.severity == "warning"


async def test_after_recovery_without_the_keyfile_the_next_unlock_does_not_offer_it(
    home_vault: Path, tmp_path: Path, app_for
) -> None:
    # Started with --keyfile; the recovery drops the keyfile (field cleared): the new
    # password opens the vault alone. After a lock the unlock screen must not send the old
    # keyfile with the new password.
    keyfile, recovery = keyfile_made(home_vault, tmp_path)
    app = app_for(home_vault, keyfile=keyfile)
    async with app.run_test(size=(100, 30)) as pilot:
        dialog = await recover_dialog(pilot)
        assert dialog.query_one("#keyfile", Input).value == str(keyfile)
        dialog.query_one("#keyfile", Input).value = ""
        await fill(pilot, recovery, NEW)
        assert isinstance(app.screen, MainScreen), said(dialog)
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, UnlockScreen)
        await type_into(pilot, "#password", NEW)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen), type(app.screen).__name__
    Vault.unlock(home_vault, password=NEW).lock()


async def test_a_keyfile_that_is_missing_is_refused_with_the_focus_in_the_keyfile_field(
    home_vault: Path, tmp_path: Path, app_for
) -> None:
    _, recovery = keyfile_made(home_vault, tmp_path)
    app = app_for(home_vault)
    async with app.run_test(size=(100, 30)) as pilot:
        dialog = await recover_dialog(pilot)
        await fill(pilot, recovery, NEW, keyfile=str(tmp_path / "nowhere.bin"))
        assert app.screen is dialog and app.session is None
        assert "nowhere.bin is not there" in said(dialog)
        assert not dialog.query_one("#busy").display
        assert dialog.focused is dialog.query_one("#keyfile", Input), dialog.focused


async def test_ctrl_r_twice_and_during_an_unlock(home_vault: Path, app_for) -> None:
    made(home_vault)
    app = app_for(home_vault)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+r", "ctrl+r")
        await settle(pilot)
        assert len([s for s in app.screen_stack if isinstance(s, RecoverDialog)]) == 1
        await pilot.press("escape")
        await settle(pilot)
        await type_into(pilot, "#password", PASSWORD)
        await pilot.press("enter", "ctrl+r")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen), type(app.screen).__name__


async def test_a_recovery_closed_while_it_works_leaves_no_vault_open(
    home_vault: Path, app_for
) -> None:
    """The dialog closed from outside (the app quitting) while its worker unlocks: the vault
    it opened is locked, not left with its key in memory (found by a review)."""
    import gc

    recovery = made(home_vault)
    app = app_for(home_vault)
    async with app.run_test(size=(100, 30)) as pilot:
        dialog = await recover_dialog(pilot)
        await type_into(pilot, "#current", recovery)
        await type_into(pilot, "#new", NEW)
        await type_into(pilot, "#repeat", NEW)
        dialog._change()  # the worker starts...
        dialog.dismiss(None)  # ...and the dialog goes at once
        await settle(pilot)
        for _ in range(50):  # the worker's thread ends on its own
            if not any(w.is_running for w in app.workers):
                break
            await pilot.pause(0.05)
        await settle(pilot)
        assert isinstance(app.screen, UnlockScreen) and app.session is None
        opened = [o for o in gc.get_objects() if isinstance(o, Vault) and any(o._mk)]
        assert opened == []
    Vault.unlock(home_vault, password=NEW).lock()  # (the new password was set meanwhile)
