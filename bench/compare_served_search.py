"""Before and after for `vault search WORD` with an unlocked session (the agent answers it), at
100,000 notes: two `vault` commands (two source trees' installs), each with its own session on
its own copy of the sample vault, run in turn, round by round, so a busy neighbour slows both
alike. Prints a Markdown table for HISTORY.md.

    python bench/compare_served_search.py --before /tmp/venv-main/bin/vault [--after CMD]
        [--notes 100000] [--rounds 5]

Every round asks each class of query with a word not asked before (the agent keeps the
answers of its last queries, and a person's one-off search pays for the whole work): words of
the sample vocabulary (bench/common.py) found in about 1%, 50-70% and 98-100% of the notes,
and three words found in 30-50% each.
Each cell is the median wall time of whole commands (process start to exit, output to a file).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PASSWORD, WORK, count, sample_path, sample_vault, vocabulary

from vault.notes.vault import Vault

HERE = Path(__file__).resolve().parent.parent
CLASSES = (("~1% of the notes", 0.007, 0.015), ("50-70%", 0.5, 0.7), ("98-100%", 0.98, 1.0))
THREE = "three words, each in 30-50%"  # a query of three words none asked before


def words_by_class(path: Path, rounds: int) -> dict[str, list[str]]:
    """Per class, `rounds + 1` vocabulary words whose share of notes falls in it."""
    vocab, _ = vocabulary(random.Random(7))
    with Vault.unlock(path, password=PASSWORD) as vault:
        notes = vault.notes()
        texts = [f"{n.title}\n{n.body}".casefold() for n in notes]
    found: dict[str, list[str]] = {label: [] for label, _, _ in CLASSES}
    triples: list[str] = []
    for word in vocab[:3000]:
        if len(word) < 5:
            continue
        share = sum(word in t for t in texts) / len(texts)
        for label, low, high in CLASSES:
            if low <= share <= high and len(found[label]) <= rounds:
                found[label].append(word)
        if 0.3 <= share < 0.5 and len(triples) < 3 * (rounds + 1):
            triples.append(word)
        if all(len(w) > rounds for w in found.values()) and len(triples) == 3 * (rounds + 1):
            break
    found[THREE] = [" ".join(triples[k : k + 3]) for k in range(0, len(triples), 3)]
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", required=True, help="the old tree's `vault` command")
    parser.add_argument("--after", default=str(HERE / ".venv/bin/vault"))
    parser.add_argument("--notes", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", type=Path, default=WORK / "served-search", help="for copies")
    opts = parser.parse_args()
    src = sample_vault(sample_path(opts.notes), opts.notes)
    work = opts.work
    runs = {"before": opts.before, "after": opts.after}
    envs = {}
    for name in runs:
        path = work / name
        shutil.rmtree(path, ignore_errors=True)
        shutil.copytree(src, path / "vault")
        (path / "run").mkdir(mode=0o700)
        (path / "config.toml").write_text("")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
        env.update(
            VAULT_DIR=str(path / "vault"),
            VAULT_CONFIG=str(path / "config.toml"),
            XDG_RUNTIME_DIR=str(path / "run"),
            PYTHONDONTWRITEBYTECODE="1",
        )
        envs[name] = env
    words = words_by_class(work / "before" / "vault", opts.rounds)  # a copy: src stays as is
    for name, exe in runs.items():
        subprocess.run([exe, "unlock"], env=dict(envs[name], VAULT_PASSWORD=PASSWORD), check=True)
    times: dict[tuple[str, str], list[float]] = {}
    try:
        time.sleep(30 if opts.notes >= 50_000 else 5)  # the agents open and fold ahead
        for r in range(opts.rounds + 1):  # round 0 warms up
            order = list(runs) if r % 2 else list(runs)[::-1]
            for label in [*(c[0] for c in CLASSES), THREE]:
                for name in order:
                    start = time.perf_counter()
                    with open(os.devnull, "wb") as sink:
                        subprocess.run(
                            [runs[name], "search", words[label][r]],
                            env=envs[name],
                            stdout=sink,
                            stderr=sink,
                            check=False,
                        )
                    if r:
                        times.setdefault((label, name), []).append(time.perf_counter() - start)
    finally:
        for name, exe in runs.items():
            subprocess.run([exe, "lock"], env=envs[name], check=False, capture_output=True)
    print(f"{count(opts.notes)} notes, served, medians of {opts.rounds} interleaved rounds\n")
    print("| vault search WORD, a word in | before | after | after ÷ before |")
    print("|---|---:|---:|---:|")
    for label in [*(c[0] for c in CLASSES), THREE]:
        before = statistics.median(times[(label, "before")])
        after = statistics.median(times[(label, "after")])
        print(f"| {label} | {before * 1e3:.0f} ms | {after * 1e3:.0f} ms | {after / before:.2f}× |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
