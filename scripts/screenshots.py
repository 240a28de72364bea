"""Regenerate the SVG screenshots in screenshots/ from a sample vault this script builds.

    python scripts/screenshots.py            # write screenshots/*.svg
    python scripts/screenshots.py --keys     # print the key bindings as a Markdown table

Everything happens in a temporary folder (vault, config, home), with tiny Argon2 parameters
through the explicit test option, a fixed clock, and no cursor blink, so the pictures are the
same on every run and nothing of the person's own vault or settings
is touched. The app itself refuses to take screenshots; this script renders the sample vault
only. For the sync pictures a second device is cloned from a sync folder and both edit one
note, so the first one shows a conflict.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "screenshots"
PASSWORD = "sample password"
NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR

NOTES = [
    # title, body, notebook, tags, pinned, age
    (
        "Welcome to your vault",
        "# Welcome\n\nEverything here is **encrypted** on this computer before it is saved.\n\n"
        "- **ctrl+n** writes a note\n- **ctrl+f** searches as you type\n"
        "- **ctrl+p** jumps anywhere\n",
        None,
        [],
        True,
        21 * DAY,
    ),
    (
        "Q1 roadmap",
        "# Q1 roadmap\n\n## Goals\n\n1. Ship **sync** to every device\n2. Encrypted backups\n"
        "3. A calmer onboarding\n\n## Risks\n\n> Scope creep. Keep the list short.\n\n"
        "| Milestone | Owner | Due |\n|---|---|---|\n| Sync beta | Ana | Jan 30 |\n"
        "| Backups | Bo | Feb 14 |\n\nReview on **Friday** with the whole team.\n",
        "Work/Planning",
        ["work", "planning"],
        True,
        40 * MIN,
    ),
    (
        "Design review notes",
        "Attendees: Ana, Bo, Chen.\n\n## Decisions\n\n- keep the three-pane layout\n"
        "- planning doc by Monday\n- try the light theme on the projector\n",
        "Work",
        ["work", "meetings"],
        False,
        3 * HOUR,
    ),
    (
        "Garden plan",
        "Tomatoes by the south wall, basil in pots, and a new compost bin.\n\n"
        "- [ ] order seeds\n- [ ] fix the fence\n",
        "Home",
        ["home", "planning"],
        False,
        26 * HOUR,
    ),
    (
        "Reading list",
        "- *The Left Hand of Darkness*\n- *Piranesi*\n- *The Dispossessed*\n",
        "Home",
        ["books"],
        False,
        3 * DAY,
    ),
    (
        "Recipe: lentil soup",
        "## Ingredients\n\n- 200 g red lentils\n- 1 onion, 2 carrots\n- cumin, lemon\n\n"
        "Simmer 25 minutes, blend half, finish with lemon.\n",
        "Home/Kitchen",
        ["recipes"],
        False,
        6 * DAY,
    ),
    (
        "Trip to Lisbon",
        "Flights booked. Hotel near Alfama.\n\nPlan: tram 28, LX Factory, Belém pastries.\n",
        "Travel",
        ["travel", "planning"],
        False,
        12 * DAY,
    ),
    (
        "Ideas for the talk",
        "Encryption that people do not notice.\n\n- start with the threat model\n"
        "- show the recovery key moment\n",
        "Work",
        ["ideas"],
        False,
        18 * DAY,
    ),
]


def build_sample(path: Path) -> None:
    from vault.notes.vault import Vault
    from vault.sealing.crypto import TEST_KDF

    vault, _ = Vault.create(path, PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
    with vault:
        for title, body, notebook, tags, pinned, age in NOTES:
            nb_id = vault.ensure_notebook(notebook)[0].id if notebook else None
            when = NOW_MS - age
            vault.import_note(
                title,
                body,
                notebook=nb_id,
                tags=tags,
                pinned=pinned,
                created=when - 2 * DAY,
                modified=when,
            )
        old = vault.import_note(
            "Old packing list",
            "- passport\n",
            created=NOW_MS - 90 * DAY,
            modified=NOW_MS - 80 * DAY,
        )
        vault.trash_note(old)


def write_version(vault, note, body: str, minutes_ago: int, first: str):  # type: ignore[no-untyped-def]
    """A new version of `note` stamped with a time on the fixed clock (update_note would
    stamp the real time, which would not match the pictures' clock). Its id starts with
    `first`: of two conflicting versions the store shows the larger id, so the pictures
    choose which one is shown."""
    import dataclasses
    import hashlib

    changed = dataclasses.replace(note, body=body, modified=NOW_MS - minutes_ago * MIN)
    op_id = first + hashlib.sha256(body.encode()).hexdigest()[:31]
    vault.store.write(
        vault.seal_op("note", note.id, changed.to_payload(), [note.version], op_id=op_id)
    )
    vault.refresh()


def build_conflict(path: Path, folder: Path, laptop: Path) -> None:
    """`path` syncs through `folder` with a second device at `laptop`; both change the same
    lines of "Garden plan", so `path` holds a conflict, synced two minutes ago."""
    from vault.notes.vault import Vault
    from vault.sync import SyncEngine, clone, set_remote

    def engine(vault, minutes_ago: int) -> SyncEngine:  # type: ignore[no-untyped-def]
        return SyncEngine(vault, clock=lambda: NOW_MS - minutes_ago * MIN)

    with Vault.unlock(path, password=PASSWORD) as desk:
        desk.store.set_meta("device_id", "5e1d" * 8)  # fixed ids: the pictures name devices
        folder.parent.mkdir(parents=True, exist_ok=True)
        set_remote(desk.store, folder)
        engine(desk, 30).sync()
    other, _ = clone(folder, laptop, password=PASSWORD)
    with other:
        other.store.set_meta("device_id", "1a9c" * 8)
        note = other.find_note("Garden plan")
        write_version(
            other,
            note,
            "Tomatoes by the south wall, basil by the kitchen door, and a new compost bin.\n\n"
            "- [x] order seeds\n- [ ] fix the fence\n- [ ] ask about rain barrels\n",
            9,
            "0",
        )
        engine(other, 8).sync()
    with Vault.unlock(path, password=PASSWORD) as desk:
        note = desk.find_note("Garden plan")
        write_version(
            desk,
            note,
            "Tomatoes by the south wall, basil in big pots, and a new compost bin.\n\n"
            "- [ ] order seeds\n- [ ] fix the fence\n",
            5,
            "f",
        )
        engine(desk, 2).sync()


def build_backups(path: Path, folder: Path) -> None:
    """Three backups of the sample vault, made at fixed times (two automatic, one by hand)."""
    from datetime import timedelta

    from vault.interchange.backup import create_backup
    from vault.notes.vault import Vault

    folder.mkdir(parents=True, exist_ok=True)
    with Vault.unlock(path, password=PASSWORD) as vault:
        for days, automatic in ((6, True), (1, False), (0, True)):
            when = NOW - timedelta(days=days, hours=2)
            create_backup(vault, folder, now=when, automatic=automatic)


Step = Callable[[object], Awaitable[None]]


async def shoot(
    vault_path: Path, name: str, size: tuple[int, int], steps: Step, theme: str = "textual-dark"
) -> None:
    from vault.config import Config
    from vault.tui.app import make_app

    config = Config.load()
    config.set("ui.theme", theme)
    config.set("ui.preview", "off")
    config.set("ui.sort", "modified")
    config.set("sync.auto", False)  # the pictures show the sync made before, not a new one
    config.set("backup.dir", os.environ["VAULT_SHOTS_BACKUPS"])
    config.save()
    app = make_app(
        vault_path,
        Config.load(),
        test_kdf=True,
        clock=lambda: NOW,
        cursor_blink=False,
        poll_seconds=None,
    )
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await steps(pilot)
        await settle(pilot)
        svg = app.export_screenshot(title=f"vault — {name.replace('-', ' ')}")
    (OUT / f"{name}.svg").write_text(svg, encoding="utf-8")
    print(f"wrote screenshots/{name}.svg", file=sys.stderr)


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    await pilot.pause(0.1)


async def unlock(pilot) -> None:  # type: ignore[no-untyped-def]
    field = pilot.app.screen.query_one("#password")
    field.value = PASSWORD
    await pilot.press("enter")
    await settle(pilot)
    await settle(pilot)


async def nothing(pilot) -> None:  # type: ignore[no-untyped-def]
    return None


def select(title: str) -> Step:
    async def run(pilot) -> None:  # type: ignore[no-untyped-def]
        await unlock(pilot)
        screen = pilot.app.screen
        note = next(n for n in screen.notes_list.notes if n.title == title)
        screen.notes_list.select(note.id)
        await settle(pilot)

    return run


def preview(title: str) -> Step:
    async def run(pilot) -> None:  # type: ignore[no-untyped-def]
        await select(title)(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)

    return run


async def search(pilot) -> None:  # type: ignore[no-untyped-def]
    await unlock(pilot)
    await pilot.press("ctrl+f")
    pilot.app.screen.search_box.value = "plan"
    await settle(pilot)


async def palette(pilot) -> None:  # type: ignore[no-untyped-def]
    await unlock(pilot)
    await pilot.press("ctrl+p")
    await settle(pilot)
    await pilot.press(*"rec")
    await settle(pilot)


async def wrong_password(pilot) -> None:  # type: ignore[no-untyped-def]
    pilot.app.screen.query_one("#password").value = "not my password"
    await pilot.press("enter")
    await settle(pilot)


async def help_screen(pilot) -> None:  # type: ignore[no-untyped-def]
    await unlock(pilot)
    await pilot.press("f1")
    await settle(pilot)


async def conflict_view(pilot) -> None:  # type: ignore[no-untyped-def]
    await select("Garden plan")(pilot)
    await pilot.press("f8")
    await settle(pilot)


async def backups_screen(pilot) -> None:  # type: ignore[no-untyped-def]
    await select("Q1 roadmap")(pilot)
    pilot.app.screen.action_backups()
    await settle(pilot)
    await settle(pilot)


async def sync_panel(pilot) -> None:  # type: ignore[no-untyped-def]
    await select("Garden plan")(pilot)
    pilot.app.screen.action_sync_panel()
    await settle(pilot)


async def main_async() -> None:
    with tempfile.TemporaryDirectory(prefix="vault-shots-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        os.environ.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / "config"),
            XDG_DATA_HOME=str(home / "data"),
            VAULT_CONFIG=str(Path(tmp) / "config.toml"),
        )
        for var in ("VAULT_DIR", "VAULT_PASSWORD", "VAULT_KEYFILE"):
            os.environ.pop(var, None)
        os.environ["VAULT_SHOTS_BACKUPS"] = str(home / "backups")
        vault_path = home / "notes"
        OUT.mkdir(exist_ok=True)
        await shoot(home / "new", "first-run", (100, 34), nothing)
        build_sample(vault_path)
        await shoot(vault_path, "unlock", (100, 30), wrong_password)
        await shoot(vault_path, "main", (130, 40), select("Q1 roadmap"))
        await shoot(vault_path, "preview", (130, 40), preview("Q1 roadmap"))
        await shoot(vault_path, "search", (130, 40), search)
        await shoot(vault_path, "palette", (130, 40), palette)
        await shoot(vault_path, "help", (130, 40), help_screen)
        await shoot(vault_path, "main-80x24", (80, 24), select("Q1 roadmap"))
        await shoot(vault_path, "theme-light", (130, 40), preview("Q1 roadmap"), "textual-light")
        await shoot(vault_path, "theme-nord", (130, 40), select("Garden plan"), "nord")
        build_conflict(vault_path, home / "Sync" / "vault", home / "laptop")
        await shoot(vault_path, "sync-status", (130, 40), select("Garden plan"))
        await shoot(vault_path, "sync-80x24", (80, 24), select("Garden plan"))
        await shoot(vault_path, "conflict", (130, 40), conflict_view)
        await shoot(vault_path, "sync-panel", (130, 40), sync_panel)
        build_backups(vault_path, home / "backups")
        await shoot(vault_path, "backups", (130, 40), backups_screen)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", action="store_true", help="print the key table and stop")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.keys:
        from vault.tui.keys import markdown_table

        print(markdown_table())
        return 0
    asyncio.run(main_async())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
