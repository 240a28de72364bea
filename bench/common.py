"""Shared helpers for the benchmarks: timing, a realistic sample vault, Markdown tables."""

from __future__ import annotations

import random
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from vault.crypto import TEST_KDF
from vault.notes import Vault

WORK = Path(__file__).resolve().parent / ".work"
PASSWORD = "bench password"


def timed(fn: Callable[[], object], repeat: int = 5) -> float:
    """Median wall time of `fn` over `repeat` runs (the median resists a noisy neighbour)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def vocabulary(rng: random.Random, size: int = 5000) -> tuple[list[str], list[float]]:
    """Pseudo-words with a Zipf distribution, like real prose: a few very common, most rare."""
    syllables = [
        "ka",
        "lo",
        "mi",
        "ne",
        "ra",
        "to",
        "su",
        "vi",
        "den",
        "gar",
        "pol",
        "sen",
        "tra",
        "qui",
        "mor",
        "bel",
        "ash",
        "tin",
        "oru",
        "pex",
    ]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))))
    ordered = sorted(words)
    rng.shuffle(ordered)
    return ordered, [1 / (i + 1) for i in range(len(ordered))]


def sample_vault(path: Path, notes: int = 10_000, seed: int = 7) -> Path:
    """A vault of `notes` notes (20-300 words each, 15 nested notebooks, a tag each), built with
    tiny KDF parameters through the explicit test option; reused if it already exists."""
    marker = path / f".complete-{notes}-{seed}"
    if marker.exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    rng = random.Random(seed)
    vocab, weights = vocabulary(rng)
    vault, _ = Vault.create(path, PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
    with vault:
        notebooks = [
            vault.ensure_notebook(f"Area {i}/Topic {j}")[0].id for i in range(5) for j in range(3)
        ]
        with vault.store.transaction():
            for _ in range(notes):
                words = rng.choices(vocab, weights, k=rng.randint(20, 300))
                body = "\n".join(" ".join(words[j : j + 12]) for j in range(0, len(words), 12))
                title = " ".join(rng.choices(vocab, weights, k=4)).capitalize()
                vault.create_note(
                    title, body, notebook=rng.choice(notebooks), tags=[rng.choice(vocab[:30])]
                )
    marker.write_text("")
    return path


def table(rows: list[tuple[str, float, float, str]]) -> str:
    """rows: (what, measured seconds, floor seconds, floor description)."""
    out = ["| measurement | time | floor | ratio | floor is |", "|---|---:|---:|---:|---|"]
    for what, measured, floor, floor_is in rows:
        ratio = measured / floor if floor > 0 else float("nan")
        out.append(f"| {what} | {fmt(measured)} | {fmt(floor)} | {ratio:.1f}× | {floor_is} |")
    return "\n".join(out)


def fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"
