"""Fixtures for the app's tests: a sample vault with fixed timestamps, the app built by the one
factory with a fixed clock and no cursor blink, and helpers to drive it like a person."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input
from textual.worker import WorkerCancelled, WorkerState

from tests.conftest import PASSWORD
from vault.config import Config
from vault.notes.model import Note
from vault.notes.vault import Vault
from vault.sealing.crypto import TEST_KDF
from vault.tui.app import VaultApp, make_app
from vault.tui.screens.main import MainScreen

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
NOW_MS = int(NOW.timestamp() * 1000)
MARKER = "ZQXMARKER"  # appears in titles, bodies, notebooks and tags of the sample vault


def fixed_clock() -> datetime:
    return NOW


def build_sample(path: Path) -> None:
    """A small vault like a person's: nested notebooks, tags, a pinned note, one in the trash.
    Timestamps are fixed (import_note keeps them), so every screenshot is the same."""
    vault, _ = Vault.create(path, PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
    with vault:
        work, _ = vault.ensure_notebook("Work")
        projects, _ = vault.ensure_notebook("Work/Projects")
        home, _ = vault.ensure_notebook("Home")
        secret, _ = vault.ensure_notebook(f"{MARKER} book")
        notes = [
            (
                "Welcome to your vault",
                "# Welcome\n\nEverything here is **encrypted** before it is saved.\n\n"
                "- ctrl+n writes a note\n- ctrl+f searches\n",
                None,
                [],
                True,
                30 * DAY,
            ),
            (
                "Quarterly planning",
                "# Q1 planning\n\n## Goals\n\n1. Ship the sync engine\n2. Hire a designer\n\n"
                "> Keep the scope small.\n\nBudget review on **Friday**.\n",
                projects.id,
                ["work", "planning"],
                False,
                2 * HOUR,
            ),
            (
                "Garden ideas",
                "Tomatoes by the south wall, basil in pots.\n\nAsk about the compost bin.\n",
                home.id,
                ["home"],
                False,
                26 * HOUR,
            ),
            (
                "Reading list",
                "- *The Left Hand of Darkness*\n- *Piranesi*\n- [Textual](https://textual.textualize.io)\n",
                None,
                ["books"],
                False,
                3 * DAY,
            ),
            (
                "Meeting notes: design review",
                "Attendees: Ana, Bo.\n\nDecisions:\n\n- keep the sidebar\n- planning doc by Monday\n",
                work.id,
                ["work"],
                False,
                15 * MINUTE,
            ),
            (
                f"{MARKER} secret title",
                f"The body holds {MARKER} as well.\n",
                secret.id,
                [f"{MARKER}tag"],
                False,
                40 * DAY,
            ),
        ]
        for title, body, notebook, tags, pinned, age in notes:
            when = NOW_MS - age
            vault.import_note(
                title,
                body,
                notebook=notebook,
                tags=tags,
                pinned=pinned,
                created=when - DAY,
                modified=when,
            )
        old = vault.import_note(
            "Old draft",
            "Something I no longer need.\n",
            created=NOW_MS - 90 * DAY,
            modified=NOW_MS - 60 * DAY,
        )
        vault.trash_note(old)


@pytest.fixture
def home_vault(isolated_env: Path) -> Path:
    """The vault folder under the test's home, so the app shows it as ~/vault everywhere."""
    return isolated_env / "vault"


@pytest.fixture
def sample_vault(home_vault: Path) -> Path:
    build_sample(home_vault)
    return home_vault


@pytest.fixture
def app_for() -> Callable[..., VaultApp]:
    def make(path: Path, **kwargs: object) -> VaultApp:
        options: dict[str, object] = {
            "test_kdf": True,
            "clock": fixed_clock,
            "cursor_blink": False,
            "poll_seconds": None,
        }
        options.update(kwargs)
        return make_app(path, Config.load(), **options)  # type: ignore[arg-type]

    return make


async def settle(pilot: Pilot) -> None:
    """Let workers finish and their messages land (screen switches take a frame or two)."""
    app = pilot.app
    for _ in range(3):
        await workers_done(app)
        await pilot.pause()
    await pilot.pause(0.15)  # timers: the note under the cursor loads once typing pauses
    await workers_done(app)
    await pilot.pause()


