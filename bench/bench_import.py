"""Markdown import against its floor: creating the same notes in one batch.

For each size (MAIN_SIZE, or VAULT_BENCH_SIZES, e.g. 10000,100000) the sample vault is exported
to Markdown once; then, in interleaved rounds, each into a new vault (tiny test KDF):

- import: `import_markdown` of that folder (reads and parses every file, finds notebooks and
  tags, skips duplicates, seals and stores each note);
- floor, API: the same notes (titles, bodies, notebook paths, tags, created and modified times,
  taken from the source vault) made through the domain's public calls in ONE `Vault.batch()`
  (one transaction): `ensure_notebook` once per notebook path, then `import_note` per note,
  which seals each envelope and stores it;
- floor, lean: the cheapest correct code that seals and stores them: one store transaction
  (with the larger page cache the import uses, `Store.large_cache`), the tags registered once, and `Vault._write` of each `Note` (what `import_note` ends in:
  seal the envelope, insert the operation and its index rows, the keyed commitment).

Each time runs from the new, empty, unlocked vault to the end of the work (the last commit);
creating the vault and locking it (which seals the snapshot) are outside it. The ratio is
import ÷ the cheaper of the two floors in the same round (median over rounds). Memory is not
measured here.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from pathlib import Path

from common import MAIN_SIZE, PASSWORD, SMOKE, WORK, count, fmt, sample_path, sample_vault

from vault.interchange.markdown_io import export_markdown, import_markdown
from vault.notes.model import Note
from vault.notes.vault import Vault, clean_title
from vault.sealing import crypto

OUT = WORK / "import"


def sizes() -> list[int]:
    given = os.environ.get("VAULT_BENCH_SIZES", "").strip()
    if given and not SMOKE:
        return [int(part.replace("_", "")) for part in given.split(",") if part.strip()]
    return [MAIN_SIZE]


def markdown_folder(n: int) -> tuple[Path, list[tuple]]:
    """The sample vault of n notes exported to Markdown (kept between runs), and its notes as
    (title, body, notebook path, tags, created, modified)."""
    source = sample_vault(sample_path(n), n)
    folder = sample_path(n).with_name(sample_path(n).name + "-markdown")
    marker = folder.with_name(folder.name + ".complete")
    with Vault.unlock(source, password=PASSWORD) as vault:
        if not marker.exists():
            shutil.rmtree(folder, ignore_errors=True)
            export_markdown(vault, folder)
            marker.write_text("")
        paths = {nb.id: vault.notebook_path(nb.id) for nb in vault.notebooks()}
        notes = [
            (n.title, n.body, paths.get(n.notebook or ""), n.tags, n.created, n.modified)
            for n in vault.notes()
        ]
    return folder, notes


def new_vault(path: Path) -> Vault:
    shutil.rmtree(path, ignore_errors=True)
    vault, _ = Vault.create(path, PASSWORD, kdf=crypto.TEST_KDF, allow_weak_kdf=True)
    return vault


def floor_api(path: Path, notes: list[tuple]) -> float:
    with new_vault(path) as vault:
        start = time.perf_counter()
        with vault.batch():
            ids: dict[str, str] = {}
            for title, body, nb_path, tags, created, modified in notes:
                nb = None
                if nb_path:
                    if nb_path not in ids:
                        ids[nb_path] = vault.ensure_notebook(nb_path)[0].id
                    nb = ids[nb_path]
                vault.import_note(
                    title, body, notebook=nb, tags=tags, created=created, modified=modified
                )
        return time.perf_counter() - start


def floor_lean(path: Path, notes: list[tuple]) -> float:
    with new_vault(path) as vault:
        start = time.perf_counter()
        with vault.store.large_cache(), vault.store.transaction():
            ids = {p: vault.ensure_notebook(p)[0].id for p in {n[2] for n in notes if n[2]}}
            all_tags = sorted({t for n in notes for t in n[3]})
            spelled = dict(zip(all_tags, vault._register_tags(all_tags), strict=True))
            for title, body, nb_path, tags, created, modified in notes:
                note = Note(
                    id=crypto.random_id(),
                    title=clean_title(title),
                    body=body,
                    notebook=ids[nb_path] if nb_path else None,
                    tags=tuple(spelled[t] for t in tags),
                    created=created,
                    modified=modified,
                )
                vault._write(note, [])
        return time.perf_counter() - start


def run_import(path: Path, folder: Path, expected: int) -> float:
    with new_vault(path) as vault:
        start = time.perf_counter()
        report = import_markdown(vault, folder)
        took = time.perf_counter() - start
        assert report.imported == expected and not report.skipped, report
        return took


def main() -> None:
    rows = []
    for n in sizes():
        folder, notes = markdown_folder(n)
        target = OUT / f"v{n}"
        rounds = 1 if SMOKE or n > 20_000 else 3
        times: dict[str, list[float]] = {"import": [], "api": [], "lean": []}
        for _ in range(rounds):  # interleaved: a neighbour's load falls on all three alike
            times["lean"].append(floor_lean(target, notes))
            times["import"].append(run_import(target, folder, len(notes)))
            times["api"].append(floor_api(target, notes))
            shutil.rmtree(target, ignore_errors=True)
        med = {k: statistics.median(v) for k, v in times.items()}
        floors = [min(a, b) for a, b in zip(times["lean"], times["api"], strict=True)]
        ratios = sorted(i / f for i, f in zip(times["import"], floors, strict=True))
        rows.append((n, med, rounds, ratios))
    shutil.rmtree(OUT, ignore_errors=True)
    print("## Markdown import against creating the same notes in one batch\n")
    print(
        "| notes | import | floor, lean (one transaction, `_write` each) | floor, API "
        "(one `batch()`, `import_note` each) | import ÷ the cheaper floor | rounds |\n"
        "|---:|---:|---:|---:|---:|---:|"
    )
    for n, med, rounds, ratios in rows:
        spread = f" ({ratios[0]:.2f}-{ratios[-1]:.2f})" if len(ratios) > 1 else ""
        print(
            f"| {count(n)} | {fmt(med['import'])} | {fmt(med['lean'])} | {fmt(med['api'])} | "
            f"{statistics.median(ratios):.2f}×{spread} | {rounds} |"
        )
    print(
        "\nThe floors make the same notes (titles, bodies, notebooks, tags, times) from memory; "
        "the import reads them from the exported `.md` files. Medians of interleaved rounds "
        "(the range of the per-round ratio in brackets). Tiny test KDF; each time excludes creating "
        "and locking the vault."
    )


if __name__ == "__main__":
    main()
