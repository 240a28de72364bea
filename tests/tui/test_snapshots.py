"""Snapshots of the main screens at fixed sizes, from a sample vault with fixed timestamps, a
fixed clock, and no cursor blink. Update with `pytest tests/tui --snapshot-update` and look at
the pictures (snapshot_report.html) before committing them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from textual.widgets import DataTable

from tests.tui.conftest import (
    NOW,
    open_vault,
    set_config,
    settle,
    type_into,
    unlock,
    wait_until,
)
from vault.config import Config
from vault.interchange.backup import create_backup

WIDE = (120, 40)
SMALL = (80, 24)


def test_first_run(home_vault: Path, app_for, snap_compare) -> None:
    assert snap_compare(app_for(home_vault), terminal_size=(100, 34), run_before=settle)


def test_unlock_after_a_wrong_password(sample_vault: Path, app_for, snap_compare) -> None:
    async def wrong(pilot) -> None:
        await settle(pilot)
        await type_into(pilot, "#password", "not it")
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(app_for(sample_vault), terminal_size=(100, 30), run_before=wrong)


def test_main_screen(sample_vault: Path, app_for, snap_compare) -> None:
    assert snap_compare(app_for(sample_vault), terminal_size=WIDE, run_before=unlock)


def test_main_screen_at_80x24(sample_vault: Path, app_for, snap_compare) -> None:
    assert snap_compare(app_for(sample_vault), terminal_size=SMALL, run_before=unlock)


def test_preview_side_by_side(sample_vault: Path, app_for, snap_compare) -> None:
    async def preview(pilot) -> None:
        main = await unlock(pilot)
        main.notes_list.select(next(n.id for n in main.notes_list.notes if n.title[0] == "Q"))
        await pilot.press("ctrl+r")
        await settle(pilot)

    assert snap_compare(app_for(sample_vault), terminal_size=WIDE, run_before=preview)


def test_search_highlights_matches(sample_vault: Path, app_for, snap_compare) -> None:
    async def search(pilot) -> None:
        await unlock(pilot)
        await pilot.press("ctrl+f")
        await type_into(pilot, "#search", "plan")
        await settle(pilot)

    assert snap_compare(app_for(sample_vault), terminal_size=WIDE, run_before=search)


def test_light_theme(sample_vault: Path, app_for, snap_compare) -> None:
    config = Config.load()
    config.set("ui.theme", "textual-light")
    config.save()
    assert snap_compare(app_for(sample_vault), terminal_size=WIDE, run_before=unlock)


def conflicted(devices) -> None:  # type: ignore[no-untyped-def]
    set_config(sync__auto=False)  # the pictures show the sync made before, not a new one
    devices.conflict(
        "Garden ideas",
        "Tomatoes by the south wall, basil in big pots.\n\nAsk about the compost bin.\n"
        "- [ ] order seeds\n",
        "Tomatoes by the south wall, basil by the kitchen door.\n\n"
        "Ask about the compost bin.\n- [x] order seeds\n- [ ] rain barrels\n",
    )


def test_sync_status_and_conflict_mark_at_80x24(devices, app_for, snap_compare) -> None:
    conflicted(devices)

    async def garden(pilot) -> None:
        main = await unlock(pilot)
        main.notes_list.select(next(n.id for n in main.notes_list.notes if n.conflict))
        await settle(pilot)

    assert snap_compare(app_for(devices.desk), terminal_size=SMALL, run_before=garden)


def test_conflict_view(devices, app_for, snap_compare) -> None:
    conflicted(devices)

    async def compare(pilot) -> None:
        main = await unlock(pilot)
        main.notes_list.select(next(n.id for n in main.notes_list.notes if n.conflict))
        await settle(pilot)
        await pilot.press("f8")
        await settle(pilot)

    assert snap_compare(app_for(devices.desk), terminal_size=WIDE, run_before=compare)


def test_backups_list(sample_vault: Path, app_for, snap_compare) -> None:
    folder = sample_vault.parent / "backups"  # under the test's home: shown as ~/backups
    folder.mkdir()
    set_config(backup__dir=str(folder), sync__auto=False)
    with open_vault(sample_vault) as vault:
        for days, automatic in ((6, True), (1, False), (0, True)):
            create_backup(
                vault, folder, now=NOW - timedelta(days=days, hours=2), automatic=automatic
            )

    async def backups(pilot) -> None:
        main = await unlock(pilot)
        main.action_backups()
        await settle(pilot)
        table = pilot.app.screen.query_one(DataTable)
        # Every row's count read (each backup's header is opened on a worker), not only the last.
        await wait_until(
            pilot,
            lambda: (
                table.row_count == 3
                and all("notes" in str(table.get_cell_at((row, 3))) for row in range(3))
            ),
        )
        await settle(pilot)

    assert snap_compare(app_for(sample_vault), terminal_size=WIDE, run_before=backups)