async def workers_done(app: App) -> None:
    """Wait for every worker. A worker of a screen that went away meanwhile (the unlock
    screen, once the vault it opened is shown) is cancelled: that is done too, not a failure."""
    for _ in range(20):
        running = [w for w in app.workers if w.state != WorkerState.CANCELLED]
        try:
            await app.workers.wait_for_complete(running)
            return
        except WorkerCancelled:
            continue  # cancelled while we waited: wait for the others
    raise AssertionError("workers kept being cancelled")


async def type_into(pilot: Pilot, selector: str, text: str) -> None:
    """Put `text` in an input at once (pressing each key costs ~60 ms in Pilot)."""
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = text
    await pilot.pause()


async def unlock(pilot: Pilot, password: str = PASSWORD) -> MainScreen:
    await settle(pilot)
    await type_into(pilot, "#password", password)
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, MainScreen), type(screen).__name__
    await settle(pilot)
    return screen


def open_vault(path: Path) -> Vault:
    return Vault.unlock(path, password=PASSWORD)


async def wait_until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until `condition` holds (a sync, a backup: real work in threads)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the app did not get there in time")
        await pilot.pause(0.05)
    await settle(pilot)


def set_config(**settings: object) -> None:
    """Write settings (dotted keys with '__' for '.') into the test's config file."""
    config = Config.load()
    for key, value in settings.items():
        config.set(key.replace("__", "."), value)
    config.save()


def write_version(
    vault: Vault, note: Note, *, body: str, modified: int, op_id: str | None = None
) -> Note:
    """A new version of `note` with a chosen time (and version id): update_note stamps the
    real time and a random id, which a snapshot cannot hold still (of two conflicting
    versions, the store shows the one with the larger id). Sealed and stored as the domain
    does (the merge in vault.sync.conflicts writes the same way)."""
    import dataclasses

    changed = dataclasses.replace(note, body=body, modified=modified)
    vault.store.write(
        vault.seal_op("note", note.id, changed.to_payload(), [note.version], op_id=op_id)
    )
    vault.refresh()
    return vault.note(note.id)


@dataclass
class Devices:
    """Two devices of one vault syncing through a shared folder: `desk` (the sample vault,
    which the app opens) and `laptop` (cloned from the folder, driven through the domain)."""

    desk: Path
    laptop: Path
    folder: Path

    def sync(self, path: Path, minutes_ago: int = 0) -> None:
        from vault.sync import SyncEngine

        with open_vault(path) as vault:
            SyncEngine(vault, clock=lambda: NOW_MS - minutes_ago * MINUTE).sync()

    def edit(
        self, path: Path, title: str, body: str, minutes_ago: int, op_id: str | None = None
    ) -> None:
        with open_vault(path) as vault:
            note = vault.find_note(title)
            write_version(
                vault, note, body=body, modified=NOW_MS - minutes_ago * MINUTE, op_id=op_id
            )

    def conflict(self, title: str, desk_body: str, laptop_body: str) -> None:
        """Both devices change the same lines of one note; the desk learns of the laptop's.
        The desk's version has the larger id, so the desk shows its own (as pictures need)."""
        import hashlib

        def version(prefix: str, body: str) -> str:
            return prefix + hashlib.sha256(body.encode()).hexdigest()[:31]

        self.edit(self.laptop, title, laptop_body, 9, op_id=version("0", laptop_body))
        self.sync(self.laptop, 8)
        self.edit(self.desk, title, desk_body, 5, op_id=version("f", desk_body))
        self.sync(self.desk, 2)


@pytest.fixture
def devices(sample_vault: Path, tmp_path: Path) -> Devices:
    from vault.sync import SyncEngine, clone, set_remote

    folder = tmp_path / "shared"
    with open_vault(sample_vault) as desk:
        # Fixed device ids, so pictures that name a device are the same on every run.
        desk.store.set_meta("device_id", "d" * 32)
        set_remote(desk.store, folder)
        SyncEngine(desk, clock=lambda: NOW_MS - 30 * MINUTE).sync()
    laptop, _ = clone(folder, tmp_path / "laptop", password=PASSWORD)
    with laptop:
        laptop.store.set_meta("device_id", "1" * 32)
    return Devices(sample_vault, tmp_path / "laptop", folder)
