"""Links: how soon the backlinks of a note are there (issue 17: within 20 ms at 10,000 notes,
after the first build), and what an edit or a rename with link updates costs.

Each note links to three others by title (one with a heading, one with shown text) and to a
hub note, so the hub has a backlink from every note. Timings are in-process, on an unlocked
vault, as the app and the CLI ask them (`vault.notes.links.link_index`).
"""

from __future__ import annotations

import random
import shutil
import statistics
import time
from pathlib import Path

from common import MAIN_SIZE, SMOKE, WORK, count

from vault.notes.links import link_index
from vault.notes.renaming import rename_note
from vault.notes.vault import Vault
from vault.sealing.crypto import TEST_KDF

BUDGET_MS = 20.0


def build(path: Path, n: int) -> Vault:
    shutil.rmtree(path, ignore_errors=True)
    vault, _ = Vault.create(path, "bench", kdf=TEST_KDF, allow_weak_kdf=True)
    rng = random.Random(17)
    with vault.batch():
        for i in range(n):
            a, b, c = (rng.randrange(n) for _ in range(3))
            body = (
                f"# Note {i}\n\nSome text about topic {i % 97}.\n\n"
                f"See [[Note {a}]], [[Note {b}#Note {b}]] and [[note {c}|the other one]].\n"
                f"Filed under [[Hub]].\n\n```\n[[Not a link {i}]]\n```\n"
            )
            vault.create_note(f"Note {i}", body)
        vault.create_note("Hub", "Everything links here.\n")
    return vault


def ms(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    n = MAIN_SIZE
    runs = 1 if SMOKE else 21
    vault = build(WORK / "links", n)
    with vault:
        notes = {note.title: note for note in vault.all_notes()}
        hub, typical = notes["Hub"], notes["Note 1"]
        index = link_index(vault)
        first = ms(lambda: index.backlinks(typical))
        others = [notes[f"Note {i}"] for i in range(10, 10 + runs)]  # each asked once: uncached
        note_ms = statistics.median(ms(lambda o=o: index.backlinks(o)) for o in others)
        hub_ms = statistics.median(ms(lambda: index.backlinks(hub)) for _ in range(runs))
        after: list[float] = []
        refresh: list[float] = []
        for i in range(runs):
            edited = vault.note(notes[f"Note {i + 2}"].id)
            vault.update_note(edited, body=edited.body + f"\nand [[Note 1]] ({i})\n")
            refresh.append(ms(lambda: vault.generation))  # the vault's own catch-up
            after.append(ms(lambda: index.backlinks(typical)))
        renamed = ms(lambda: rename_note(vault, vault.note(typical.id), "Note one"))
    after_ms, refresh_ms = statistics.median(after), statistics.median(refresh)
    verdict = "within" if note_ms <= BUDGET_MS and after_ms <= BUDGET_MS else "OVER"
    print(f"## Links ({count(n)} notes, each linking to 3 others and a hub)\n")
    print("| measure | ms |\n|---|---:|")
    print(f"| first backlinks (builds the index: parses every note) | {first:.0f} |")
    print(
        f"| backlinks of a note, after the first build (median of different notes) | {note_ms:.2f} |"
    )
    print(
        f"| backlinks of the hub ({count(n)} backlinks; answer cached until a change) "
        f"| {hub_ms:.2f} |"
    )
    print(f"| vault refresh after an edit (paid by every view) | {refresh_ms:.1f} |")
    print(f"| backlinks of a note after an edit (index catches up) | {after_ms:.1f} |")
    print(f"| rename a note with links in other notes, rewritten | {renamed:.0f} |")
    print(f"\nBacklinks {verdict} the {BUDGET_MS:.0f} ms budget of issue 17.")


if __name__ == "__main__":
    main()
