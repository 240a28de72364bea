"""The app with 10,000 notes: from Enter on the password to the list on screen, and the time
from a key press in the search box to the list showing the new matches.

Both run the real app headless (Textual's Pilot). Budgets from the issue: unlock to list within
the KDF plus 0.5 s, and under 50 ms per keystroke. The vault uses tiny KDF parameters, so the
unlock figure is everything but the KDF; the default KDF is timed on its own. Floors from the
same run: the domain API reading and decrypting all 10,000 notes (`Vault.unlock` + `notes()`),
and the domain's own filter for the same text (`Vault.filter_notes`).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import (
    MAIN_SIZE,
    PASSWORD,
    SMOKE,
    fmt,
    sample_path,
    sample_vault,
    strong_copy,
    table,
    timed,
)
from textual import events

from vault.config import Config
from vault.notes.search import parse_query
from vault.notes.vault import Vault
from vault.sealing.crypto import DEFAULT_KDF, argon2id
from vault.tui.app import make_app
from vault.tui.data import ALL, NoteSource
from vault.tui.screens.main import MainScreen

TYPED = ["ragarq", "tinvi mor", "polmorgar"]  # words of the sample vault, one letter at a time
UNLOCK_RUNS = 1 if SMOKE else 5


async def wait_for(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """Poll every 2 ms: finer polling would itself compete with the app's worker threads for
    the interpreter lock and slow down what is measured."""
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("the app did not get there in time")
        await asyncio.sleep(0.002)


def send_key(app, key: str) -> None:  # type: ignore[no-untyped-def]
    """What a terminal does: one key event into the driver (Pilot.press would also wait for
    every animation and idle message pump, which is not what a person waits for)."""
    char = " " if key == "space" else (key if len(key) == 1 else None)
    event = events.Key(key, char)
    event.set_sender(app)
    app._driver.send_message(event)


def paint_list(main: MainScreen) -> None:
    """Render the rows on screen, as the next frame will."""
    for y in range(main.notes_list.size.height):
        main.notes_list.render_line(y)


UNFOCUSED: list[bool] = []  # whether the password box lacked the focus when the app was ready


def type_password(app) -> None:  # type: ignore[no-untyped-def]
    """Put the password in its box, giving the box the focus first if the app did not (as a
    person would click it); whether it had to is reported."""
    field = app.screen.query_one("#password")
    UNFOCUSED.append(app.focused is not field)
    field.focus()
    field.value = PASSWORD


async def unlock_once(path: Path) -> float:
    app = make_app(path, Config.load(), cursor_blink=False, poll_seconds=None)
    async with app.run_test(size=(120, 40)) as pilot:
        # A person takes a second or two to type the password; the app uses that time to
        # build the main screen and load the editor's grammar, so start timing after it.
        await app.workers.wait_for_complete()
        await pilot.pause(1.0)
        type_password(app)
        await pilot.pause()
        start = time.perf_counter()
        send_key(app, "enter")
        await wait_for(
            lambda: (
                isinstance(app.screen, MainScreen)
                and app.screen.is_mounted
                and len(app.screen.notes_list.notes) > 0
            )
        )
        paint_list(app.screen)
        elapsed = time.perf_counter() - start
        await pilot.pause()
    return elapsed


async def keystrokes(path: Path) -> list[tuple[str, float]]:
    app = make_app(path, Config.load(), cursor_blink=False, poll_seconds=None)
    results: list[tuple[str, float]] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        type_password(app)
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, MainScreen) and app.screen.notes_list.notes)
        main = app.screen
        await app.workers.wait_for_complete()  # the search index warms up in the background
        await pilot.press("ctrl+f")
        for word in TYPED:
            main.search_box.value = ""
            await wait_for(lambda: main.notes_list.shown_query.raw == "")
            await pilot.pause()
            for i, char in enumerate(word):
                typed = word[: i + 1]
                start = time.perf_counter()
                send_key(app, "space" if char == " " else char)
                await wait_for(lambda typed=typed: main.notes_list.shown_query.raw == typed)
                paint_list(main)
                results.append((typed, time.perf_counter() - start))
                await pilot.pause()
    return results


def domain_floors(path: Path) -> tuple[float, dict[str, float]]:
    def read_all() -> None:
        with Vault.unlock(path, password=PASSWORD) as vault:
            vault.notes()

    unlock_floor = timed(read_all, repeat=5)
    vault = Vault.unlock(path, password=PASSWORD)
    source = NoteSource(vault)
    source.warm()
    # Typed one letter at a time, as in the app (each search may narrow the one before), three
    # times over; the median of the three for each text.
    runs: dict[str, list[float]] = {}
    for _ in range(1 if SMOKE else 3):
        for word in TYPED:
            source.notes(ALL, "modified", parse_query(""))
            for i in range(len(word)):
                typed = word[: i + 1]
                start = time.perf_counter()
                source.notes(ALL, "modified", parse_query(typed))
                runs.setdefault(typed, []).append(time.perf_counter() - start)
    vault.lock()
    return unlock_floor, {text: statistics.median(times) for text, times in runs.items()}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="vault-bench-tui-") as tmp:
        os.environ["VAULT_CONFIG"] = str(Path(tmp) / "config.toml")
        # The app's automatic backups go to a folder of this run, never the person's own.
        os.environ["XDG_DATA_HOME"] = str(Path(tmp) / "data")
        path = sample_vault(sample_path(MAIN_SIZE), MAIN_SIZE)
        strong = strong_copy(path)
        unlock_floor, filter_floor = domain_floors(path)
        tiny_unlocks = [asyncio.run(unlock_once(path)) for _ in range(UNLOCK_RUNS)]
        # With the default KDF: the app's time from Enter to the list, minus the KDF alone
        # measured just before (the envelopes are read while the KDF runs, so the difference
        # is what the person waits for beyond the key derivation).
        unlocks, kdfs = [], []
        for _ in range(UNLOCK_RUNS):
            kdf_alone = timed(lambda: argon2id(PASSWORD.encode(), bytes(16), DEFAULT_KDF), 1)
            kdfs.append(kdf_alone)
            unlocks.append(asyncio.run(unlock_once(strong)) - kdf_alone)
        kdf = statistics.median(kdfs)
        keys = asyncio.run(keystrokes(path))

    unlock = statistics.median(unlocks)
    tiny_unlock = statistics.median(tiny_unlocks)
    per_key = [t for _, t in keys]
    floors = [filter_floor[text] for text, _ in keys]
    key_median, key_worst = statistics.median(per_key), max(per_key)
    worst_text = keys[per_key.index(key_worst)][0]
    p90 = sorted(per_key)[int(0.9 * (len(per_key) - 1))]

    print("## tui\n")
    print(
        f"The app, headless, on the {MAIN_SIZE:,}-note sample vault. Unlocking is timed from Enter on "
        "the password to the list on screen: once behind the default KDF, minus the KDF alone "
        "(the budget's figure; the app reads the envelopes while the password is typed), and "
        "once behind "
        "tiny test parameters (everything, nothing overlapped). A keystroke is timed from the "
        "key event to the list holding the new matches, with its visible rows rendered; its "
        "floor is the domain's filter for the same text, typed in the same order.\n"
    )
    print(
        table(
            [
                ("default KDF (Argon2id 256 MiB, t=3, p=2)", kdf, kdf, "itself"),
                (
                    "Enter on the password → list shown, beyond the default KDF",
                    unlock,
                    unlock_floor,
                    f"domain: unlock + notes() of {MAIN_SIZE:,} (tiny KDF)",
                ),
                (
                    "Enter on the password → list shown, tiny KDF",
                    tiny_unlock,
                    unlock_floor,
                    f"domain: unlock + notes() of {MAIN_SIZE:,} (tiny KDF)",
                ),
                (
                    "search keystroke → list updated, median",
                    key_median,
                    statistics.median(floors),
                    "domain filter_notes, same text",
                ),
                (
                    "search keystroke → list updated, 90th percentile",
                    p90,
                    sorted(floors)[int(0.9 * (len(floors) - 1))],
                    "domain filter_notes, same text",
                ),
                (
                    f"search keystroke → list updated, worst ('{worst_text}')",
                    key_worst,
                    filter_floor[worst_text],
                    "domain filter_notes, same text",
                ),
            ]
        )
    )
    verdict_unlock = "within" if unlock <= 0.5 else "OVER"
    verdict_keys = (
        "within" if key_worst < 0.05 else ("median within" if key_median < 0.05 else "OVER")
    )
    print(
        f"\nBudgets: unlock to list {fmt(unlock)} after the KDF ({verdict_unlock} 0.5 s; all "
        f"{UNLOCK_RUNS} runs: {', '.join(fmt(u) for u in unlocks)}); keystrokes "
        f"{fmt(key_median)} median, {fmt(key_worst)} worst ({verdict_keys} 50 ms) over "
        f"{len(keys)} keystrokes. With the default KDF, unlocking takes about "
        f"{fmt(kdf + unlock)} in all."
    )
    if any(UNFOCUSED):
        print(
            f"\nThe password box did not have the focus when the unlock screen was ready "
            f"({sum(UNFOCUSED)} of {len(UNFOCUSED)} starts); the benchmark focused it."
        )
    print("\n| typed | app | domain floor |\n|---|---:|---:|")
    for (text, took), floor in zip(keys, floors, strict=True):
        print(f"| `{text}` | {fmt(took)} | {fmt(floor)} |")


if __name__ == "__main__":
    sys.exit(main())
