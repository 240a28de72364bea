"""An independent reader of vault folders, written from docs/FORMAT.md alone.

It imports nothing from `vault`: only the standard library, PyNaCl and argon2-cffi (and blake3,
for the content hash of version 2 and 3 blobs), as the spec promises. Tests use it to prove the spec is exact (and the vectors use it as a second opinion).
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import unicodedata
from pathlib import Path

import blake3
from argon2.low_level import Type, hash_secret_raw
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
    crypto_secretstream_xchacha20poly1305_init_pull,
    crypto_secretstream_xchacha20poly1305_pull,
    crypto_secretstream_xchacha20poly1305_state,
    crypto_secretstream_xchacha20poly1305_TAG_FINAL,
    crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
    crypto_secretstream_xchacha20poly1305_TAG_PUSH,
)

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def b2b(data: bytes, *, key: bytes = b"", salt: bytes = b"", person: bytes = b"", size: int = 32):
    return hashlib.blake2b(data, digest_size=size, key=key, salt=salt, person=person).digest()


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def padme(length: int) -> int:
    if length < 2:
        return length
    e = length.bit_length() - 1
    s = e.bit_length()
    mask = (1 << (e - s)) - 1
    return (length + mask) & ~mask


def pad(data: bytes) -> bytes:
    size = max(256, padme(len(data) + 1))
    return data + b"\x80" + b"\x00" * (size - len(data) - 1)


def unpad(data: bytes) -> bytes:
    stripped = data.rstrip(b"\x00")
    assert stripped.endswith(b"\x80"), "bad padding"
    return stripped[:-1]


def item_ad(vault_id: str, kind: str, item_id: str) -> bytes:
    return b"\x00".join([b"vault-item", b"1", vault_id.encode(), kind.encode(), item_id.encode()])


def op_ad(vault_id: str, claims: dict) -> bytes:
    """Format 2: the AD binds the operation's row: op id, device, deleted, parents."""
    fields = [
        "vault-item",
        "2",
        vault_id,
        claims["kind"],
        claims["item_id"],
        claims["op_id"],
        claims["device"],
        "1" if claims["deleted"] else "0",
        ",".join(claims["parents"]),
    ]
    return "\x00".join(fields).encode("ascii")


def open_op(master_key: bytes, vault_id: str, claims: dict, text: str) -> dict:
    """Open a format 2 envelope against the claims of its ops row (FORMAT.md, version 2)."""
    env = json.loads(text)
    assert env["v"] == 2 and env["alg"] == "xchacha20poly1305-ietf"
    assert env["id"] == claims["item_id"] and env["kind"] == claims["kind"]
    assert env["op"] == claims["op_id"]
    salt, nonce, cipher = b64(env["salt"]), b64(env["nonce"]), b64(env["cipher"])
    padded = crypto_aead_xchacha20poly1305_ietf_decrypt(
        cipher,
        op_ad(vault_id, claims),
        nonce,
        item_key(master_key, salt, claims["item_id"]),
    )
    payload = json.loads(unpad(padded).decode("utf-8"))
    assert payload["kind"] == claims["kind"]
    return payload


def seal_op(
    master_key: bytes, vault_id: str, claims: dict, payload: dict, salt: bytes, nonce: bytes
) -> str:
    """A format 2 envelope, from FORMAT.md alone."""
    plaintext = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    cipher = crypto_aead_xchacha20poly1305_ietf_encrypt(
        pad(plaintext),
        op_ad(vault_id, claims),
        nonce,
        item_key(master_key, salt, claims["item_id"]),
    )
    env = {
        "v": 2,
        "id": claims["item_id"],
        "kind": claims["kind"],
        "op": claims["op_id"],
        "alg": "xchacha20poly1305-ietf",
        "salt": base64.b64encode(salt).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "cipher": base64.b64encode(cipher).decode(),
    }
    return json.dumps(env, separators=(",", ":"))


def item_key(master_key: bytes, salt: bytes, item_id: str) -> bytes:
    items_key = b2b(b"", key=master_key, person=b"vault items")
    return b2b(item_id.encode(), key=items_key, salt=salt, person=b"vault item key")


