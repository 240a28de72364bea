"""The snapshot's head (format version 3): the app's first screen before the whole listing.

The head is the stream's first message: every entry that is not a note, the first notes outside
the trash in each order, the store's op seq high-water mark when it was sealed and the ids of
the notes in the trash. The app shows the first screen from it, each entry vouched for against
the store and what changed since decrypted from the store; whatever happened to the file or the
store, the first screen holds only verified entries, and the whole listing that follows it is
exactly what the store alone says (tests/test_snapshot.py says that for the rest of the file).
"""

from __future__ import annotations

import base64
import json
import sqlite3
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_init_push,
    crypto_secretstream_xchacha20poly1305_push,
    crypto_secretstream_xchacha20poly1305_state,
    crypto_secretstream_xchacha20poly1305_TAG_FINAL,
    crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
    crypto_secretstream_xchacha20poly1305_TAG_PUSH,
)

from tests.conftest import PASSWORD
from tests.test_snapshot import open_without_snapshot
from vault.notes.cache import HEAD_CHANGES, sort_key
from vault.notes.model import Note
from vault.notes.vault import Vault
from vault.sealing import keys, snapshot
from vault.sealing.crypto import Label, pad, subkey

COUNT = snapshot.HEAD_NOTES * 2 + 50  # more than the head holds in any order


@pytest.fixture
def many(make_vault: Callable[..., tuple[Vault, str]], vault_path: Path) -> Path:
    vault, _ = make_vault()
    with vault.batch():
        nb = vault.create_notebook("Book")
        for n in range(COUNT):
            note = vault.create_note(f"Note {n:03}", f"body {n}", notebook=nb.id)
            if n % 50 == 7:
                vault.trash_note(note)
    vault.lock()
    return vault_path


def where(path: Path) -> tuple[Path, bytes, str, str]:
    with Vault.unlock(path, password=PASSWORD, bodies=False) as vault:
        mk = vault.master_key
        found = (path, subkey(mk, Label.SNAPSHOT), vault.vault_id, keys.mk_id(mk))
        vault._unsnapped = 0
    return found


def expected_list(path: Path, sort: str = "modified") -> list[tuple[str, str, dict]]:
    """What the store alone lists (no snapshot): (id, version, payload without the body)."""
    found = open_without_snapshot(path)
    notes = [
        Note.from_payload(i, payload, version, conflict)
        for i, (payload, version, conflict) in found.items()
        if payload["kind"] == "note" and not payload.get("trashed")
    ]
    return [shown(n) for n in sorted(notes, key=sort_key(sort))]


def shown(note: Note) -> tuple[str, str, dict]:
    payload = note.to_payload()
    payload.pop("body", None)
    return note.id, note.version, payload


def first_then_whole(path: Path, sort: str = "modified") -> tuple[list | None, int, list]:
    """The first screen (None if the app would read the whole listing at once), its count,
    and the whole list read after it."""
    with Vault.unlock(path, password=PASSWORD, bodies="later") as vault:
        first = vault.first_screen(sort)
        pending = vault.listing_pending
        assert pending == (first is not None)
        whole = vault.notes(sort=sort, bodies=False)
        assert not vault.listing_pending and vault.first_screen(sort) is None
        vault._unsnapped = 0
        vault._snap_old = False
    if first is None:
        return None, -1, [shown(n) for n in whole]
    return [shown(n) for n in first[0]], first[1], [shown(n) for n in whole]


