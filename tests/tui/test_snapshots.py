"""Snapshots of the main screens at fixed sizes, from a sample vault with fixed timestamps, a
fixed clock, and no cursor blink. Update with `pytest tests/tui --snapshot-update` and look at
the pictures (snapshot_report.html) before committing them."""

from __future__ import annotations

from pathlib import Path

from tests.tui.conftest import settle, type_into, unlock
from vault.config import Config

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
