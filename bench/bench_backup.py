"""Backups and Markdown with 10,000 notes: create, verify, restore, merge, export, import.

Floors, measured in the same run: copying the vault folder (`cp -r`, the least a copy costs),
reading and AEAD-opening every stored version (the least a verifying reader costs), inserting
the same operations into a new store from memory (the store's own cost), writing the same bytes
as plain files, and creating the same notes through the domain API. Memory is the
peak of Python allocations during each call (tracemalloc), against the size of the backup file,
which is what a reader that does not stream would hold.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from common import MAIN_SIZE, PASSWORD, WORK, fmt, sample_path, sample_vault, table, timed
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt

from vault.interchange.backup import create_backup, merge_backup, restore_backup, verify_backup
from vault.interchange.markdown_io import export_markdown, import_markdown
from vault.notes.vault import Vault
from vault.sealing import crypto, envelope
from vault.storage.store import Store

OUT = WORK / "backup"


class Fresh:
    """A new path for each timed run (restores and exports need an empty target)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.n = 0

    def __call__(self) -> Path:
        self.n += 1
        return self.base / f"{self.n}"


def open_every_version(path: Path, master_key: bytes, vault_id: str) -> None:
    items_key = crypto.subkey(master_key, crypto.Label.ITEMS)
    db = sqlite3.connect(path / "store.sqlite")
    rows = db.execute(
        "SELECT op_id, item_id, kind, parents, deleted, device, envelope FROM ops "
        "WHERE envelope IS NOT NULL"
    )
    for op_id, item_id, kind, parents, deleted, device, text in rows:
        claims = envelope.Claims(
            op_id, item_id, kind, tuple(json.loads(parents)), bool(deleted), device
        )
        env = json.loads(text)
        crypto_aead_xchacha20poly1305_ietf_decrypt(
            crypto.b64d(env["cipher"]),
            envelope.op_ad(vault_id, claims),
            crypto.b64d(env["nonce"]),
            envelope.item_key(items_key, crypto.b64d(env["salt"]), item_id),
        )
    db.close()


def peak(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def main() -> None:
    source = sample_vault(sample_path(MAIN_SIZE), MAIN_SIZE)
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    vault = Vault.unlock(source, password=PASSWORD)
    notes = vault.notes()
    versions = vault.store.counts()["versions"]

    copies = Fresh(OUT / "cp")
    copy_floor = timed(lambda: shutil.copytree(source, copies()), repeat=3)
    open_floor = timed(lambda: open_every_version(source, vault.master_key, vault.vault_id), 3)

    backups = Fresh(OUT / "b")
    (OUT / "b").mkdir()
    made: list[Path] = []
    create = timed(lambda: made.append(create_backup(vault, backups()).path), repeat=3)
    create_heads = timed(lambda: create_backup(vault, backups(), history=False), repeat=3)
    file = made[-1]
    size = file.stat().st_size
    verify = timed(lambda: verify_backup(file, password=PASSWORD), repeat=3)
    verify_stream = timed(lambda: verify_backup(file, password=PASSWORD, open_items=False), 3)
    targets = Fresh(OUT / "r")
    restore = timed(lambda: restore_backup(file, targets(), password=PASSWORD), repeat=3)
    merge = timed(lambda: merge_backup(vault, file), repeat=3)
    all_ops = list(vault.store.all_ops())
    stores = Fresh(OUT / "s")

    def ingest_floor() -> None:
        target = Store.create(stores(), vault.vault_id, crypto.random_id(), "0" * 32, [])
        target.commit_key = crypto.subkey(vault.master_key, crypto.Label.OPS_SUM)
        target.ingest_count(all_ops)
        target.close()

    ingest = timed(ingest_floor, repeat=3)

    exports = Fresh(OUT / "md")
    written: list[Path] = []
    export = timed(lambda: written.append(export_markdown(vault, exports()).folder), repeat=3)
    md_files = [p for p in written[-1].rglob("*.md")]
    md_bytes = [(p.name, p.read_bytes()) for p in md_files]
    plain = Fresh(OUT / "plain")

    def write_plain() -> None:
        folder = plain()
        folder.mkdir(parents=True)
        for i, (_, data) in enumerate(md_bytes):
            (folder / f"{i}.md").write_bytes(data)

    plain_floor = timed(write_plain, repeat=3)

    imports = Fresh(OUT / "iv")

    def import_all() -> None:
        target, _ = Vault.create(imports(), PASSWORD, kdf=crypto.TEST_KDF, allow_weak_kdf=True)
        with target:
            report = import_markdown(target, written[-1])
            assert report.imported == len(notes), report

    creates = Fresh(OUT / "cv")

    def create_same_notes() -> None:
        target, _ = Vault.create(creates(), PASSWORD, kdf=crypto.TEST_KDF, allow_weak_kdf=True)
        with target:
            for start in range(0, len(notes), 200):
                with target.batch():
                    for n in notes[start : start + 200]:
                        target.create_note(n.title, n.body, tags=n.tags)

    import_time = timed(import_all, repeat=1)
    create_floor = timed(create_same_notes, repeat=1)

    create_peak = peak(lambda: create_backup(vault, backups()))
    verify_peak = peak(lambda: verify_backup(file, password=PASSWORD))
    restore_peak = peak(lambda: restore_backup(file, targets(), password=PASSWORD))
    vault.lock()

    print(f"## Backups and Markdown ({len(notes):,} notes, {versions:,} versions)\n")
    print(
        table(
            [
                ("backup create (with history)", create, copy_floor, "`cp -r` of the vault"),
                ("backup create --no-history", create_heads, copy_floor, "`cp -r` of the vault"),
                (
                    "backup verify (every item opened)",
                    verify,
                    open_floor,
                    "AEAD-open every version",
                ),
                ("backup verify, stream only", verify_stream, copy_floor, "`cp -r` of the vault"),
                ("backup restore into a new folder", restore, copy_floor, "`cp -r` of the vault"),
                ("backup restore into a new folder", restore, ingest, "store ingest, from memory"),
                ("backup restore merged, all known", merge, open_floor, "AEAD-open every version"),
                ("export markdown", export, plain_floor, "write the same bytes to plain files"),
                ("import markdown", import_time, create_floor, "create the same notes (batched)"),
            ]
        )
    )
    print(
        "\n| peak memory (Python) | peak | backup file | ratio |\n|---|---:|---:|---:|\n"
        + "\n".join(
            f"| {what} | {mib(p)} | {mib(size)} | {p / size:.2f}× |"
            for what, p in (
                ("backup create", create_peak),
                ("backup verify", verify_peak),
                ("backup restore", restore_peak),
            )
        )
    )
    print(
        f"\nBackup file: {mib(size)} for {versions:,} versions ({size / versions / 1024:.1f} KiB "
        f"each, envelopes included). Vault folder: "
        f"{mib(sum(p.stat().st_size for p in source.rglob('*') if p.is_file()))}. "
        f"Tiny test KDF, so the times exclude Argon2 (about 0.4-0.6 s more with a real password "
        f"slot). A single `cp -r` here took {fmt(copy_floor)}."
    )
    shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