def assert_exact(path: Path) -> None:
    """The first screen is the beginning of the whole list, in every order, with its count,
    and the whole list is what the store alone says."""
    for sort in snapshot.HEAD_ORDERS:
        expected = expected_list(path, sort)
        first, count, whole = first_then_whole(path, sort)
        assert whole == expected
        assert first is not None and first == expected[: len(first)]
        assert count == len(expected)
        assert len(first) >= min(len(expected), snapshot.HEAD_NOTES // 2)


def rewrite(path: Path, change: Callable[[dict], None]) -> None:
    """The snapshot sealed again with the key, its head changed by `change` (as a writer with
    a bug, or an old copy, would have it): still authentic, so only the store can correct it."""
    _, key, vault_id, mk_id = where(path)
    head = snapshot.load_head(path, key, vault_id, mk_id)
    assert head is not None
    obj = {
        "hw": head.high_water,
        "k": head.notes,
        "complete": head.complete,
        "trash": sorted(head.trash),
        "absent": sorted(head.absent),
        "entries": [list(e) for e in head.entries],
    }
    head.close()
    found = snapshot.read(path, key, vault_id, mk_id)
    assert found is not None
    change(obj)
    snapshot.write(path, key, vault_id, mk_id, found, obj)


def test_the_head_comes_first_and_a_simple_reader_still_reads_the_rest(many: Path) -> None:
    path, key, vault_id, mk_id = where(many)
    data = snapshot.path_in(path).read_bytes()
    assert json.loads(data.split(b"\n", 1)[0])["v"] == 3
    head = snapshot.load_head(path, key, vault_id, mk_id)
    assert head is not None and not head.complete and head.notes == snapshot.HEAD_NOTES
    found = snapshot.read(path, key, vault_id, mk_id)
    assert found is not None and len(found) == COUNT + 1  # the notebook too, once
    by_id = {e[0]: e for e in found}
    for item_id, kind, version, conflict, payload in head.entries:
        assert "body" not in payload
        whole = by_id[item_id]
        assert (whole[1], whole[2], whole[3]) == (kind, version, conflict)
        assert {k: v for k, v in whole[4].items() if k != "body"} == payload
    trashed = {e[0] for e in found if e[4].get("trashed")}
    assert head.trash == trashed and len(trashed) == len(range(7, COUNT, 50))
    assert not head.absent
    listing = head.listing()
    assert listing is not None and sorted(map(list, listing[0])) == sorted(
        [e[0], e[1], e[2], e[3], {k: v for k, v in e[4].items() if k != "body"}] for e in found
    )
    listing[3].close()
    assert_exact(many)


def test_notes_changed_since_the_head_are_on_the_first_screen_at_once(many: Path) -> None:
    with Vault.unlock(many, password=PASSWORD) as vault:
        notes = {n.title: n for n in vault.all_notes()}
        vault.update_note(notes["Note 001"], title="Edited since", body="new")  # to the top
        vault.trash_note(notes[f"Note {COUNT - 1:03}"])  # the newest: on the first screen
        vault._delete(notes[f"Note {COUNT - 2:03}"])  # a deletion (as sync brings one)
        vault.restore_note(notes["Note 007"])  # out of the trash
        vault.create_note("Brand new", "x")
        vault._unsnapped = 0  # the snapshot stays as it was sealed: stale
    first, count, whole = first_then_whole(many)
    assert first is not None
    titles = [p["title"] for _, _, p in first]
    assert titles[:2] == ["Brand new", "Edited since"]
    assert f"Note {COUNT - 1:03}" not in titles and f"Note {COUNT - 2:03}" not in titles
    assert count == len(whole) == len(expected_list(many))
    assert_exact(many)


def test_a_version_2_file_is_read_and_sealed_again_as_version_3(many: Path) -> None:
    path, key, vault_id, mk_id = where(many)
    found = snapshot.read(path, key, vault_id, mk_id)
    assert found is not None
    write_version_2(path, found, key, vault_id, mk_id)
    assert snapshot.load(path, key, vault_id, mk_id)[2] == 2
    assert snapshot.load_head(path, key, vault_id, mk_id) is None  # no head: the whole listing
    with Vault.unlock(many, password=PASSWORD, bodies="later") as vault:
        assert vault.first_screen("modified") is None and not vault.listing_pending
        assert len(vault.all_notes(bodies=False)) == COUNT
    loaded = snapshot.load(path, key, vault_id, mk_id)
    assert loaded is not None and loaded[2] == 3  # upgraded in place at lock
    assert sorted(map(list, loaded[0])) == sorted(map(list, found))
    assert_exact(many)


def write_version_2(path: Path, found: list, key: bytes, vault_id: str, mk_id: str) -> None:
    """A snapshot as version 2 wrote it (FORMAT.md): no head, the first part, PUSH, bodies."""
    state = crypto_secretstream_xchacha20poly1305_state()
    header = crypto_secretstream_xchacha20poly1305_init_push(state, key)
    ad = b"\x00".join([b"vault-snapshot", b"2", vault_id.encode(), mk_id.encode()])
    line = {"v": 2, "vault": vault_id, "mk": mk_id, "ss": base64.b64encode(header).decode()}
    out = json.dumps(line, separators=(",", ":")).encode() + b"\n"
    rows = [[i, k, v, c, {x: y for x, y in p.items() if x != "body"}] for i, k, v, c, p in found]
    bodies = [(e[0], e[4]["body"]) for e in found if "body" in e[4]]
    messages = [
        (json.dumps(rows, separators=(",", ":")).encode(), TAG_MESSAGE),
        (b"", crypto_secretstream_xchacha20poly1305_TAG_PUSH),
        *((chunk, TAG_MESSAGE) for chunk in snapshot._body_chunks(bodies)),
        (b"", crypto_secretstream_xchacha20poly1305_TAG_FINAL),
    ]
    for plain, tag in messages:
        cipher = crypto_secretstream_xchacha20poly1305_push(state, pad(plain), ad, tag)
        out += struct.pack(">I", len(cipher)) + cipher
    snapshot.path_in(path).write_bytes(out)


TAG_MESSAGE = crypto_secretstream_xchacha20poly1305_TAG_MESSAGE


def messages(data: bytes) -> tuple[bytes, list[bytes]]:
    line, rest = data.split(b"\n", 1)
    out = []
    while rest:
        (n,) = struct.unpack(">I", rest[:4])
        out.append(rest[: 4 + n])
        rest = rest[4 + n :]
    return line + b"\n", out


def _flip_head(data: bytes) -> bytes:
    line, parts = messages(data)
    head = bytearray(parts[0])
    head[40] ^= 1
    return line + bytes(head) + b"".join(parts[1:])


def _drop_head(data: bytes) -> bytes:
    line, parts = messages(data)
    return line + b"".join(parts[1:])


def _swap_first_two(data: bytes) -> bytes:
    line, parts = messages(data)
    return line + parts[1] + parts[0] + b"".join(parts[2:])


def _head_twice(data: bytes) -> bytes:
    line, parts = messages(data)
    return line + parts[0] + b"".join(parts)


def _huge_length(data: bytes) -> bytes:
    line, parts = messages(data)
    return line + struct.pack(">I", snapshot.MAX_MESSAGE + 1) + parts[0][4:] + b"".join(parts[1:])


def _as_version_2(data: bytes) -> bytes:
    return data.replace(b'"v":3', b'"v":2', 1)


@pytest.mark.parametrize(
    "damage",
    [_flip_head, _drop_head, _swap_first_two, _head_twice, _huge_length, _as_version_2],
)
def test_a_damaged_head_is_ignored_with_the_whole_file(many: Path, damage) -> None:
    file = snapshot.path_in(many)
    file.write_bytes(damage(file.read_bytes()))
    path, key, vault_id, mk_id = where(many)
    head = snapshot.load_head(path, key, vault_id, mk_id)
    if damage is _head_twice:  # the head itself is intact; what follows it is not
        assert head is not None and head.listing() is None
    else:
        assert head is None
    assert snapshot.load(path, key, vault_id, mk_id) is None
    first, _, whole = first_then_whole(many)
    assert whole == expected_list(many)
    if damage is _head_twice:
        assert first == expected_list(many)[: len(first)]
    else:
        assert first is None


def test_a_lowered_high_water_mark_only_reads_more_from_the_store(many: Path) -> None:
    rewrite(many, lambda head: head.update(hw=0))  # every item "changed": all read again
    assert_exact(many)


def test_a_raised_high_water_mark_never_shows_an_unverified_entry(many: Path) -> None:
    rewrite(many, lambda head: head.update(hw=head["hw"] + 10_000))
    with Vault.unlock(many, password=PASSWORD) as vault:
        notes = {n.title: n for n in vault.all_notes()}
        vault.update_note(notes[f"Note {COUNT - 3:03}"], title="Edited since", body="new")
        vault._unsnapped = 0
    # That edit's seq is under the claimed mark and its note is in the head: its entry's tag
    # no longer matches the store, which a head cannot explain: the whole listing at once.
    first, _, whole = first_then_whole(many)
    assert first is None and whole == expected_list(many)


def test_an_edit_hidden_by_a_raised_mark_is_shown_by_the_whole_listing(many: Path) -> None:
    rewrite(many, lambda head: head.update(hw=head["hw"] + 10_000))
    with Vault.unlock(many, password=PASSWORD) as vault:
        notes = {n.title: n for n in vault.all_notes()}
        # In no order's first HEAD_NOTES (titles: 000-199; newest: 250-449): not in the head.
        vault.update_note(notes["Note 220"], title="Edited since", body="new")
        vault._unsnapped = 0
    first, _, whole = first_then_whole(many)
    expected = expected_list(many)
    assert whole == expected and expected[0][2]["title"] == "Edited since"
    # For a moment the first screen misses it (the mark said nothing changed), but every note
    # it shows is as the store holds it now.
    assert first is not None and all(entry in expected for entry in first)


def test_a_rolled_back_seq_changes_only_the_first_screen(many: Path) -> None:
    """ops.seq rewritten without the key, so a new version looks older than the head: the
    first screen may miss it for a moment, never shows an entry the store does not vouch for,
    and the whole listing shows it."""
    with Vault.unlock(many, password=PASSWORD) as vault:
        notes = {n.title: n for n in vault.all_notes()}
        edited = vault.update_note(notes["Note 001"], title="Edited since", body="new")
        vault._unsnapped = 0
    with sqlite3.connect(many / "store.sqlite") as db:
        low = db.execute("SELECT min(seq) FROM ops").fetchone()[0]
        db.execute("UPDATE ops SET seq = ? WHERE op_id = ?", (-low - 1, edited.version))
    first, _, whole = first_then_whole(many)
    expected = expected_list(many)
    assert whole == expected and expected[0][2]["title"] == "Edited since"
    assert first is None or all(entry in expected for entry in first)


def test_a_head_entry_the_store_rolled_back_falls_back_to_the_whole_listing(many: Path) -> None:
    """The newest version of a note on the first screen removed without the key: its entry's
    tag no longer matches, with no newer op to explain it: no first screen."""
    with Vault.unlock(many, password=PASSWORD) as vault:
        top = vault.notes(bodies=False)[0]
        vault.update_note(top, title="Edited twice", body="x")
        vault._unsnapped = 0
        vault.lock()
    with Vault.unlock(many, password=PASSWORD) as vault:
        vault._save_snapshot(force=True)
        top = vault.notes(bodies=False)[0]
        vault._unsnapped = 0
    with sqlite3.connect(many / "store.sqlite") as db:
        db.execute("DELETE FROM ops WHERE op_id = ?", (top.version,))
    first, _, whole = first_then_whole(many)
    assert first is None and whole == expected_list(many)


def test_too_many_changes_read_the_whole_listing_at_once(many: Path) -> None:
    with Vault.unlock(many, password=PASSWORD) as vault, vault.batch():
        for n in range(HEAD_CHANGES + 1):
            vault.create_note(f"Later {n}", "")
        vault._unsnapped = 0
    first, _, whole = first_then_whole(many)
    assert first is None and whole == expected_list(many)


def test_a_head_of_no_use_is_read_past(many: Path) -> None:
    rewrite(many, lambda head: head.update(hw=None))
    path, key, vault_id, mk_id = where(many)
    assert snapshot.load_head(path, key, vault_id, mk_id) is None
    assert snapshot.load(path, key, vault_id, mk_id) is not None  # the rest is still used
    first, _, whole = first_then_whole(many)
    assert first is None and whole == expected_list(many)


@pytest.mark.parametrize(
    "change",
    [
        {"hw": -1},
        {"hw": "7"},
        {"k": 0},
        {"complete": 1},
        {"trash": "x"},
        {"absent": [1]},
        {"entries": [["a", "note"]]},
    ],
)
def test_a_head_of_the_wrong_shape_spoils_the_file(many: Path, change: dict) -> None:
    rewrite(many, lambda head: head.update(change))
    path, key, vault_id, mk_id = where(many)
    assert snapshot.load_head(path, key, vault_id, mk_id) is None
    assert snapshot.load(path, key, vault_id, mk_id) is None
    first, _, whole = first_then_whole(many)
    assert first is None and whole == expected_list(many)


def test_locking_right_after_the_first_screen_loses_nothing(many: Path) -> None:
    before = snapshot.path_in(many).read_bytes()
    with Vault.unlock(many, password=PASSWORD, bodies="later") as vault:
        assert vault.listing_pending
    assert snapshot.path_in(many).read_bytes() == before  # nothing to seal: nothing changed
    assert_exact(many)


@pytest.mark.parametrize("finish", [True, False])
def test_rows_removed_without_the_key_are_still_told(many: Path, finish: bool) -> None:
    """An old version removed: the first screen is unaffected (every head is as sealed), and
    the commitment over the rows still catches it, once the listing is read, or at lock."""
    with Vault.unlock(many, password=PASSWORD) as vault:
        note = vault.notes(bodies=False)[0]
        old = note.version
        vault.update_note(note, title="Twice", body="x")
        vault.lock()  # (not sealed again: one change)
    with Vault.unlock(many, password=PASSWORD) as vault:
        vault._save_snapshot(force=True)
        vault._unsnapped = 0
    with sqlite3.connect(many / "store.sqlite") as db:
        db.execute("DELETE FROM ops WHERE op_id = ?", (old,))
    with Vault.unlock(many, password=PASSWORD, bodies="later") as vault:
        assert vault.first_screen("modified") is not None and vault.history_incident is None
        if finish:
            vault.finish_listing()
            assert vault.history_incident and "altered without the key" in vault.history_incident
    with Vault.unlock(many, password=PASSWORD) as vault:
        assert vault.history_incident and "altered without the key" in vault.history_incident
        vault._unsnapped = 0


def test_a_head_in_another_order_still_gives_the_exact_first_screen(many: Path) -> None:
    """The reader sorts what it shows itself: the head's order of entries is no claim."""
    rewrite(many, lambda head: head["entries"].reverse())
    assert_exact(many)


def test_a_head_naming_too_many_ids_is_written_as_one_of_no_use() -> None:
    ids = [f"{n:032x}" for n in range(snapshot.HEAD_IDS + 1)]
    assert snapshot.head_object(5, [], True, ids, []) == snapshot.NO_HEAD
    assert snapshot.head_object(5, [], True, ids[:-1], [])["hw"] == 5
    big = [("a" * 32, "tag", "b:c", False, {"name": "x" * (snapshot.CHUNK + 1)})]
    assert json.loads(snapshot._head_bytes(snapshot.head_object(5, big, True, [], []))) == (
        snapshot.NO_HEAD
    )


def test_a_fork_forged_under_a_head_entry_is_not_on_the_first_screen(many: Path) -> None:
    """A row forged into a first-screen note's history (no key, an old seq, another device,
    a small op id): the shown head is still the sealed one and its tag matches, but a version
    of the note does not open, so the whole listing refuses the note: so must the first
    screen (it reads the whole listing at once)."""
    with Vault.unlock(many, password=PASSWORD) as vault:
        top = vault.notes(bodies=False)[0]
        vault._unsnapped = 0
    with sqlite3.connect(many / "store.sqlite") as db:
        parents, envelope = db.execute(
            "SELECT parents, envelope FROM ops WHERE op_id = ?", (top.version,)
        ).fetchone()
        db.execute(
            "INSERT INTO ops(seq, op_id, item_id, kind, parents, deleted, envelope, device) "
            "VALUES (-5, ?, ?, 'note', ?, 0, ?, ?)",
            ("0" * 32, top.id, parents, envelope, "f" * 32),
        )
    first, _, whole = first_then_whole(many)
    assert top.id not in {entry[0] for entry in whole}
    assert first is None or top.id not in {entry[0] for entry in first}


def test_a_listing_that_fails_leaves_no_first_screen_behind(many: Path) -> None:
    """The rest of the first load fails (here the store stays busy in another process while
    the commitment check must record an incident): the first screen is not kept for good,
    and the next read does the whole first load again, incident and all."""
    from vault.errors import VaultError

    with Vault.unlock(many, password=PASSWORD) as vault:
        note = vault.notes(bodies=False)[-1]
        old = note.version
        vault.update_note(note, body="edited")
        vault._save_snapshot(force=True)
        vault._unsnapped = 0
    with sqlite3.connect(many / "store.sqlite") as db:
        db.execute("DELETE FROM ops WHERE op_id = ?", (old,))
    holder = sqlite3.connect(many / "store.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's long write (an import, a sync)
    try:
        with Vault.unlock(many, password=PASSWORD, bodies="later") as vault:
            assert vault.first_screen("modified") is not None
            with pytest.raises(VaultError):
                vault.finish_listing()
            assert vault.first_screen("modified") is None
            holder.rollback()
            whole = [shown(n) for n in vault.notes(bodies=False)]
            assert whole == expected_list(many)
            assert vault.history_incident and "altered without the key" in vault.history_incident
            vault._unsnapped = 0
    finally:
        holder.close()
