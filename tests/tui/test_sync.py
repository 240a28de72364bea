"""Sync in the app: two real vaults sharing a real folder. The app drives one (the desk); the
other (the laptop) is driven through the domain, as another machine would. Every test checks
the stores afterwards, not only what is on screen."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from textual.widgets import Button

from tests.conftest import PASSWORD
from tests.tui.conftest import (
    NOW,
    NOW_MS,
    Devices,
    open_vault,
    set_config,
    settle,
    unlock,
    wait_until,
    workers_done,
)
from tests.tui.test_editing import open_note
from vault.notes.vault import Vault
from vault.sync import SyncStatus
from vault.tui.screens.conflicts import ConflictListScreen, ConflictScreen
from vault.tui.screens.main import MainScreen
from vault.tui.screens.sync_panel import SyncFolderDialog, SyncPanel
from vault.tui.session import Session, Stopped
from vault.tui.sync_status import Running, ago, status_line
from vault.tui.widgets.status import StatusBar

MIN = 60_000


def footer(main: MainScreen) -> str:
    return main.query_one(StatusBar).segment_text("sync")


def notices(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [n.message for n in app._notifications]


# --- the words ------------------------------------------------------------------------------


def status(**kw: object) -> SyncStatus:
    values: dict[str, object] = {
        "remote": "/sync",
        "last_sync": NOW_MS - 2 * MIN,
        "last_error": None,
        "unpushed": 0,
        "conflicts": 0,
        "pending": 0,
        "rollbacks": 0,
    }
    values.update(kw)
    return SyncStatus(**values)  # type: ignore[arg-type]


def plain(markup: str) -> str:
    from textual.content import Content

    return Content.from_markup(markup).plain


def test_status_line_says_what_a_person_acts_on() -> None:
    assert plain(status_line(status(remote=None), NOW)) == "not syncing"
    assert plain(status_line(status(remote=None, conflicts=2), NOW)) == "not syncing · 2 conflicts"
    assert plain(status_line(status(), NOW)) == "synced 2 min ago"
    assert plain(status_line(status(last_sync=None), NOW)) == "never synced"
    line = plain(status_line(status(unpushed=3, conflicts=1), NOW))
    assert line == "synced 2 min ago · 3 pending · 1 conflict"
    assert len(line) <= 45  # fits beside the vault's path at 80 columns
    assert plain(status_line(status(pending=2), NOW)) == "synced 2 min ago · 2 arriving"
    error = "/home/me/Sync/vault is not reachable: No such file or directory, so nothing was done"
    line = plain(status_line(status(last_error=error), NOW))
    assert line.startswith("sync error: /home/me/Sync") and line.endswith("…")
    assert len(line) < 60
    assert plain(status_line(status(rollbacks=1), NOW)).startswith("⚠ rollback · synced")
    assert plain(status_line(status(unpushed=4), NOW, Running("receiving", 3, 10))) == (
        "receiving… 3/10"
    )
    # Markup in an error (a path with brackets) is shown as it is, not interpreted.
    assert "[b]" in plain(status_line(status(last_error="bad [b]path[/b]"), NOW))


def test_ago() -> None:
    assert ago(NOW_MS + 5 * MIN, NOW) == "just now"  # a clock a little ahead
    assert ago(NOW_MS - 59 * MIN, NOW) == "59 min ago"
    assert ago(NOW_MS - 3 * 60 * MIN, NOW) == "3 h ago"
    assert ago(NOW_MS - 30 * 60 * MIN, NOW) == "yesterday"
    assert ago(NOW_MS - 80 * 60 * MIN, NOW) == "3 days ago"


# --- syncing --------------------------------------------------------------------------------


async def test_no_folder_says_not_syncing_and_f9_says_how(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await wait_until(pilot, lambda: footer(main) == "not syncing")
        await pilot.press("f9")
        await settle(pilot)
        assert any("no sync folder yet" in n for n in notices(app))


async def test_round_trip_between_two_devices(devices: Devices, app_for) -> None:
    set_config(sync__auto=False)
    with open_vault(devices.laptop) as laptop:
        laptop.create_note("From the laptop", "written on the other machine\n")
    devices.sync(devices.laptop)

    app = app_for(devices.desk)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await wait_until(pilot, lambda: footer(main).startswith("synced"))
        assert "From the laptop" not in [n.title for n in main.notes_list.notes]
        await pilot.press("f9")
        await wait_until(
            pilot, lambda: "From the laptop" in [n.title for n in main.notes_list.notes]
        )
        assert footer(main) == "synced just now"
        assert any(n.startswith("Received 1 change") for n in notices(app))

        # An edit made here goes the other way.
        await open_note(pilot, main, "Garden ideas")
        await pilot.press(*"Desk ")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "1 pending" in footer(main) or "pending" in footer(main))
        await pilot.press("f9")
        await wait_until(pilot, lambda: footer(main) == "synced just now")

    devices.sync(devices.laptop)
    with open_vault(devices.laptop) as laptop:
        assert laptop.find_note("Garden ideas").body.startswith("Desk Tomatoes")
    with open_vault(devices.desk) as desk:
        assert desk.find_note("From the laptop").body == "written on the other machine\n"


async def test_a_save_is_synced_after_the_debounce(devices: Devices, app_for) -> None:
    set_config(sync__auto=True, sync__debounce_seconds=0.3, sync__interval_seconds=0)
    app = app_for(devices.desk)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.autosave_seconds = 0.2
        await wait_until(pilot, lambda: footer(main).startswith("synced"))  # the sync on opening
        await open_note(pilot, main, "Reading list")
        await pilot.press(*"Auto ")
        # Autosave, then the debounced sync: no key pressed for either.
        await wait_until(
            pilot,
            lambda: (
                app.sync_status is not None
                and app.sync_status.unpushed == 0
                and main.pane.save_state == "saved"
                and open_vault_body(devices.desk, "Reading list").startswith("Auto ")
            ),
        )
        await wait_until(pilot, lambda: laptop_sees(devices, "Reading list", "Auto "))


def open_vault_body(path: Path, title: str) -> str:
    with open_vault(path) as vault:
        return vault.find_note(title).body


def laptop_sees(devices: Devices, title: str, start: str) -> bool:
    devices.sync(devices.laptop)
    return open_vault_body(devices.laptop, title).startswith(start)


async def test_a_missing_folder_is_told_once_and_stays_in_the_footer(
    devices: Devices, app_for
) -> None:
    set_config(sync__auto=False)
    shutil.rmtree(devices.folder)
    app = app_for(devices.desk)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        app.request_sync()
        await wait_until(pilot, lambda: footer(main).startswith("sync error:"))
        assert app.is_running and isinstance(app.screen, MainScreen)
        told = [n for n in notices(app) if "shared" in n]
        assert len(told) == 1
        assert "\n" not in told[0]
        app.request_sync()  # the timer tries again: no second notification
        await wait_until(pilot, lambda: not app._sync_running)
        assert len([n for n in notices(app) if "shared" in n]) == 1
        assert footer(main).startswith("sync error:")
    with open_vault(devices.desk) as desk:
        assert len(desk.notes()) == 6  # nothing lost on this side either


async def test_a_folder_that_went_back_in_time_is_shown_clearly(devices: Devices, app_for) -> None:
    set_config(sync__auto=False)
    old = devices.folder.parent / "old-copy"
    shutil.copytree(devices.folder, old)
    for title in ("Later", "Later still"):  # two more files in the laptop's log
        with open_vault(devices.laptop) as laptop:
            laptop.create_note(title, "after the copy\n")
        devices.sync(devices.laptop)
    devices.sync(devices.desk)
    with open_vault(devices.desk) as desk:
        before = {n.id: n.body for n in desk.all_notes()}
    shutil.rmtree(devices.folder)
    shutil.copytree(old, devices.folder)  # an old copy of the folder restored
    app = app_for(devices.desk)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await pilot.press("f9")
        await wait_until(pilot, lambda: footer(main).startswith("⚠ rollback"))
        told = [n for n in app._notifications if "went back in time" in n.message]
        assert len(told) == 1 and told[0].severity == "error"
        assert "device 11111111" in told[0].message  # which device's log, in one line
        assert "\n" not in told[0].message
        assert {"Later", "Later still"} <= {n.title for n in main.notes_list.notes}
    with open_vault(devices.desk) as desk:
        assert {n.id: n.body for n in desk.all_notes()} == before  # nothing rolled back


async def test_typing_while_the_note_changes_elsewhere_keeps_both(
    devices: Devices, app_for
) -> None:
    set_config(sync__auto=False)
    app = app_for(devices.desk)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.autosave_seconds = 60
        await open_note(pilot, main, "Garden ideas")
        await pilot.press(*"Mine ")
        # Meanwhile the laptop rewrote the same first line and synced.
        devices.edit(devices.laptop, "Garden ideas", "Theirs: roses by the wall.\n", 1)
        devices.sync(devices.laptop)
        await pilot.press("f9")  # saves what is typed first, then syncs
        await wait_until(pilot, lambda: main.pane.note is not None and main.pane.note.conflict)
        # The editor still holds what was typed: nothing was swapped under the cursor.
        assert main.pane.text.startswith("Mine Tomatoes")
        assert any("f8 compares" in n for n in notices(app))
        await settle(pilot)
        assert main.pane.text.startswith("Mine Tomatoes")
    with open_vault(devices.desk) as desk:
        note = desk.find_note("Garden ideas")
        assert note.conflict
        bodies = {h.op_id for h in desk.store.heads(note.id)}
        assert len(bodies) == 2


@pytest.mark.parametrize("key", ["m", "t", "b"])
async def test_the_conflict_view_resolves(devices: Devices, app_for, key: str) -> None:
    set_config(sync__auto=False)
    devices.conflict(
        "Garden ideas",
        "Tomatoes by the east fence.\n",
        "Tomatoes in the greenhouse.\n",
    )
    app = app_for(devices.desk)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        assert "1 conflict" in footer(main)
        await pilot.press("f8")  # no conflicted note open: the list of conflicts
        await settle(pilot)
        assert isinstance(app.screen, ConflictListScreen)
        await pilot.press("enter")
        await settle(pilot)
        view = app.screen
        assert isinstance(view, ConflictScreen)
        text = app.export_screenshot()
        for words in ("east", "greenhouse", "this", "device", "differs"):
            assert words in text
        await pilot.press(key)
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)  # the list closed: none left
        assert view.conflict is None  # nothing decrypted kept by the closed view
        await wait_until(pilot, lambda: "conflict" not in footer(main))
    with open_vault(devices.desk) as desk:
        assert desk.store.conflicted_ids() == []
        kept = desk.find_note("Garden ideas").body
        if key == "m":
            assert kept == "Tomatoes by the east fence.\n"
        elif key == "t":
            assert kept == "Tomatoes in the greenhouse.\n"
        else:
            assert kept == "Tomatoes by the east fence.\n"
            copy = desk.find_note("Garden ideas (conflicted copy)")
            assert copy.body == "Tomatoes in the greenhouse.\n"


async def test_the_open_notes_conflict_mark_opens_its_versions(devices: Devices, app_for) -> None:
    set_config(sync__auto=False)
    devices.conflict("Reading list", "- mine\n", "- theirs\n")
    app = app_for(devices.desk)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main, "Reading list")
        await pilot.click("#editor-details", offset=(2, 0))
        await settle(pilot)
        assert isinstance(app.screen, ConflictScreen)
        assert not app.screen.query_one("#both", Button).disabled
        await pilot.press("escape")  # decide later: nothing changes
        await settle(pilot)
    with open_vault(devices.desk) as desk:
        assert desk.find_note("Reading list").conflict


async def test_ctrl_l_locks_from_the_conflict_view_and_nothing_stays(
    devices: Devices, app_for
) -> None:
    from tests.tui.test_editing import widget_texts
    from vault.tui.screens.conflicts import DiffView
    from vault.tui.screens.unlock import UnlockScreen

    set_config(sync__auto=False)
    devices.conflict(
        "Reading list", "- only on the desk QWXDESK\n", "- only on the laptop QWXLAP\n"
    )
    app = app_for(devices.desk)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main, "Reading list")
        await pilot.press("f8")
        await settle(pilot)
        view = app.screen
        assert isinstance(view, ConflictScreen)
        diff = view.query_one(DiffView)
        assert any("QWXLAP" in (row.right or "") for row in diff.rows)
        await pilot.press("ctrl+l")  # an app key: it works over the conflict view too
        await settle(pilot)
        assert isinstance(app.screen, UnlockScreen)
        assert view.conflict is None
        assert (diff.rows, diff.fields, diff.note) == ([], [], "")
        assert not [t for t in widget_texts(app) if "QWX" in t]
    with open_vault(devices.desk) as desk:
        assert desk.find_note("Reading list").conflict  # locking decided nothing


async def test_setting_the_sync_folder_in_the_app(sample_vault: Path, tmp_path: Path, app_for):
    set_config(sync__auto=False)
    folder = tmp_path / "Dropbox" / "vault"
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        main.action_sync_panel()
        await settle(pilot)
        assert isinstance(app.screen, SyncPanel)
        await pilot.click("#folder")
        await settle(pilot)
        assert isinstance(app.screen, SyncFolderDialog)
        app.screen.query_one("#value").value = str(folder)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(pilot)
        # The parent does not exist: said in the dialog, which stays open with the path.
        assert isinstance(app.screen, SyncFolderDialog)
        assert "does not exist" in str(app.screen.query_one(".dialog-hint").render())
        folder.parent.mkdir()
        await pilot.press("enter")
        await wait_until(pilot, lambda: footer(main) == "synced just now")
        assert isinstance(app.screen, MainScreen)
    assert (folder / "vault-sync.json").exists()
    with open_vault(sample_vault) as vault:
        from vault.sync import remote_info

        info = remote_info(vault.store)
        assert info.source == "vault" and info.reachable and info.files >= 1


# --- locking while a sync runs ---------------------------------------------------------------


def test_locking_stops_a_running_sync_at_a_safe_point(devices: Devices) -> None:
    for i in range(3):  # three files to receive: three progress points
        with open_vault(devices.laptop) as laptop:
            laptop.create_note(f"Laptop note {i}", "text\n")
        devices.sync(devices.laptop)
    session = Session(Vault.unlock(devices.desk, password=PASSWORD))
    reached = threading.Event()
    outcome: list[object] = []

    def slow(phase: str, done: int, total: int) -> None:
        reached.set()
        deadline = time.monotonic() + 5
        while not session.closing and time.monotonic() < deadline:
            time.sleep(0.01)

    def run() -> None:
        try:
            outcome.append(session.sync("", progress=slow))
        except Stopped as stop:
            outcome.append(stop)

    worker = threading.Thread(target=run)
    worker.start()
    assert reached.wait(5)
    session.close()  # waits for the sync, which stops at its next safe point
    worker.join()
    assert len(outcome) == 1 and isinstance(outcome[0], Stopped)
    # What was applied is whole, and the next sync finishes the job.
    with open_vault(devices.desk) as desk:
        assert desk.check().ok
    devices.sync(devices.desk)
    with open_vault(devices.desk) as desk:
        titles = {n.title for n in desk.notes()}
        assert {f"Laptop note {i}" for i in range(3)} <= titles


async def test_locking_the_app_while_syncing_locks_cleanly(devices: Devices, app_for) -> None:
    set_config(sync__auto=False)
    app = app_for(devices.desk)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        session = app.session
        assert session is not None
        app.request_sync()
        app.action_lock()
        await settle(pilot)
        await workers_done(app)
        assert not session.busy
        assert session.vault.master_key == bytes(32)  # locked: the key is wiped
    with open_vault(devices.desk) as desk:
        assert desk.check().ok


async def test_a_note_from_the_other_device_shows_within_seconds(
    devices: Devices, app_for, tmp_path: Path
) -> None:
    """The laptop's CLI writes a note and syncs; the app on the desk shows it within a few
    seconds, with no key pressed and the five-minute interval far away: it watches the
    folder's listing (sync.watch_seconds, 2 by default)."""
    from tests.conftest import CLI

    set_config(sync__auto=True, sync__interval_seconds=300)
    laptop = CLI(devices.laptop, tmp_path / "config.toml")
    app = app_for(devices.desk)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await wait_until(pilot, lambda: footer(main).startswith("synced"))  # the sync on opening
        laptop("new", "Written on the laptop", "--no-edit", check=True)
        laptop("sync", check=True)
        start = time.monotonic()
        await wait_until(
            pilot,
            lambda: "Written on the laptop" in [n.title for n in main.notes_list.notes],
            timeout=8,
        )
        assert time.monotonic() - start < 8


