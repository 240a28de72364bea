"""Before and after for the list filter (search as you type): the search index of a git revision
against the working tree's, in one process on the same unlocked sample vaults, each keystroke
timed for both in turn (before, after, after, before, ...), so a busy neighbour slows both
alike. Prints Markdown tables for HISTORY.md.

    python bench/compare_filter.py REVISION [NOTES,NOTES...] [ROUNDS]   # 10000,100000 and 5

Each keystroke is what the app's `NoteSource.notes` asks of the domain: the notes matching the
box's text, in order, from the same list of the view's notes (rank limit 2000):
`SearchIndex.filter` (a revision from before search-fast has none: `SearchIndex.search` and a
list of the hits' notes). The words are bench_tmux.py's (typed one letter at a time, the box
cleared between words, as there) and the same words deleted again one letter at a time. Both
must give the same notes in the same order at every keystroke.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time

from bench_tmux import TYPED
from common import PASSWORD, count, fmt, sample_path, sample_vault
from compare_search import load_revision

from vault.notes.search import parse_query
from vault.notes.vault import Vault

RANK_LIMIT = 2000  # vault.tui.data.NoteSource.RANK_LIMIT
NEVER = "\uffff"


def keystrokes() -> list[str]:
    """The box's text after each key: each word typed, then deleted, letter by letter."""
    out = []
    for word in TYPED:
        out += [word[:i] for i in range(1, len(word) + 1)]
        out += [word[:i] for i in range(len(word) - 1, 0, -1)]
    return out


def main(argv: list[str]) -> None:
    revision = argv[0]
    sizes = [int(s) for s in argv[1].split(",")] if len(argv) > 1 else [10_000, 100_000]
    rounds = int(argv[2]) if len(argv) > 2 else 5
    import vault.notes.search as after_module

    before_module = load_revision(revision)
    typed = keystrokes()
    vaults = {n: Vault.unlock(sample_vault(sample_path(n), n), password=PASSWORD) for n in sizes}
    bases = {n: v.notes(sort="modified") for n, v in vaults.items()}
    gc.freeze()  # as the app does once the vault is open (vault.tui.memory.hold_still)
    indexes = {
        (n, name): module.SearchIndex()
        for n in sizes
        for name, module in (("before", before_module), ("after", after_module))
    }

    def ask(n: int, name: str, text: str) -> list[str]:
        index, base = indexes[n, name], bases[n]
        query = parse_query(text)
        if hasattr(index, "filter"):  # what NoteSource.notes asks, since search-fast
            return index.filter(base, query, rank_limit=RANK_LIMIT)
        return [h.note for h in index.search(base, query, rank_limit=RANK_LIMIT)]

    for (n, _name), index in indexes.items():  # fold every note once (the app's warm-up)
        index.search(bases[n], NEVER)
    # times[n][name][k]: the k-th keystroke's times over the rounds
    times = {n: {"before": [[] for _ in typed], "after": [[] for _ in typed]} for n in sizes}
    for r in range(rounds):
        for n in sizes:
            order = ("before", "after") if r % 2 == 0 else ("after", "before")
            for name in order:  # nothing kept from the last round but the folded texts
                index = indexes[n, name]
                index._corpus = index._last = None  # (the index before search-fast)
                index._corpora = []
                index.search(bases[n], NEVER)
            answers: dict[str, list[list[str]]] = {"before": [], "after": []}
            for k, text in enumerate(typed):
                for name in order if k % 2 == 0 else order[::-1]:
                    start = time.perf_counter()
                    found = ask(n, name, text)
                    times[n][name][k].append(time.perf_counter() - start)
                    answers[name].append([note.id for note in found])
            assert answers["before"] == answers["after"], "different notes or order"
    for n in sizes:
        print(
            f"\n{count(n)} notes, {rounds} rounds (median per keystroke; ratio: median of "
            "the rounds' after/before)\n"
        )
        print(f"| typed | before ({revision}) | after | after / before |")
        print("|---|---:|---:|---:|")
        ratios_all = []
        med_b, med_a = [], []
        for k, text in enumerate(typed):
            b, a = times[n]["before"][k], times[n]["after"][k]
            ratio = statistics.median(x / y for x, y in zip(a, b, strict=True))
            ratios_all.append(ratio)
            med_b.append(statistics.median(b))
            med_a.append(statistics.median(a))
            print(f"| `{text}` | {fmt(med_b[-1])} | {fmt(med_a[-1])} | {ratio:.2f}× |")
        print(
            f"| **median keystroke** | {fmt(statistics.median(med_b))} | "
            f"{fmt(statistics.median(med_a))} | {statistics.median(ratios_all):.2f}× |"
        )
        print(f"| **slowest keystroke** | {fmt(max(med_b))} | {fmt(max(med_a))} | |")
    for v in vaults.values():
        v.lock()


if __name__ == "__main__":
    main(sys.argv[1:])