def open_envelope(master_key: bytes, vault_id: str, kind: str, item_id: str, text: str) -> dict:
    env = json.loads(text)
    assert env["v"] == 1 and env["alg"] == "xchacha20poly1305-ietf"
    assert env["id"] == item_id and env["kind"] == kind
    salt, nonce, cipher = b64(env["salt"]), b64(env["nonce"]), b64(env["cipher"])
    padded = crypto_aead_xchacha20poly1305_ietf_decrypt(
        cipher, item_ad(vault_id, kind, item_id), nonce, item_key(master_key, salt, item_id)
    )
    payload = json.loads(unpad(padded).decode("utf-8"))
    assert payload["kind"] == kind
    return payload


def seal_envelope(
    master_key: bytes,
    vault_id: str,
    kind: str,
    item_id: str,
    payload: dict,
    salt: bytes,
    nonce: bytes,
) -> str:
    plaintext = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    cipher = crypto_aead_xchacha20poly1305_ietf_encrypt(
        pad(plaintext), item_ad(vault_id, kind, item_id), nonce, item_key(master_key, salt, item_id)
    )
    env = {
        "v": 1,
        "id": item_id,
        "kind": kind,
        "alg": "xchacha20poly1305-ietf",
        "salt": base64.b64encode(salt).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "cipher": base64.b64encode(cipher).decode(),
    }
    return json.dumps(env, separators=(",", ":"))


def slot_root(slot: dict, password: str | None, keyfile: bytes | None, recovery: bytes | None):
    if slot["type"] == "recovery":
        return recovery
    k = slot["kdf"]
    stretched = hash_secret_raw(
        secret=unicodedata.normalize("NFC", password).encode("utf-8"),
        salt=b64(k["salt"]),
        time_cost=k["t"],
        memory_cost=k["m"],
        parallelism=k["p"],
        hash_len=32,
        type=Type.ID,
        version=19,
    )
    if slot["type"] == "password":
        return stretched
    digest = b2b(keyfile, person=b"vault keyfile")
    return b2b(digest, key=stretched, person=b"vault pw+keyfile")


def open_slot(
    slot: dict,
    vault_id: str,
    password: str | None = None,
    keyfile: bytes | None = None,
    recovery: bytes | None = None,
) -> bytes | None:
    root = slot_root(slot, password, keyfile, recovery)
    if root is None:
        return None
    if b2b(b"", key=root, person=b"vault slot chk") != b64(slot["commit"]):
        return None
    kek = b2b(b"", key=root, person=b"vault slot kek")
    ad = b"\x00".join(
        x.encode() for x in ("vault-slot", "1", vault_id, slot["slot"], slot["type"], slot["mk_id"])
    )
    mk = crypto_aead_xchacha20poly1305_ietf_decrypt(
        b64(slot["cipher"]), ad, b64(slot["nonce"]), kek
    )
    assert b2b(b"", key=mk, person=b"vault mk id", size=16).hex() == slot["mk_id"]
    return mk


def parse_recovery(text: str) -> bytes:
    cleaned = "".join(c for c in text.upper() if c not in " -\t\n").translate(
        str.maketrans("018", "OIB")
    )
    groups = [cleaned[i : i + 5] for i in range(0, 70, 5)]
    assert len(cleaned) == 70
    data = ""
    for i, g in enumerate(groups):
        check = ALPHABET[b2b(f"{i}:{g[:4]}".encode(), person=b"vault recov grp")[0] % 32]
        assert check == g[4], f"group {i + 1} mistyped"
        data += g[:4]
    raw = base64.b32decode(data)
    assert b2b(raw[:32], person=b"vault recov chk", size=3) == raw[32:]
    return raw[:32]


