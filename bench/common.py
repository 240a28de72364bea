"""Shared helpers for the benchmarks: timing, a realistic sample vault, Markdown tables."""

from __future__ import annotations

import os
import random
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from vault.notes.model import Note, now_ms
from vault.notes.vault import Vault, clean_title
from vault.sealing.crypto import DEFAULT_KDF, TEST_KDF, random_id

# Smoke mode (`python bench/run.py --smoke` sets it for every bench it starts): a tiny vault and
# one run per timing, to prove the benchmarks still work, not to measure anything.
SMOKE = os.environ.get("VAULT_BENCH_SMOKE") == "1"
SMOKE_SIZE = 200
# The sizes of the scaling benchmarks (comma-separated note counts in VAULT_BENCH_SIZES).
DEFAULT_SIZES = (1_000, 10_000, 100_000)
# The size every single-size benchmark uses (sync, backups, the app, the peers).
MAIN_SIZE = SMOKE_SIZE if SMOKE else 10_000
# Sample vaults and scratch files (VAULT_BENCH_WORK to put them elsewhere, as the smoke test does).
WORK = Path(
    os.environ.get("VAULT_BENCH_WORK")
    or Path(__file__).resolve().parent / (".work/smoke" if SMOKE else ".work")
)
PASSWORD = "bench password"
GENERATOR = 2  # bump when sample_vault writes different notes, so cached vaults are rebuilt


def sizes() -> list[int]:
    """Note counts for the scaling benchmarks: VAULT_BENCH_SIZES, else 1k/10k/100k (smoke:
    the one tiny size)."""
    given = os.environ.get("VAULT_BENCH_SIZES", "").strip()
    if given:
        return [int(part.replace("_", "")) for part in given.split(",") if part.strip()]
    return [SMOKE_SIZE] if SMOKE else list(DEFAULT_SIZES)


def count(n: int) -> str:
    return f"{n:,}"


def sample_path(notes: int) -> Path:
    """Where the shared sample vault of that size lives (core-10k for 10,000 notes)."""
    name = f"{notes // 1000}k" if notes >= 1000 and notes % 1000 == 0 else str(notes)
    return WORK / f"core-{name}"


def strong_copy(path: Path) -> Path:
    """A copy of a sample vault behind the default KDF (Argon2id 256 MiB, t=3, p=2), to time
    a real unlock; made once per sample vault."""
    strong = path.with_name(path.name + "-strong")
    source_marker = next(path.glob(".complete-*"))
    marker = strong / (source_marker.name + "-strong")
    if marker.exists():
        return strong
    shutil.rmtree(strong, ignore_errors=True)
    shutil.copytree(path, strong)
    with Vault.unlock(strong, password=PASSWORD) as vault:
        vault.change_password(PASSWORD, keyfile=None, kdf=DEFAULT_KDF)
    marker.write_text("")
    return strong


def timed(
    fn: Callable[[], object], repeat: int = 5, setup: Callable[[], object] | None = None
) -> float:
    """Median wall time of `fn` over `repeat` runs (the median resists a noisy neighbour); one
    run in smoke mode. `setup`, if given, runs untimed before each run."""
    times = []
    for _ in range(1 if SMOKE else repeat):
        if setup is not None:
            setup()
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


def markdown_note(rng: random.Random, vocab: list[str], weights: list[float]) -> str:
    """One note body: 100-280 pseudo-words as Markdown (paragraphs, a sub-heading or a list
    now and then, a word in bold), about 1-3 KB."""
    words = rng.choices(vocab, weights, k=rng.randint(100, 280))
    blocks = []
    i = 0
    while i < len(words):
        chunk = words[i : i + rng.randint(20, 60)]
        i += len(chunk)
        kind = rng.random()
        if kind < 0.2:
            blocks.append(
                "\n".join("- " + " ".join(chunk[j : j + 6]) for j in range(0, len(chunk), 6))
            )
            continue
        if kind < 0.35 and len(chunk) > 3:
            blocks.append("## " + " ".join(chunk[:3]).capitalize())
            chunk = chunk[3:]
        if kind > 0.8:
            k = rng.randrange(len(chunk))
            chunk = [*chunk[:k], f"**{chunk[k]}**", *chunk[k + 1 :]]
        blocks.append("\n".join(" ".join(chunk[j : j + 12]) for j in range(0, len(chunk), 12)))
    return "\n\n".join(blocks) + "\n"


def sample_vault(path: Path, notes: int = 10_000, seed: int = 7) -> Path:
    """A vault of `notes` Markdown notes of about 1-3 KB each (see `markdown_note`), in 15
    nested notebooks, with one to three tags each, built with tiny KDF parameters through the
    explicit test option; the same seed always gives the same notes. Reused if it exists."""
    marker = path / f".complete-{notes}-{seed}-g{GENERATOR}"
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
        # Notes go through the vault's own sealing and store (`_write`, what `create_note`
        # ends in) but skip its per-note refresh of the cache from the store, which reads
        # every item's state and would make building 100,000 notes quadratic.
        spelled = dict(zip(vocab[:30], vault._register_tags(vocab[:30]), strict=True))
        for start in range(0, notes, 2000):  # one transaction per 2,000 notes
            with vault.store.transaction():
                for _ in range(min(2000, notes - start)):
                    title = " ".join(rng.choices(vocab, weights, k=4)).capitalize()
                    body = markdown_note(rng, vocab, weights)
                    tags = rng.sample(vocab[:30], rng.randint(1, 3))
                    now = now_ms()
                    note = Note(
                        id=random_id(),
                        title=clean_title(title),
                        body=body,
                        notebook=rng.choice(notebooks),
                        tags=tuple(spelled[t] for t in tags),
                        created=now,
                        modified=now,
                    )
                    vault._write(note, [])
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
