"""Backups and export in the app, checked on disk: back up now makes a backup that verifies,
the list shows it and checks it, quitting or locking after a change makes an automatic backup
(and quitting without one does not), and an export writes files only after a confirmation."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from tests.conftest import PASSWORD
from tests.tui.conftest import (
    open_vault,
    set_config,
    settle,
    type_into,
    unlock,
    wait_until,
    workers_done,
)
from tests.tui.test_editing import open_note
from vault.interchange.backup import create_backup, list_backups, verify_backup
from vault.tui.screens.backups import BackupsScreen, ExportDialog
from vault.tui.screens.dialogs import ConfirmDialog
from vault.tui.screens.main import MainScreen
from vault.tui.screens.unlock import UnlockScreen


def backups_in(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.vbak"))


def notices(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [n.message for n in app._notifications]


async def test_back_up_now_makes_a_backup_that_verifies(
    sample_vault: Path, tmp_path: Path, app_for
) -> None:
    folder = tmp_path / "backups"
    set_config(backup__dir=str(folder), sync__auto=False)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"back up now")
        await settle(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(backups_in(folder)))
        await wait_until(pilot, lambda: any(n.startswith("Backed up") for n in notices(app)))
        made = backups_in(folder)
        assert len(made) == 1 and "-auto" not in made[0].name  # by hand: never rotated away
        assert any(made[0].name in n for n in notices(app))
        assert main.query_one("#status-message").display is False  # the progress is gone
    report = verify_backup(made[0], password=PASSWORD)
    assert report.ok and report.live["note"] == 7  # six notes and one in the trash
    assert made[0].stat().st_mode & 0o077 == 0


async def test_the_list_shows_backups_and_checks_one(
    sample_vault: Path, tmp_path: Path, app_for
) -> None:
    folder = tmp_path / "backups"
    set_config(backup__dir=str(folder), sync__auto=False)
    folder.mkdir()
    with open_vault(sample_vault) as vault:
        create_backup(vault, folder)
        versions = sum(1 for op in vault.store.all_ops() if op.envelope is not None)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.action_backups()
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, BackupsScreen)
        table = screen.query_one(DataTable)
        await wait_until(pilot, lambda: "notes" in str(table.get_cell_at((0, 3))))
        assert table.row_count == 1
        assert str(table.get_cell_at((0, 2))) == "by hand"
        assert str(table.get_cell_at((0, 3))) == f"7 notes · {versions} versions"
        await pilot.press("v")
        await wait_until(pilot, lambda: str(table.get_cell_at((0, 4))).startswith("✓"))
        assert str(table.get_cell_at((0, 4))) == "✓ whole; every item opens"

        # Back up now from the list: a second row, newest first.
        await pilot.press("n")
        await wait_until(pilot, lambda: table.row_count == 2)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
    assert len(backups_in(folder)) == 2


async def test_a_damaged_backup_is_reported_in_the_list(
    sample_vault: Path, tmp_path: Path, app_for
) -> None:
    folder = tmp_path / "backups"
    set_config(backup__dir=str(folder), sync__auto=False)
    folder.mkdir()
    with open_vault(sample_vault) as vault:
        path = create_backup(vault, folder).path
    data = bytearray(path.read_bytes())
    data[-200] ^= 0x40  # a flipped bit in the last part
    path.write_bytes(bytes(data))
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.action_backups()
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        await pilot.press("enter")
        await wait_until(pilot, lambda: str(table.get_cell_at((0, 4))).startswith("✗"))
        assert app.is_running
        assert any(n.title == "Backup check" for n in app._notifications)


async def test_quitting_after_a_change_backs_up_and_without_one_does_not(
    sample_vault: Path, tmp_path: Path, app_for
) -> None:
    folder = tmp_path / "backups"
    set_config(backup__dir=str(folder), backup__on_quit=True, sync__auto=False)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.autosave_seconds = 60
        await open_note(pilot, main, "Garden ideas")
        await pilot.press(*"Quit ")
        await pilot.press("ctrl+q")
        await workers_done(app)
        await pilot.pause()
    assert app.return_code == 0
    made = backups_in(folder)
    assert len(made) == 1 and made[0].name.endswith("-auto.vbak")
    # It holds the change typed just before quitting.
    assert verify_backup(made[0], password=PASSWORD).ok
    from vault.interchange.backup import restore_backup

    restore_backup(made[0], tmp_path / "restored", password=PASSWORD)
    with open_vault(tmp_path / "restored") as restored:
        assert restored.find_note("Garden ideas").body.startswith("Quit Tomatoes")

    # Opened and closed again without a change: nothing new.
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        await pilot.press("ctrl+q")
        await workers_done(app)
        await pilot.pause()
    assert app.return_code == 0
    assert backups_in(folder) == made


async def test_no_backup_on_quit_when_turned_off(sample_vault: Path, tmp_path: Path, app_for):
    folder = tmp_path / "backups"
    set_config(backup__dir=str(folder), backup__on_quit=False, sync__auto=False)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main, "Garden ideas")
        await pilot.press(*"Edit ")
        await pilot.press("ctrl+q")
        await workers_done(app)
        await pilot.pause()
    assert backups_in(folder) == []
    with open_vault(sample_vault) as vault:
        assert vault.find_note("Garden ideas").body.startswith("Edit ")


async def test_a_signal_saves_backs_up_and_locks(sample_vault: Path, tmp_path: Path, app_for):
    folder = tmp_path / "backups"
    set_config(backup__dir=str(folder), sync__auto=False)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.autosave_seconds = 60
        await open_note(pilot, main, "Reading list")
        await pilot.press(*"Hangup ")
        session = app.session
        assert session is not None
        app._terminate()  # what SIGTERM and SIGHUP run (signals are not wired when headless)
        assert session.vault.master_key == bytes(32)  # locked before returning
        await pilot.pause()
    assert app.return_code == 0
    made = backups_in(folder)
    assert len(made) == 1 and made[0].name.endswith("-auto.vbak")
    with open_vault(sample_vault) as vault:
        assert vault.find_note("Reading list").body.startswith("Hangup ")


async def test_locking_after_a_change_backs_up(sample_vault: Path, tmp_path: Path, app_for):
    folder = tmp_path / "backups"
    set_config(backup__dir=str(folder), sync__auto=False)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.autosave_seconds = 60
        await open_note(pilot, main, "Reading list")
        await pilot.press(*"Lock ")
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, UnlockScreen)
    made = backups_in(folder)
    assert len(made) == 1
    assert list_backups(folder)[0].automatic


async def test_the_schedule_backs_up_when_due(sample_vault: Path, tmp_path: Path, app_for):
    folder = tmp_path / "backups"
    # Due as soon as the vault is a few milliseconds old.
    set_config(backup__dir=str(folder), backup__interval_hours=1e-6, sync__auto=False)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        app.scheduled_backup()  # what the timer does after unlocking, and every hour...
        await settle(pilot)
        assert backups_in(folder) == []  # ...but not while the person is typing
        app._last_activity -= 10  # a pause
        app.scheduled_backup()
        await wait_until(pilot, lambda: bool(backups_in(folder)))
        await wait_until(pilot, lambda: any("Automatic backup" in n for n in notices(app)))
        app.scheduled_backup()  # nothing changed since: nothing new
        await settle(pilot)
    assert len(backups_in(folder)) == 1


async def test_export_writes_files_only_after_confirmation(
    sample_vault: Path, tmp_path: Path, app_for
) -> None:
    target = tmp_path / "export"
    set_config(sync__auto=False)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)

        async def ask() -> None:
            main.action_export_markdown()
            await settle(pilot)
            assert isinstance(app.screen, ExportDialog)
            text = app.export_screenshot()
            assert "NOT&#160;encrypted" in text or "NOT encrypted" in text
            await type_into(pilot, "#value", str(target))
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmDialog)

        await ask()
        await pilot.press("enter")  # the focused button is Cancel: a danger is never default
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert not target.exists()

        await ask()
        await pilot.press("y")
        await wait_until(pilot, lambda: any(n.startswith("Exported") for n in notices(app)))
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*.md"))
    assert len(files) == 6  # every note outside the trash
    garden = next(p for p in target.rglob("Garden ideas.md"))
    assert "Tomatoes by the south wall" in garden.read_text()
    assert target.stat().st_mode & 0o077 == 0


async def test_export_refuses_a_folder_that_is_not_empty(
    sample_vault: Path, tmp_path: Path, app_for
) -> None:
    target = tmp_path / "full"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    set_config(sync__auto=False)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.action_export_markdown()
        await settle(pilot)
        await type_into(pilot, "#value", str(target))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ExportDialog)  # said in place; nothing asked, nothing written
        assert "not empty" in str(app.screen.query_one(".dialog-hint").render())
    assert sorted(p.name for p in target.iterdir()) == ["mine.txt"]