def master_key(
    folder: Path,
    *,
    password: str | None = None,
    keyfile: bytes | None = None,
    recovery_key: str | None = None,
) -> tuple[str, str, bytes]:
    """(vault id, mk_id, MK) from the header, the store's meta and a slot."""
    header = json.loads((folder / "vault.json").read_text())
    assert header["format"] == "vault" and header["v"] in (1, 2)
    vault_id = header["vault_id"]
    db = sqlite3.connect(f"file:{folder / 'store.sqlite'}?mode=ro", uri=True)
    try:
        current = dict(db.execute("SELECT key, value FROM meta").fetchall())["mk_id"]
    finally:
        db.close()
    recovery = parse_recovery(recovery_key) if recovery_key else None
    for path in sorted((folder / "keys").glob("*.json")):
        slot = json.loads(path.read_text())
        if slot["mk_id"] != current:
            continue
        if (slot["type"] == "recovery") != (recovery is not None):
            continue
        mk = open_slot(slot, vault_id, password, keyfile, recovery)
        if mk:
            return vault_id, current, mk
    raise AssertionError("no slot opened")


def read_vault(
    folder: Path,
    *,
    password: str | None = None,
    keyfile: bytes | None = None,
    recovery_key: str | None = None,
) -> dict[str, list[dict]]:
    """Every live item of a format 2 vault, decrypted, by kind: {"note": [...], ...}. As
    FORMAT.md says, the current versions are the heads of the history that the ops rows
    describe (the index tables are not consulted), and every head is opened with the AD built
    from its own row, so a row that lies fails."""
    vault_id, _, mk = master_key(
        folder, password=password, keyfile=keyfile, recovery_key=recovery_key
    )
    db = sqlite3.connect(f"file:{folder / 'store.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT op_id, item_id, kind, parents, deleted, envelope, device FROM ops"
        ).fetchall()
    finally:
        db.close()
    named = {p for row in rows for p in json.loads(row[3])}
    heads: dict[str, list[tuple[dict, str]]] = {}
    for op_id, item_id, kind, parents, deleted, envelope, device in rows:
        if op_id in named:
            continue
        claims = {
            "op_id": op_id,
            "item_id": item_id,
            "kind": kind,
            "parents": json.loads(parents),
            "deleted": bool(deleted),
            "device": device,
        }
        open_op(mk, vault_id, claims, envelope)  # every head verifies, a deletion too
        heads.setdefault(item_id, []).append((claims, envelope))
    result: dict[str, list[dict]] = {"note": [], "notebook": [], "tag": []}
    for item_id, found in heads.items():
        claims, envelope = max(found, key=lambda h: (not h[0]["deleted"], h[0]["op_id"]))
        if claims["deleted"]:
            continue
        payload = open_op(mk, vault_id, claims, envelope)
        result[claims["kind"]].append({"id": item_id, **payload})
    return result


def read_snapshot(folder: Path, *, password: str, bodies: bool = True) -> list[list]:
    """The entries of `snapshot.sealed` ("The snapshot" in FORMAT.md), checked as it says:
    version 3, the head, the entries without bodies up to the PUSH message, then the bodies
    (`bodies`: put back into their entries' payloads; else the reading stops at the PUSH)."""
    vault_id, mk_id, mk = master_key(folder, password=password)
    data = (folder / "snapshot.sealed").read_bytes()
    return snapshot_entries(data, vault_id, mk_id, mk, bodies=bodies)


def read_snapshot_head(folder: Path, *, password: str) -> dict:
    """The head of `snapshot.sealed` (version 3): its first message only."""
    vault_id, mk_id, mk = master_key(folder, password=password)
    data = (folder / "snapshot.sealed").read_bytes()
    return snapshot_head(data, vault_id, mk_id, mk)


def _snapshot_stream(data: bytes, vault_id: str, mk_id: str, mk: bytes):
    """The messages of a version 3 snapshot, in order: (tag, plaintext unpadded, length)."""
    line, rest = data.split(b"\n", 1)
    assert len(line) + 1 <= 4096
    head = json.loads(line)
    assert (head["v"], head["vault"], head["mk"]) == (3, vault_id, mk_id)
    state = crypto_secretstream_xchacha20poly1305_state()
    crypto_secretstream_xchacha20poly1305_init_pull(
        state, b64(head["ss"]), b2b(b"", key=mk, person=b"vault snapshot")
    )
    ad = b"\x00".join([b"vault-snapshot", b"3", vault_id.encode(), mk_id.encode()])
    offset = 0
    while offset < len(rest):
        length = int.from_bytes(rest[offset : offset + 4], "big")
        message = rest[offset + 4 : offset + 4 + length]
        offset += 4 + length
        assert length <= 2 * 1024 * 1024 + 4096
        plain, tag = crypto_secretstream_xchacha20poly1305_pull(state, message, ad)
        yield tag, unpad(plain), length, plain, offset == len(rest)


