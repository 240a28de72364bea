"""docs/BACKUP.md is exact: a reader written from it alone (plus the FORMAT.md reader for slots
and envelopes) opens a backup made by the real `vault` command, with the password and with the
recovery key, and sees the same notes and the same history as the vault."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import struct
from pathlib import Path

import pytest
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_init_pull,
    crypto_secretstream_xchacha20poly1305_pull,
    crypto_secretstream_xchacha20poly1305_state,
)

from tests import format_reader as spec
from tests.conftest import CLI, PASSWORD

TAG_MESSAGE, TAG_FINAL = 0, 3


def b2b(data: bytes, *, key: bytes = b"", person: bytes = b"") -> bytes:
    return hashlib.blake2b(data, digest_size=32, key=key, person=person).digest()


def read_backup(path: Path, *, password: str | None = None, recovery_key: str | None = None):
    """(header, info record, operation records, end record), following BACKUP.md step by step."""
    data = path.read_bytes()
    assert data[:8] == b"VAULTBAK"
    (length,) = struct.unpack(">I", data[8:12])
    prefix = data[: 12 + length]
    header = json.loads(prefix[12:].decode("utf-8"))
    assert header["format"] == "vault-backup" and header["v"] == 1
    assert header["stream"]["alg"] == "xchacha20poly1305-secretstream"
    ss_header = data[12 + length : 36 + length]
    chunk = header["stream"]["chunk"]
    vault_id = header["vault_id"]

    recovery = spec.parse_recovery(recovery_key) if recovery_key else None
    mk = None
    for slot in header["slots"]:
        assert slot["mk_id"] == header["mk_id"]
        if (slot["type"] == "recovery") != (recovery is not None):
            continue
        mk = spec.open_slot(slot, vault_id, password, None, recovery)
        if mk:
            break
    assert mk is not None, "no slot opened"

    backup_subkey = b2b(b"", key=mk, person=b"vault backup")
    stream_key = b2b(
        bytes.fromhex(header["backup_id"]), key=backup_subkey, person=b"vault bak stream"
    )
    ad = b2b(prefix)
    state = crypto_secretstream_xchacha20poly1305_state()
    crypto_secretstream_xchacha20poly1305_init_pull(state, ss_header, stream_key)

    body = data[36 + length :]
    part_size = chunk + 17
    assert len(body) % part_size == 0
    plain = b""
    parts = [body[i : i + part_size] for i in range(0, len(body), part_size)]
    for n, part in enumerate(parts):
        message, tag = crypto_secretstream_xchacha20poly1305_pull(state, part, ad)
        assert len(message) == chunk
        assert tag == (TAG_FINAL if n == len(parts) - 1 else TAG_MESSAGE)
        plain += message

    records = []
    pos = 0
    while True:
        rtype = plain[pos : pos + 1]
        (size,) = struct.unpack(">I", plain[pos + 1 : pos + 5])
        payload = plain[pos + 5 : pos + 5 + size]
        pos += 5 + size
        if rtype == b"A":  # binary: the blob's name, then the next bytes of its file
            records.append((rtype, {"blob": payload[:64].decode("ascii"), "bytes": payload[64:]}))
            continue
        records.append((rtype, json.loads(payload)))
        if rtype == b"E":
            break
    assert not plain[pos:].strip(b"\x00"), "only zeros follow the end record"
    assert records[0][0] == b"I"
    end = records[-1][1]
    ops = [doc for rtype, doc in records if rtype == b"O"]
    assert end["records"] == len(records) - 1 and end["ops"] == len(ops)
    blobs: dict[str, bytes] = {}
    for rtype, doc in records:
        if rtype == b"A":
            blobs[doc["blob"]] = blobs.get(doc["blob"], b"") + doc["bytes"]
    assert end["attachments"] == len(blobs)
    read_backup.blobs = blobs  # type: ignore[attr-defined]
    return header, records[0][1], ops, end, mk


def live_items(ops: list[dict], mk: bytes, vault_id: str) -> dict[str, dict]:
    """BACKUP.md "To read the notes of a backup"."""
    named = {p for op in ops for p in op["parents"]}
    by_item: dict[str, list[dict]] = {}
    for op in ops:
        by_item.setdefault(op["item"], []).append(op)
    items = {}
    for item_id, item_ops in by_item.items():
        heads = [op for op in item_ops if op["op"] not in named]
        live = [op for op in heads if not op["deleted"]]
        if live:
            shown = max(live, key=lambda op: op["op"])
            claims = {
                "op_id": shown["op"],
                "item_id": item_id,
                "kind": shown["kind"],
                "parents": shown["parents"],
                "deleted": shown["deleted"],
                "device": shown["device"],
            }
            items[item_id] = spec.open_op(mk, vault_id, claims, shown["envelope"])
    return items


@pytest.fixture
def made(cli: CLI, tmp_path: Path) -> tuple[CLI, str, Path]:
    recovery = cli.init()
    cli(
        "new",
        "Plans ünïcode",
        "--notebook",
        "Work/Projects",
        "--tag",
        "alpha",
        input="one\n",
        check=True,
    )
    cli("new", "Second", "--tag", "beta", input="two", check=True)
    cli("new", "Gone", input="bye", check=True)
    cli("edit", "Plans ünïcode", input="one, edited\n", check=True)
    cli("rm", "Gone", check=True)
    cli("rm", "Gone", "--purge", "--yes", check=True)
    out = tmp_path / "spec.vbak"
    cli("backup", "create", str(out), check=True)
    return cli, recovery, out


def test_spec_reader_opens_a_backup_with_the_password(made) -> None:
    cli, _, out = made
    header, info, ops, end, mk = read_backup(out, password=PASSWORD)
    assert info["history"] is True and end["attachments"] == 0
    items = live_items(ops, mk, header["vault_id"])
    notes = {p["title"]: p["body"] for p in items.values() if p["kind"] == "note"}
    assert notes == {"Plans ünïcode": "one, edited\n", "Second": "two"}
    # the same operations, parents and envelopes as the vault's store, in arrival order
    db = sqlite3.connect(cli.vault_dir / "store.sqlite")
    rows = db.execute(
        "SELECT op_id, item_id, kind, parents, deleted, envelope, device FROM ops ORDER BY seq"
    ).fetchall()
    db.close()
    assert [
        (o["op"], o["item"], o["kind"], o["parents"], o["deleted"], o["envelope"], o["device"])
        for o in ops
    ] == [(r[0], r[1], r[2], json.loads(r[3]), bool(r[4]), r[5], r[6]) for r in rows]
    # and what the spec reader of the vault folder sees
    folder = spec.read_vault(cli.vault_dir, password=PASSWORD)
    assert sorted(n["title"] for n in folder["note"]) == sorted(notes)


def test_spec_reader_opens_a_backup_with_the_recovery_key(made) -> None:
    _, recovery, out = made
    header, _, ops, _, mk = read_backup(out, recovery_key=recovery)
    items = live_items(ops, mk, header["vault_id"])
    kinds = sorted(p["kind"] for p in items.values())
    assert kinds == ["note", "note", "notebook", "notebook", "tag", "tag"]


def test_spec_reader_reads_a_backup_without_history(made, tmp_path: Path) -> None:
    cli, _, _ = made
    out = tmp_path / "heads.vbak"
    cli("backup", "create", str(out), "--no-history", check=True)
    header, info, ops, _, mk = read_backup(out, password=PASSWORD)
    assert info["history"] is False
    # one operation per item: its head (the purged note's tombstone included)
    assert len(ops) == len({o["item"] for o in ops}) == 7
    notes = [p for p in live_items(ops, mk, header["vault_id"]).values() if p["kind"] == "note"]
    assert sorted(n["body"] for n in notes) == ["one, edited\n", "two"]


def test_spec_reader_reads_attachments_from_a_backup(cli: CLI, tmp_path: Path) -> None:
    cli.init()
    cli("new", "Receipts", input="x", check=True)
    data = bytes(range(256)) * 9000  # more than one A record and one blob part
    (tmp_path / "scan.pdf").write_bytes(data)
    cli("attach", "Receipts", str(tmp_path / "scan.pdf"), check=True)
    out = tmp_path / "att.vbak"
    cli("backup", "create", str(out), check=True)
    header, _, ops, end, mk = read_backup(out, password=PASSWORD)
    assert end["attachments"] == 1
    (note,) = [p for p in live_items(ops, mk, header["vault_id"]).values() if p["kind"] == "note"]
    (entry,) = note["attachments"]
    blob = read_backup.blobs[entry["blob"]]  # type: ignore[attr-defined]
    assert spec.read_blob(blob, mk, entry) == data