async def test_a_sync_status_that_arrives_as_the_screen_goes_is_no_error(
    sample_vault: Path, app_for
) -> None:
    """The sync status is read on a worker; its answer can land while the main screen is being
    taken down (the app quitting), when the status bar is gone. CI saw that as an internal
    error; the status is then simply not shown."""
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await main.query_one(StatusBar).remove()
        main.set_status("sync", "synced just now")  # nowhere to show it: nothing happens
        app.show_sync_status()
        await settle(pilot)
        assert app.is_running and app.return_code is None


async def test_a_sync_folder_set_in_a_shell_is_synced_within_seconds(
    devices: Devices, app_for, tmp_path: Path
) -> None:
    """`vault remote set` in a shell while the app is open: the app's next look at the folder
    finds the new folder and syncs with it (its first look at a folder only takes a baseline,
    so nothing happened until a save here, F9, or the five-minute interval)."""
    from tests.conftest import CLI
    from vault.sync import unset_remote

    set_config(sync__auto=True, sync__interval_seconds=300)
    with open_vault(devices.laptop) as laptop:
        laptop.create_note("Waiting in the folder", "from the laptop")
    devices.sync(devices.laptop)
    with open_vault(devices.desk) as desk:
        unset_remote(desk.store)
    desk_cli = CLI(devices.desk, tmp_path / "config.toml")
    app = app_for(devices.desk)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await pilot.pause(3)  # the app's looks find no folder
        assert "Waiting in the folder" not in [n.title for n in main.notes_list.notes]
        desk_cli("remote", "set", str(devices.folder), check=True)
        await wait_until(
            pilot,
            lambda: "Waiting in the folder" in [n.title for n in main.notes_list.notes],
            timeout=8,
        )