def snapshot_head(data: bytes, vault_id: str, mk_id: str, mk: bytes) -> dict:
    """The head: the first message, tag MESSAGE, a JSON object of the documented shape."""
    tag, body, _, _, _ = next(_snapshot_stream(data, vault_id, mk_id, mk))
    assert tag == crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
    head = json.loads(body.decode("utf-8"))
    assert set(head) == {"hw", "k", "complete", "trash", "absent", "entries"}
    assert head["hw"] is None or (type(head["hw"]) is int and head["hw"] >= 0)
    assert type(head["k"]) is int and head["k"] >= 1 and type(head["complete"]) is bool
    for name in ("trash", "absent"):
        assert all(type(i) is str for i in head[name])
    for entry in head["entries"]:
        assert len(entry) == 5 and type(entry[3]) is bool and "body" not in entry[4]
    return head


def snapshot_entries(
    data: bytes, vault_id: str, mk_id: str, mk: bytes, *, bodies: bool = True
) -> list[list]:
    stream = _snapshot_stream(data, vault_id, mk_id, mk)
    snapshot_head(data, vault_id, mk_id, mk)
    next(stream)  # the head (checked above): its entries come again in the first part
    entries: list[list] = []
    found: dict[str, str] | None = None
    for tag, body, length, plain, last in stream:
        if tag in (
            crypto_secretstream_xchacha20poly1305_TAG_PUSH,
            crypto_secretstream_xchacha20poly1305_TAG_FINAL,
        ):
            # the padding of the empty string: 0x80 and 255 zeros, 273 bytes sealed
            assert plain == b"\x80" + bytes(255) and length == 273
        if tag == crypto_secretstream_xchacha20poly1305_TAG_PUSH:
            assert found is None
            if not bodies:
                return entries
            found = {}
            continue
        if tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL:
            assert found is not None and last
            for entry in entries:
                if entry[0] in found:
                    entry[4]["body"] = found.pop(entry[0])
            assert not found
            return entries
        assert tag == crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
        if found is None:
            entries.extend(json.loads(body.decode("utf-8")))
        else:  # u32 index length, the index [[id, byte length], ...], the bodies' UTF-8
            size = int.from_bytes(body[:4], "big")
            pos = 4 + size
            for item_id, length in json.loads(body[4:pos].decode("utf-8")):
                found[item_id] = body[pos : pos + length].decode("utf-8")
                pos += length
            assert pos == len(body)
    raise AssertionError("the snapshot ends before its FINAL message")


def first_notes(entries: list[list], order: str, k: int) -> list[list]:
    """The first `k` notes outside the trash in one of the app's orders, as FORMAT.md's head
    says: pinned first, then `modified` or `created` newest first or `title` by its case-fold,
    then the item id."""

    def key(entry: list) -> tuple:
        p = entry[4]
        pinned = not p.get("pinned", False)
        if order == "title":
            return (pinned, p["title"].casefold(), entry[0])
        return (pinned, -p[order], entry[0])

    notes = [e for e in entries if e[1] == "note" and e[4].get("trashed") is None]
    return sorted(notes, key=key)[:k]


# --- the store without SQLite's WAL support ("The store" in FORMAT.md) ----------------------------


def _wal_checksum(data: bytes, s0: int, s1: int, order: str) -> tuple[int, int]:
    words = [int.from_bytes(data[i : i + 4], order) for i in range(0, len(data), 4)]
    for x0, x1 in zip(words[0::2], words[1::2], strict=True):
        s0 = (s0 + x0 + s1) & 0xFFFFFFFF
        s1 = (s1 + x1 + s0) & 0xFFFFFFFF
    return s0, s1


