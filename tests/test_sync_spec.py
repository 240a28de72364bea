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


def _open_row(master_key: bytes, vault_id: str, op_id: str, op: dict) -> dict:
    """An op of the folder opened against its own row's claims (FORMAT.md, version 2)."""
    claims = {
        "op_id": op_id,
        "item_id": op["item"],
        "kind": op["kind"],
        "parents": op["parents"],
        "deleted": op["deleted"],
        "device": op["device"],
    }
    return open_op(master_key, vault_id, claims, op["env"])


def test_the_documented_merge_rules_rebuild_every_merge_in_the_folder(
    tmp_path: Path, make_vault: Callable[..., tuple]
) -> None:
    """Every merge the devices wrote into the folder is recomputed from the folder alone by
    tests/spec_merge.py (SYNC.md's rules, no vault code): same op id, same content. The forks
    cover line merges, tag sets, trash against an edit, an edit against a deletion and one tag
    invented on both devices (no common ancestor)."""
    from tests import spec_merge
    from vault.sync import SyncEngine, clone, set_remote

    folder = tmp_path / "shared"
    a, _ = make_vault(tmp_path / "a")
    set_remote(a.store, folder)
    lines = a.create_note("Lines", "one\ntwo\nthree\nfour\n", tags=["x", "y"])
    gone = a.create_note("Gone", "deleted on a, edited on b\n")
    SyncEngine(a).sync()
    b, _ = clone(folder, tmp_path / "b", password=PASSWORD)
    try:
        a.update_note(a.note(lines.id), body="ONE\ntwo\nthree\nfour\n", tags=["x", "y", "z"])
        b.update_note(b.note(lines.id), body="one\ntwo\nthree\nFOUR\n", tags=["y"])
        b.trash_note(b.note(lines.id))
        a.purge_note(a.note(gone.id))
        b.update_note(b.note(gone.id), body="kept\n")
        a.create_note("Tagged on a", "", tags=["Straße"])
        b.create_note("Tagged on b", "", tags=["STRASSE"])
        for v in (a, b, a, b):
            SyncEngine(v).sync()
        vault_id, rows, _, master_key = read_sync_folder(folder, PASSWORD)
        mk_id = json.loads((folder / "vault-sync.json").read_bytes())["mk_id"]
        documented = (  # SYNC.md, "Header": the indented form, byte for byte
            f'{{\n  "format": "vault-sync",\n  "v": 2,\n  "vault_id": "{vault_id}",\n'
            f'  "mk_id": "{mk_id}"\n}}\n'
        )
        assert (folder / "vault-sync.json").read_bytes() == documented.encode("ascii")
        ops = {
            r[0]: {
                "item": r[1],
                "kind": r[2],
                "parents": r[3],
                "deleted": r[4],
                "env": r[5],
                "device": r[6],
            }
            for r in rows
        }

        def payload_of(op_id: str) -> dict | None:
            payload = _open_row(master_key, vault_id, op_id, ops[op_id])
            return None if payload.get("erased") or ops[op_id]["deleted"] else payload

        merges = [i for i, op in ops.items() if len(op["parents"]) > 1]
        kinds = set()
        for op_id in merges:
            op = ops[op_id]
            assert op_id == spec_merge.merge_op_id(op["item"], op["parents"])
            status, payload = spec_merge.merge_fork(ops, op["parents"], payload_of)
            assert status == ("tombstone" if op["deleted"] else "merged")
            if payload is not None:
                assert payload == payload_of(op_id)
                kinds.add(payload["kind"])
        assert kinds == {"note", "tag"}
        merged = {i: p for i, p in current_notes(vault_id, rows, master_key).items()}
        assert merged[lines.id]["body"] == "ONE\ntwo\nthree\nFOUR\n"
        assert merged[lines.id]["tags"] == ["y", "z"]
        assert merged[lines.id]["trashed"] is not None
        assert merged[gone.id]["body"] == "kept\n"
    finally:
        b.lock()


def test_a_reader_rebuilds_an_unmerged_fork_as_the_devices_will(
    tmp_path: Path, make_vault: Callable[..., tuple]
) -> None:
    """A folder holding a fork no device has merged yet (b wrote while a's file was still on
    its way): the independent reader merges it by SYNC.md's rules and gets the note every
    device shows once it has synced."""
    from tests import spec_merge
    from vault.sync import SyncEngine, clone, set_remote

    folder = tmp_path / "shared"
    a, _ = make_vault(tmp_path / "a")
    set_remote(a.store, folder)
    note = a.create_note("Plan", "alpha\nbeta\ngamma\ndelta\n", tags=["x"])
    SyncEngine(a).sync()
    b, _ = clone(folder, tmp_path / "b", password=PASSWORD)
    try:
        a.update_note(a.note(note.id), title="Plan", body="ALPHA\nbeta\ngamma\ndelta\n")
        b.update_note(b.note(note.id), body="alpha\nbeta\ngamma\nDELTA\n", tags=["x", "y"])
        before = set((folder / "log" / a.store.device_id).iterdir())
        SyncEngine(a).sync()
        (new,) = set((folder / "log" / a.store.device_id).iterdir()) - before
        hidden = new.with_name("." + new.name)  # still "on its way" for b
        new.rename(hidden)
        SyncEngine(b).sync()
        hidden.rename(new)

        vault_id, rows, _, master_key = read_sync_folder(folder, PASSWORD)
        ops = {
            r[0]: {
                "item": r[1],
                "kind": r[2],
                "parents": r[3],
                "deleted": r[4],
                "env": r[5],
                "device": r[6],
            }
            for r in rows
        }
        named = {p for op in ops.values() for p in op["parents"]}
        heads = sorted(i for i, op in ops.items() if op["item"] == note.id and i not in named)
        assert len(heads) == 2  # the fork is in the folder, unmerged

        def payload_of(op_id: str) -> dict:
            return _open_row(master_key, vault_id, op_id, ops[op_id])

        status, merged = spec_merge.merge_fork(ops, heads, payload_of)
        assert status == "merged"
        for device in (a, b, a):
            SyncEngine(device).sync()
        for device in (a, b):
            shown = device.note(note.id)
            assert shown.version == spec_merge.merge_op_id(note.id, heads)
            assert (shown.title, shown.body, list(shown.tags), shown.modified) == (
                merged["title"],
                merged["body"],
                merged["tags"],
                merged["modified"],
            )
        assert merged["body"] == "ALPHA\nbeta\ngamma\nDELTA\n"
    finally:
        b.lock()
