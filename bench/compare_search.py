"""Before and after for a change to vault/notes/search.py: the search index of a git revision against
the working tree's, side by side in one process on the same unlocked sample vault (runs
interleaved, so a busy neighbour slows both alike). Prints a Markdown table for HISTORY.md.

    python bench/compare_search.py REVISION [NOTES]   # NOTES: 10000 unless given

The queries are bench_core.py's; both indexes must return the same notes with the same scores.
"""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_core import LIVE_RANK_LIMIT, NEVER, TYPED, one_percent_word
from common import PASSWORD, count, fmt, sample_path, sample_vault

from vault.notes.search import fold
from vault.notes.vault import Vault

ROOT = Path(__file__).resolve().parent.parent


def load_revision(revision: str):  # type: ignore[no-untyped-def]
    source = subprocess.run(
        ["git", "show", f"{revision}:vault/notes/search.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "search_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("search_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["search_before"] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> None:
    revision = argv[0]
    n = int(argv[1]) if len(argv) > 1 else 10_000
    import vault.notes.search as after_module

    before_module = load_revision(revision)
    vault = Vault.unlock(sample_vault(sample_path(n), n), password=PASSWORD)
    notes = vault.notes()
    folded = [fold(x.title) + "\n" + fold(x.body) for x in notes]
    rare, _ = one_percent_word(notes, folded)
    common = "ragarquisu"
    pair = notes[len(notes) // 2].body.split()[:2]
    queries = [
        ("a word in ~1% of the notes", rare),
        ("a word in every note", common),
        ("two words", f"{rare} {common}"),
        ("a phrase", f'"{pair[0]} {pair[1]}"'),
        ("a tag and a word", f"tag:{notes[0].tags[0]} {common}"),
    ]
    indexes = {"before": before_module.SearchIndex(), "after": after_module.SearchIndex()}
    rows: dict[str, dict[str, float]] = {}

    def use(name: str) -> None:
        vault._index = indexes[name]  # the vault's own index, swapped for the comparison

    for name in indexes:  # build both indexes (fold every note) and time it
        use(name)
        start = time.perf_counter()
        vault.filter_notes(vault.notes(), NEVER)
        rows.setdefault("index: fold every note (first search)", {})[name] = (
            time.perf_counter() - start
        )
    for label, text in queries:
        results = {}
        firsts: dict[str, list[float]] = {name: [] for name in indexes}
        for _ in range(5):
            for name in indexes:  # a fresh index per first run: nothing kept from before
                module = before_module if name == "before" else after_module
                indexes[name] = module.SearchIndex()
                use(name)
                vault.filter_notes(vault.notes(), NEVER)
                start = time.perf_counter()
                results[name] = [(h.note.id, h.score) for h in vault.search(text)]
                firsts[name].append(time.perf_counter() - start)
        rows[f"search, first run: {label}"] = {k: statistics.median(v) for k, v in firsts.items()}
        assert results["before"] == results["after"], f"different results for {text!r}"
        times: dict[str, list[float]] = {name: [] for name in indexes}
        for _ in range(9):
            for name in indexes:
                use(name)
                start = time.perf_counter()
                vault.search(text)
                times[name].append(time.perf_counter() - start)
        rows[f"search, median: {label}"] = {k: statistics.median(v) for k, v in times.items()}
    keys: dict[str, list[float]] = {name: [] for name in indexes}
    for _ in range(3):
        for name in indexes:
            use(name)
            for word in TYPED:
                vault.filter_notes(notes, NEVER)
                for i in range(1, len(word) + 1):
                    start = time.perf_counter()
                    vault.filter_notes(notes, word[:i], rank_limit=LIVE_RANK_LIMIT)
                    keys[name].append(time.perf_counter() - start)
    rows["list filter, median keystroke"] = {k: statistics.median(v) for k, v in keys.items()}
    rows["list filter, slowest keystroke"] = {k: max(v) for k, v in keys.items()}
    vault.lock()

    print(f"| {count(n)} notes | before ({revision}) | after | after / before |")
    print("|---|---:|---:|---:|")
    for label, pair_times in rows.items():
        b, a = pair_times["before"], pair_times["after"]
        print(f"| {label} | {fmt(b)} | {fmt(a)} | {a / b:.2f}× |")
    print(
        "\nQueries: " + "; ".join(f"{label}: `{text}`" for label, text in queries) + ". Same "
        "notes and scores from both (checked)."
    )


if __name__ == "__main__":
    main(sys.argv[1:])