def apply_wal(database: bytes, wal: bytes) -> bytes:
    """The database image with every committed transaction of the -wal file applied, following
    SQLite's file format (sqlite.org/fileformat2.html, "The WAL file") as FORMAT.md says."""
    if len(wal) < 32:
        return database
    magic = int.from_bytes(wal[0:4], "big")
    if magic not in (0x377F0682, 0x377F0683):
        return database
    order = "big" if magic & 1 else "little"
    page_size = int.from_bytes(wal[8:12], "big")
    page_size = 65536 if page_size == 1 else page_size
    salts = wal[16:24]
    s0, s1 = _wal_checksum(wal[:24], 0, 0, order)
    if (s0, s1) != (int.from_bytes(wal[24:28], "big"), int.from_bytes(wal[28:32], "big")):
        return database
    pages: dict[int, bytes] = {}
    pending: dict[int, bytes] = {}
    size_in_pages = len(database) // page_size
    offset = 32
    while offset + 24 + page_size <= len(wal):
        head, page = wal[offset : offset + 24], wal[offset + 24 : offset + 24 + page_size]
        s0, s1 = _wal_checksum(head[:8] + page, s0, s1, order)
        expected = (int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"))
        if head[8:16] != salts or (s0, s1) != expected:
            break  # the end of the valid log
        pending[int.from_bytes(head[0:4], "big")] = page
        commit_size = int.from_bytes(head[4:8], "big")
        if commit_size:  # a commit frame: everything up to here is committed
            pages.update(pending)
            pending = {}
            size_in_pages = commit_size
        offset += 24 + page_size
    image = bytearray(database[: size_in_pages * page_size].ljust(size_in_pages * page_size, b"\0"))
    for number, page in pages.items():
        if number <= size_in_pages:
            image[(number - 1) * page_size : number * page_size] = page
    return bytes(image)


# --- tag ids ("Payloads" in FORMAT.md) ------------------------------------------------------------

# The white space of the tag rule, listed in FORMAT.md (Unicode White_Space as Python sees it).
TAG_SPACE = frozenset(
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def clean_tag(name: str) -> str:
    """Steps 1-3 of the tag rule: trim, drop leading '#', collapse runs of white space."""
    start, end = 0, len(name)
    while start < end and name[start] in TAG_SPACE:
        start += 1
    while end > start and name[end - 1] in TAG_SPACE:
        end -= 1
    name = name[start:end].lstrip("#")
    words, word = [], ""
    for ch in name + " ":
        if ch in TAG_SPACE:
            if word:
                words.append(word)
            word = ""
        else:
            word += ch
    cleaned = " ".join(words)
    if not cleaned or "," in cleaned:
        raise ValueError("not a tag name")
    return cleaned


def tag_id(master_key: bytes, name: str) -> str:
    """Steps 4-6: full case folding (CaseFolding.txt C+F), no normalisation, keyed BLAKE2b."""
    folded = clean_tag(name).casefold()
    tag_key = b2b(b"", key=master_key, person=b"vault tag id")
    return b2b(folded.encode("utf-8"), key=tag_key, size=16).hex()


def read_blob(data: bytes, master_key: bytes, entry: dict) -> bytes:
    """The content of an attachment (FORMAT.md, "Blobs" and "Attachments") from the bytes of
    its `<name>.blob` file and its entry in a note's `attachments` field, checked as it says."""
    name, size, key = entry["blob"], entry["size"], b64(entry["key"])
    assert data[:8] == b"VAULTBLB", "not a blob"
    version = data[8]
    assert version in (1, 2, 3), "not a version 1, 2 or 3 blob"
    total = max(256, padme(size))
    chunk = 1024 * 1024
    parts = (total + chunk - 1) // chunk
    final = crypto_secretstream_xchacha20poly1305_TAG_FINAL
    plain = b""
    if version == 3:
        per = 4  # parts per segment
        segments = (parts + per - 1) // per
        assert len(data) == 9 + 24 * segments + total + 17 * parts, "the exact length"
        pos = 9
        for seg in range(segments):
            state = crypto_secretstream_xchacha20poly1305_state()
            crypto_secretstream_xchacha20poly1305_init_pull(state, data[pos : pos + 24], key)
            pos += 24
            mine = range(seg * per, min(parts, (seg + 1) * per))
            for index in mine:
                want = min(chunk, total - index * chunk) + 17
                ad = b"vault-blob\x003\x00%s\x00%d\x00%d\x00%d" % (
                    name.encode(),
                    seg,
                    segments,
                    index,
                )
                message, tag = crypto_secretstream_xchacha20poly1305_pull(
                    state, data[pos : pos + want], ad
                )
                pos += want
                assert (tag == final) == (index == mine[-1]), "FINAL ends each segment"
                plain += message
    else:
        assert len(data) == 33 + total + 17 * parts, "the exact length"
        pos = 33
        state = crypto_secretstream_xchacha20poly1305_state()
        crypto_secretstream_xchacha20poly1305_init_pull(state, data[9:33], key)
        ad = (b"vault-blob\x00" if version == 1 else b"vault-blob\x002\x00") + name.encode()
        for index in range(parts):
            want = min(chunk, total - index * chunk) + 17
            message, tag = crypto_secretstream_xchacha20poly1305_pull(
                state, data[pos : pos + want], ad
            )
            pos += want
            last = index == parts - 1
            assert tag == (final if last else crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)
            plain += message
    assert pos == len(data), "nothing follows the last part"
    content, padding = plain[:size], plain[size:]
    assert not padding.strip(b"\x00"), "the padding is zeros"
    blobs_key = b2b(b"", key=master_key, person=b"vault blobs")
    if version == 1:
        h = b2b(content)
    elif version == 2:
        h = blake3.blake3(content).digest()
    else:
        pieces = [content[i : i + chunk] for i in range(0, size, chunk)]
        digests = b"".join(blake3.blake3(piece).digest() for piece in pieces)
        h = b2b(size.to_bytes(8, "little") + digests, person=b"vault blob hash")
    assert b2b(h, key=blobs_key, person=b"vault blob name").hex() == name
    assert b2b(h, key=blobs_key, person=b"vault blob key") == key
    return content


def rotation_ad(doc: dict, box: str) -> bytes:
    fields = ["vault-rotation", "1", doc["vault_id"], doc["device"], doc["old"], doc["new"], box]
    return "\x00".join(fields).encode("ascii")


def rotation_file_names(vault_id: str, device: str, old_key: bytes, new_key: bytes) -> list[str]:
    """SYNC.md, "Key rotation": the two tagged names a record is published under in
    `keys/<device>/`, the one tagged under OLD first."""
    old, new = (b2b(b"", key=k, person=b"vault mk id", size=16).hex() for k in (old_key, new_key))
    names = []
    for side, key in (("o", old_key), ("n", new_key)):
        message = "\x00".join(["vault-rotation-name", vault_id, device, old, new, side])
        tag_key = b2b(b"", key=key, person=b"vault rot name")
        tag = b2b(message.encode("ascii"), key=tag_key, size=8).hex()
        names.append(f"{old}-{new}-{side}{tag}.rot")
    return names


def open_rotation(data: bytes, key: bytes) -> tuple[bytes, bytes | None]:
    """SYNC.md, "Key rotation": with OLD, (NEW, the new recovery slot's bytes) from the forward
    box; with NEW, (OLD, None) from the back box."""
    doc = json.loads(data)
    assert doc["format"] == "vault-rotation" and doc["v"] == 1
    assert doc["alg"] == "xchacha20poly1305-ietf"
    mk_id = b2b(b"", key=key, person=b"vault mk id", size=16).hex()
    box = "forward" if mk_id == doc["old"] else "back"
    assert mk_id == doc["old" if box == "forward" else "new"]
    plain = crypto_aead_xchacha20poly1305_ietf_decrypt(
        b64(doc[box]),
        rotation_ad(doc, box),
        b64(doc[f"{box}_nonce"]),
        b2b(b"", key=key, person=b"vault rotation"),
    )
    if box == "back":
        assert b2b(b"", key=plain, person=b"vault mk id", size=16).hex() == doc["old"]
        return plain, None
    new, slot = plain[:32], plain[32:]
    assert b2b(b"", key=new, person=b"vault mk id", size=16).hex() == doc["new"]
    return new, slot
