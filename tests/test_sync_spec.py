"""docs/SYNC.md is exact: an independent reader, written from SYNC.md and FORMAT.md alone
(only the standard library, PyNaCl and argon2-cffi, through tests/format_reader.py), reads a
real sync folder written by two devices and finds every note with its content, and recomputes
the ids of the merges the devices made."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt

from tests.conftest import PASSWORD
from tests.format_reader import b2b, b64, open_op, open_slot, unpad

NAME = re.compile(r"^(\d{10})-([0-9a-f]{32})\.(seg|snap)$")


def read_sync_folder(folder: Path, password: str) -> tuple[str, list[list], list[str], bytes]:
    """(vault id, every operation row, every device, master key) from a folder, per SYNC.md."""
    header = json.loads((folder / "vault-sync.json").read_text())
    assert header["format"] == "vault-sync" and header["v"] == 2
    vault_id = header["vault_id"]
    master_key = None
    for path in sorted((folder / "keys").glob("*/*.slot")):
        data = path.read_bytes()
        assert path.stem == b2b(data, size=16).hex()
        slot = json.loads(data)
        if slot["type"] == "password" and slot["mk_id"] == header["mk_id"]:
            master_key = open_slot(slot, vault_id, password=password) or master_key
    assert master_key is not None
    sync_key = b2b(b"", key=master_key, person=b"vault sync")
    ops: dict[str, list] = {}
    devices = sorted(p.name for p in (folder / "log").iterdir())
    for device in devices:
        for path in sorted((folder / "log" / device).iterdir()):
            m = NAME.match(path.name)
            if m is None:
                continue
            data = path.read_bytes()
            assert b2b(data, size=16).hex() == m.group(2)
            magic, header_line, cipher = data.split(b"\n", 2)
            assert magic == b"VAULTSYNC2"
            h = json.loads(header_line)
            assert (h["dev"], h["seq"], h["kind"]) == (device, int(m.group(1)), m.group(3))
            ad = b"\x00".join(
                s.encode()
                for s in (
                    "vault-sync-file",
                    "2",
                    vault_id,
                    device,
                    h["kind"],
                    str(h["seq"]),
                    h["prev"],
                )
            )
            plain = crypto_aead_xchacha20poly1305_ietf_decrypt(
                cipher, ad, b64(h["nonce"]), sync_key
            )
            body = json.loads(unpad(plain).decode("utf-8"))
            assert set(body) == {"ops", "acks", "wall"}
            for row in body["ops"]:
                ops[row[0]] = row
    return vault_id, list(ops.values()), devices, master_key


def current_notes(vault_id: str, ops: list[list], master_key: bytes) -> dict[str, dict]:
    """FORMAT.md's display rule over the ops: heads, a live head before a tombstone, then the
    largest op id; each op opened against the claims of its row (format 2)."""
    named = {p for row in ops for p in row[3]}
    heads: dict[str, list[list]] = {}
    for row in ops:
        if row[0] not in named:
            heads.setdefault(row[1], []).append(row)
    notes = {}
    fields = ("op_id", "item_id", "kind", "parents", "deleted", "envelope", "device")
    for item_id, rows in heads.items():
        shown = max(rows, key=lambda r: (not r[4], r[0]))
        for row in rows:  # every head answers for its row, a tombstone too
            open_op(master_key, vault_id, dict(zip(fields, row, strict=True)), row[5])
        if shown[2] == "note" and not shown[4]:
            claims = dict(zip(fields, shown, strict=True))
            notes[item_id] = open_op(master_key, vault_id, claims, shown[5])
    return notes


def test_an_independent_reader_reads_the_folder(
    tmp_path: Path, make_vault: Callable[..., tuple]
) -> None:
    from vault.sync import SyncEngine, clone, set_remote

    folder = tmp_path / "shared"
    a, _ = make_vault(tmp_path / "a")
    set_remote(a.store, folder)
    shared = a.create_note("Shared", "one\ntwo\nthree\n", tags=["x"])
    SyncEngine(a).sync()
    b, _ = clone(folder, tmp_path / "b", password=PASSWORD)
    try:
        b.create_note("From b", "hello from b\n")
        a.update_note(a.note(shared.id), body="ONE\ntwo\nthree\n")
        b.update_note(b.note(shared.id), body="one\ntwo\nTHREE\n")
        for v in (a, b, a, b):
            SyncEngine(v).sync()
        vault_id, ops, devices, master_key = read_sync_folder(folder, PASSWORD)
        assert set(devices) == {a.store.device_id, b.store.device_id}
        notes = current_notes(vault_id, ops, master_key)
        expected = {n.id: (n.title, n.body) for n in a.all_notes()}
        assert {i: (p["title"], p["body"]) for i, p in notes.items()} == expected
        assert notes[shared.id]["body"] == "ONE\ntwo\nTHREE\n"
        merges = [row for row in ops if len(row[3]) > 1]
        assert merges
        for op_id, item_id, _, parents, *_ in merges:
            text = (item_id + ":" + ",".join(sorted(parents))).encode("ascii")
            assert op_id == b2b(text, person=b"vault merge op", size=16).hex()
    finally:
        b.lock()


def test_every_bookkeeping_key_is_specified() -> None:
    from vault.sync import state

    keys = {v for v in vars(state).values() if isinstance(v, str) and v.startswith("sync.")}
    spec = (Path(__file__).parent.parent / "docs" / "SYNC.md").read_text()
    block = spec.split("## Local bookkeeping", 1)[1].split("## ", 1)[0]
    listed = set(re.findall(r"(?<![\w.])(sync\.[a-z_]+)", block))
    assert keys and keys <= listed, sorted(keys - listed)
