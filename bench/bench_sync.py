"""Sync with 10,000 notes: an idle sync, a sync with one note changed, and a fresh clone.

Floors, measured in the same run: copying the sync folder with `cp -r` (the least any reader of
the folder costs) and opening every envelope in it (the least a reader that checks every note
costs); the clone is also set against both together. The vault is the shared 10,000-note
sample (built with the tiny test KDF), copied so the sample itself is never changed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time

from common import MAIN_SIZE, PASSWORD, WORK, fmt, sample_path, sample_vault, table, timed
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt

from vault.notes.vault import Vault
from vault.sealing import crypto, envelope
from vault.sync import SyncEngine, clone, set_remote

OUT = WORK / "sync"


def open_envelopes(vault: Vault, envelopes: list[tuple[envelope.Claims, str]]) -> None:
    items_key = crypto.subkey(vault.master_key, crypto.Label.ITEMS)
    for claims, text in envelopes:
        env = json.loads(text)
        crypto_aead_xchacha20poly1305_ietf_decrypt(
            crypto.b64d(env["cipher"]),
            envelope.op_ad(vault.vault_id, claims),
            crypto.b64d(env["nonce"]),
            envelope.item_key(items_key, crypto.b64d(env["salt"]), claims.item_id),
        )


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    source = sample_vault(sample_path(MAIN_SIZE), MAIN_SIZE)
    shutil.copytree(source, OUT / "a")
    shared = OUT / "shared"
    a = Vault.unlock(OUT / "a", password=PASSWORD)
    set_remote(a.store, shared)
    first = SyncEngine(a).sync()  # publishes every version: a handful of segments
    b, _ = clone(shared, OUT / "b", password=PASSWORD)
    notes = a.notes()
    files = [p for p in shared.rglob("*") if p.is_file()]
    folder_bytes = sum(p.stat().st_size for p in files)
    envelopes = [(op.claims, op.envelope) for op in a.store.all_ops() if op.envelope is not None]

    copies = iter(range(1000))
    cp_floor = timed(
        lambda: subprocess.run(
            ["cp", "-r", str(shared), str(OUT / f"cp{next(copies)}")], check=True
        ),
        repeat=3,
    )
    open_floor = timed(lambda: open_envelopes(a, envelopes), repeat=3)

    idle_a = timed(lambda: SyncEngine(a).sync(), repeat=5)
    idle_b = timed(lambda: SyncEngine(b).sync(), repeat=5)
    idle_report = SyncEngine(a).sync()
    assert idle_report.files_read == 0 and idle_report.files_written == 0

    edits = iter(notes)

    def send_one() -> None:
        note = next(edits)
        a.update_note(note, body=note.body + "\nedited")
        assert SyncEngine(a).sync().pushed == 1

    send = timed(send_one, repeat=5)

    SyncEngine(b).sync()  # catch up on the sends above, so each receive below is one change

    def change_then_receive() -> float:
        send_one()
        start = time.perf_counter()
        assert SyncEngine(b).sync().pulled == 1
        return time.perf_counter() - start

    receives = sorted(change_then_receive() for _ in range(5))
    receive = receives[len(receives) // 2]

    clones = iter(range(1000))

    def fresh_clone() -> None:
        vault, _ = clone(shared, OUT / f"c{next(clones)}", password=PASSWORD)
        assert len(vault.notes()) == len(notes)
        vault.lock()

    clone_time = timed(fresh_clone, repeat=3)
    b.lock()
    a.lock()

    print(f"## Sync ({len(notes):,} notes, {len(envelopes):,} versions)\n")
    print(
        table(
            [
                ("idle sync (sending device)", idle_a, cp_floor, "`cp -r` of the sync folder"),
                ("idle sync (another device)", idle_b, cp_floor, "`cp -r` of the sync folder"),
                ("one note changed: save + send", send, cp_floor, "`cp -r` of the sync folder"),
                ("one note changed: receive", receive, cp_floor, "`cp -r` of the sync folder"),
                ("fresh clone", clone_time, cp_floor, "`cp -r` of the sync folder"),
                ("fresh clone", clone_time, open_floor, "open every envelope"),
                (
                    "fresh clone",
                    clone_time,
                    cp_floor + open_floor,
                    "`cp -r` + open every envelope",
                ),
            ]
        )
    )
    print(
        f"\nThe folder: {len(files)} files, {folder_bytes / 1024 / 1024:.1f} MiB after the first "
        f"sync ({first.files_written} log files for {first.pushed:,} operations, "
        f"{fmt(first.seconds)}). An idle sync reads no file from the folder (checked: "
        f"files read {idle_report.files_read}, written {idle_report.files_written}). "
        "The clone includes unwrapping a key slot (tiny test KDF), applying every operation "
        "and decrypting every current note into memory."
    )
    shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
