"""The sealed snapshot (vault.sealing.snapshot): a faster unlock that is only ever a hint. Whatever
happens to the file (stale, tampered, truncated, another vault's, an old key's), the vault opens
with exactly what the store holds, and a purged note does not survive in it."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import CLI, PASSWORD
from vault.notes.model import Note, has_body
from vault.notes.vault import SNAPSHOT_MIN_ITEMS, Vault
from vault.sealing import keys, snapshot
from vault.sealing.crypto import TEST_KDF, Label, subkey

MARKER = "QZXSNAPMARKER"
COUNT = SNAPSHOT_MIN_ITEMS + 20


def state(vault: Vault) -> dict[str, tuple]:
    """Everything a reader sees: each item's payload, version and conflict flag (a note the
    app's vault holds without its body read whole, as whoever shows it reads it)."""
    items = [
        vault.whole(i) if isinstance(i, Note) and vault._fill_later else i
        for i in vault._items.values()
    ]
    return {i.id: (i.to_payload(), i.version, getattr(i, "conflict", False)) for i in items}


def open_without_snapshot(path: Path) -> dict[str, tuple]:
    """What the store alone says, from a copy of the vault with no snapshot in it."""
    copy = path.parent / f"{path.name}-plain"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(path, copy)
    snapshot.path_in(copy).unlink(missing_ok=True)
    vault = Vault.unlock(copy, password=PASSWORD)
    try:
        return state(vault)
    finally:
        vault._unsnapped = 0  # keep the copy free of a snapshot of its own
        vault.lock()


@pytest.fixture
def big(make_vault: Callable[..., tuple[Vault, str]], vault_path: Path) -> Path:
    vault, _ = make_vault()
    with vault.store.transaction():
        nb = vault.create_notebook(f"Book {MARKER}")
        for n in range(COUNT):
            vault.create_note(f"Note {n} {MARKER}", f"body {n} {MARKER}", notebook=nb.id)
    vault.lock()
    return vault_path


def entries(path: Path) -> list[snapshot.Entry] | None:
    with Vault.unlock(path, password=PASSWORD) as vault:
        mk = vault.master_key
        result = snapshot.read(path, subkey(mk, Label.SNAPSHOT), vault.vault_id, keys.mk_id(mk))
        vault._unsnapped = 0
    return result


def test_locking_a_big_vault_seals_a_snapshot_that_reopens_identically(big: Path) -> None:
    file = snapshot.path_in(big)
    assert file.exists()
    assert MARKER.encode() not in file.read_bytes()  # sealed, not a plaintext cache
    assert file.stat().st_mode & 0o077 == 0
    found = entries(big)
    assert found is not None and len(found) >= COUNT + 1
    with Vault.unlock(big, password=PASSWORD) as vault:
        assert state(vault) == open_without_snapshot(big)
        assert len(vault.all_notes()) == COUNT


def test_a_small_vault_has_no_snapshot(vault: Vault) -> None:
    vault.create_note("One", "note")
    vault.lock()
    assert not snapshot.path_in(vault.path).exists()


def test_changes_after_the_snapshot_come_from_the_store(big: Path) -> None:
    before = snapshot.path_in(big).read_bytes()
    with Vault.unlock(big, password=PASSWORD) as vault:
        notes = sorted(vault.all_notes(), key=lambda n: n.title)
        vault.update_note(notes[0], body="changed after the snapshot")
        vault.trash_note(notes[1])
        vault.purge_note(vault.note(notes[2].id))
        vault.create_note("Added after the snapshot", "new")
    # Another process's snapshot (an old one) back in place: it must not win over the store.
    snapshot.path_in(big).write_bytes(before)
    with Vault.unlock(big, password=PASSWORD) as vault:
        assert state(vault) == open_without_snapshot(big)
        assert vault.note(notes[0].id).body == "changed after the snapshot"
        assert vault.note(notes[1].id).in_trash
        assert notes[2].id not in {n.id for n in vault.all_notes()}
        assert vault.find_note("Added after the snapshot").body == "new"


@pytest.mark.parametrize("damage", ["flip", "truncate", "trailing", "header", "empty"])
def test_a_damaged_snapshot_is_ignored(big: Path, damage: str) -> None:
    file = snapshot.path_in(big)
    data = bytearray(file.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncate":
        data = data[: len(data) - 40]
    elif damage == "trailing":
        data += b"more"
    elif damage == "header":
        data = data.replace(b'"v":3', b'"v":9', 1)
    else:
        data = bytearray()
    file.write_bytes(bytes(data))
    assert entries(big) is None
    with Vault.unlock(big, password=PASSWORD) as vault:
        assert state(vault) == open_without_snapshot(big)


def test_another_vaults_snapshot_is_ignored(
    big: Path, make_vault: Callable[..., tuple[Vault, str]], tmp_path: Path
) -> None:
    other_path = tmp_path / "other"
    other, _ = make_vault(other_path)
    other.create_note("Only in the other vault", "x")
    other.lock()
    shutil.copy(snapshot.path_in(big), snapshot.path_in(other_path))
    with Vault.unlock(other_path, password=PASSWORD) as vault:
        assert [n.title for n in vault.all_notes()] == ["Only in the other vault"]


def test_rekey_destroys_the_old_keys_snapshot(big: Path) -> None:
    with Vault.unlock(big, password=PASSWORD) as vault:
        expected = {n.id: n.body for n in vault.all_notes()}
        vault.rekey(PASSWORD, kdf=TEST_KDF)
        assert not snapshot.path_in(big).exists()
    assert snapshot.path_in(big).exists()  # sealed anew, under the new key
    with Vault.unlock(big, password=PASSWORD) as vault:
        assert {n.id: n.body for n in vault.all_notes()} == expected


def test_purging_destroys_the_snapshot_at_once(big: Path) -> None:
    with Vault.unlock(big, password=PASSWORD) as vault:
        victim = vault.find_note(f"Note 7 {MARKER}")
        vault.trash_note(victim)
        vault.purge_note(vault.note(victim.id))
        # Before locking (a kill here must not leave the note in the old snapshot).
        assert not snapshot.path_in(big).exists()
    found = entries(big)
    assert found is not None
    assert victim.id not in {entry[0] for entry in found}


def test_adding_a_note_reads_no_note_and_keeps_the_snapshot(big: Path) -> None:
    """`vault new` opens only notebooks and tags; what it writes is seen by the next full open,
    and it neither writes a snapshot of its partial view nor spoils the existing one."""
    before = snapshot.path_in(big).read_bytes()
    kinds = frozenset({"notebook", "tag"})
    with Vault.unlock(big, password=PASSWORD, kinds=kinds) as vault:
        assert {type(i).__name__ for i in vault._items.values()} <= {"Notebook", "Tag"}
        with pytest.raises(RuntimeError):
            vault.all_notes()
        nb = vault.ensure_notebook(f"Book {MARKER}")[0]  # the existing one, found
        added = vault.create_note("Added partially", "body", notebook=nb.id, tags=["fresh"])
        vault._unsnapped = 10_000  # however much changed, a partial view is never sealed
    assert snapshot.path_in(big).read_bytes() == before
    with Vault.unlock(big, password=PASSWORD) as vault:
        assert vault.note(added.id).notebook == nb.id
        assert len({n.notebook for n in vault.all_notes()}) == 1  # no second "Book" notebook
        assert "fresh" in {t.name for t in vault.tags()}
        assert state(vault) == open_without_snapshot(big)


# --- a hostile file in the snapshot's place (issue 12 §3): ignored, then sealed anew ------------


def _rebuilt(path: Path) -> None:
    """The planted thing is gone and a snapshot that opens is in its place."""
    assert snapshot.path_in(path).is_file() and not snapshot.path_in(path).is_symlink()
    assert entries(path) is not None


@pytest.mark.parametrize("kind", ["fifo", "symlink to /dev/zero", "folder", "symlink loop"])
def test_a_snapshot_that_is_not_a_regular_file_is_ignored_by_the_cli(
    big: Path, cli: CLI, kind: str
) -> None:
    file = snapshot.path_in(big)
    file.unlink()
    if kind == "fifo":
        os.mkfifo(file)
    elif kind == "folder":
        file.mkdir()
    elif kind == "symlink loop":
        file.symlink_to(file.name)
    else:
        file.symlink_to("/dev/zero")
    # A command that blocks on the FIFO or reads /dev/zero for ever fails here on the timeout.
    result = cli("ls", "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == COUNT
    if kind != "folder":  # a folder someone made is theirs to remove; it is only ignored
        _rebuilt(big)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)


@given(head=json_values | st.fixed_dictionaries({"v": json_values, "ss": json_values}))
@settings(max_examples=60)
def test_a_snapshot_header_of_any_wrong_shape_is_ignored(
    big_keys: tuple[Path, bytes, str, str, bytes], head: object
) -> None:
    path, key, vault_id, mk_id, original = big_keys
    if isinstance(head, dict):  # names this vault and key, so only the shape is wrong
        head = {**head, "vault": vault_id, "mk": mk_id}
    rest = original[original.index(b"\n") + 1 :]
    snapshot.path_in(path).write_bytes(json.dumps(head).encode() + b"\n" + rest)
    assert snapshot.read(path, key, vault_id, mk_id) is None


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_a_deeply_nested_snapshot_header_is_ignored(big: Path, cli: CLI, depth: int) -> None:
    snapshot.path_in(big).write_bytes(b"[" * depth + b"]" * depth + b"\n")
    result = cli("ls", "--json")
    assert result.returncode == 0, result.stderr
    _rebuilt(big)


@pytest.fixture
def big_keys(big: Path) -> tuple[Path, bytes, str, str, bytes]:
    with Vault.unlock(big, password=PASSWORD) as vault:
        mk = vault.master_key
        found = (big, subkey(mk, Label.SNAPSHOT), vault.vault_id, keys.mk_id(mk))
        vault._unsnapped = 0
    return (*found, snapshot.path_in(big).read_bytes())


# --- version 2: the bodies apart, so a listing decrypts only the rest ---------------------------


def write_version_1(path: Path, found: list[snapshot.Entry], key: bytes, vault_id: str, mk_id: str):
    """A snapshot as version 1 wrote it (every entry whole, the last message FINAL), as
    FORMAT.md describes it, for the in-place upgrade."""
    import base64
    import struct

    from nacl.bindings import (
        crypto_secretstream_xchacha20poly1305_init_push,
        crypto_secretstream_xchacha20poly1305_push,
        crypto_secretstream_xchacha20poly1305_state,
        crypto_secretstream_xchacha20poly1305_TAG_FINAL,
        crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
    )

    from vault.sealing.crypto import pad

    state = crypto_secretstream_xchacha20poly1305_state()
    header = crypto_secretstream_xchacha20poly1305_init_push(state, key)
    ad = b"\x00".join([b"vault-snapshot", b"1", vault_id.encode(), mk_id.encode()])
    head = {"v": 1, "vault": vault_id, "mk": mk_id, "ss": base64.b64encode(header).decode()}
    out = json.dumps(head, separators=(",", ":")).encode() + b"\n"
    body = json.dumps([list(e) for e in found], separators=(",", ":")).encode()
    for plain, tag in (
        (body, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE),
        (b"", crypto_secretstream_xchacha20poly1305_TAG_FINAL),
    ):
        cipher = crypto_secretstream_xchacha20poly1305_push(state, pad(plain), ad, tag)
        out += struct.pack(">I", len(cipher)) + cipher
    snapshot.path_in(path).write_bytes(out)


def test_a_listing_reads_no_body_and_shows_the_same_notes(big: Path) -> None:
    with Vault.unlock(big, password=PASSWORD, bodies=False) as vault:
        listed = {n.id: n for n in vault.all_notes()}
        assert listed and all(n.body == "" for n in listed.values())  # none was decrypted
        some = sorted(listed)[0]
        with pytest.raises(RuntimeError, match="without the notes' bodies"):
            vault.search("body")
        whole = vault.note(some)  # read whole from the store, on demand
        vault._unsnapped = 0
    expected = open_without_snapshot(big)
    assert whole.to_payload() == expected[some][0]
    for note_id, note in listed.items():
        payload = dict(expected[note_id][0], body="")
        assert (note.to_payload(), note.version) == (payload, expected[note_id][1])


def test_a_change_to_a_note_read_without_its_body_keeps_its_body(big: Path) -> None:
    with Vault.unlock(big, password=PASSWORD) as vault:
        before = {n.id: n for n in vault.all_notes()}
    with Vault.unlock(big, password=PASSWORD, bodies=False) as vault:
        listed = sorted(vault.all_notes(), key=lambda n: n.id)
        assert not any(has_body(n) for n in listed)
        renamed = vault.update_note(listed[0], title="Renamed in a listing")
        pinned = vault.update_note(listed[1], pinned=True)
        trashed = vault.trash_note(listed[2])
        assert renamed.body == before[listed[0].id].body != ""
        assert (pinned.body, trashed.body) == (before[listed[1].id].body, before[listed[2].id].body)
        # The same object again: its version is now an older one; the change forks from it
        # and still carries that version's body, never "".
        again = vault.update_note(listed[0], title="Renamed twice")
        assert again.body == before[listed[0].id].body
    with Vault.unlock(big, password=PASSWORD) as vault:
        for note in (renamed, pinned, trashed):
            assert vault.note(note.id).body == before[note.id].body


def test_the_app_reads_the_bodies_after_the_list_from_the_same_snapshot(big: Path) -> None:
    with Vault.unlock(big, password=PASSWORD) as vault:
        expected = {n.id: (n.to_payload(), n.version) for n in vault.all_notes()}
        hits = {h.note.id for h in vault.search("body")}
    with Vault.unlock(big, password=PASSWORD, bodies="later") as vault:
        listed = vault.all_notes(bodies=False)
        assert vault.bodies_pending == len(listed) == len(expected)
        assert not any(has_body(n) for n in listed)
        epoch = vault.bodies_epoch
        # A search told it may be partial looks at titles; the app says so.
        partial = vault.filter_notes(listed, "body", partial=True)
        assert {h.note.id for h in partial} <= hits
        shown = vault.whole(listed[0])  # the note on screen: its own envelope, at once
        assert (shown.to_payload(), shown.version) == expected[listed[0].id]
        slices = 0
        while vault.load_bodies():
            slices += 1
        assert vault.bodies_pending == 0 and vault.bodies_epoch == epoch + 1
        # Folded for search, and let go: each read whole from its envelope when asked.
        assert not any(has_body(n) for n in vault.all_notes(bodies=False))
        got = {n.id: (n.to_payload(), n.version) for n in vault.all_notes()}
        assert got == expected
        # A search over the list read before the bodies came in (a keystroke in between):
        # the very notes the vault holds, folded with their bodies since.
        assert {h.note.id for h in vault.filter_notes(listed, "body", partial=True)} == hits
        assert {h.note.id for h in vault.search("body")} == hits


@pytest.mark.parametrize("old_snapshot", ["kept", "gone"])
def test_the_apps_vault_lets_go_of_the_bodies_and_searches_as_one_holding_them(
    big: Path, old_snapshot: str
) -> None:
    """bodies="later": each body is folded for search as it is read, then let go. Searches
    rank exactly as in a vault holding every body; every reader gets the bodies from their
    envelopes; changes to notes whose bodies were let go keep them, and the snapshot sealed
    at lock holds every body (from the snapshot on disk where it holds that very version,
    else read from the envelopes a slice at a time)."""
    queries = ["body", "body 1", "note 2 -body", '"body 3"', MARKER, "1", "7 -note"]

    def ranked(vault: Vault) -> dict[str, list[tuple[str, float]]]:
        return {q: [(h.note.id, h.score) for h in vault.search(q)] for q in queries}

    def tops(vault: Vault) -> dict[str, tuple[list[tuple[str, float]], int]]:
        found = {q: vault.search_top(q, 5) for q in queries}
        return {q: ([(h.note.id, h.score) for h in hits], n) for q, (hits, n) in found.items()}

    with Vault.unlock(big, password=PASSWORD) as vault:
        expected, expected_tops = ranked(vault), tops(vault)
        bodies = {n.id: n.body for n in vault.all_notes()}
        vault._unsnapped = 0
    sealed = snapshot.path_in(big).read_bytes()
    with Vault.unlock(big, password=PASSWORD, bodies="later") as vault:
        vault.load_all_bodies()
        listed = vault.all_notes(bodies=False)
        assert vault.bodies_pending == 0 and not any(has_body(n) for n in listed)
        assert ranked(vault) == expected and tops(vault) == expected_tops
        for q in queries:
            found = vault.match_notes(vault.notes(bodies=False), q)
            assert [n.id for n in found] == [i for i, _ in expected[q]]
        assert {n.id: body for n, body in vault.bodies_of(listed)} == bodies
        assert {n.id: n.body for n in vault.all_notes()} == bodies
        first, second, third = sorted(listed, key=lambda n: n.id)[:3]
        assert vault.note(first.id).body == bodies[first.id]
        vault.update_note(first, pinned=True)  # its body: never "" (ItemCache._write)
        vault.update_note(second, body="")  # emptied: a change, though it read as ""
        vault.trash_note(third)
        changed = {first.id, second.id, third.id}  # (written: held whole)
        assert not any(has_body(n) for n in vault.all_notes(bodies=False) if n.id not in changed)
        assert [h.note.id for h in vault.search(f'"{bodies[first.id]}"')] == [first.id]
        vault._unsnapped = 10_000  # a snapshot is due at lock
        if old_snapshot == "gone":
            snapshot.destroy(big)  # (every body from its envelope)
    assert snapshot.path_in(big).read_bytes() != sealed
    with Vault.unlock(big, password=PASSWORD) as vault:  # from the snapshot sealed at lock
        got = {n.id: n for n in vault.all_notes()}
        vault._unsnapped = 0
    assert {i: n.body for i, n in got.items()} == {**bodies, second.id: ""}
    assert got[first.id].pinned and got[third.id].in_trash


def test_the_bodies_stream_from_the_file_the_listing_came_from(big_keys) -> None:
    path, key, vault_id, mk_id, _ = big_keys
    whole = {e[0]: e[4].get("body") for e in snapshot.read(path, key, vault_id, mk_id)}
    listing = snapshot.load_listing(path, key, vault_id, mk_id)
    assert listing is not None
    entries, has_bodies, version, stream = listing
    assert not has_bodies and version == snapshot.VERSION and stream is not None
    assert all("body" not in e[4] for e in entries)
    snapshot.path_in(path).unlink()  # replaced meanwhile: the open file is still the one read
    snapshot.path_in(path).write_bytes(b"{}")
    got: dict[str, str] = {}
    while not stream.done:
        got.update(stream.next())
    assert got == {i: b for i, b in whole.items() if b is not None}
    assert stream.next() == {}


def test_a_damaged_bodies_part_ends_the_stream_and_nothing_else(big_keys) -> None:
    path, key, vault_id, mk_id, sealed = big_keys
    damaged = bytearray(sealed)
    damaged[-40] ^= 0x01  # in the bodies' part, after the listing's PUSH
    snapshot.path_in(path).write_bytes(bytes(damaged))
    listing = snapshot.load_listing(path, key, vault_id, mk_id)
    assert listing is not None and listing[3] is not None  # the listing itself is whole
    stream = listing[3]
    with pytest.raises(ValueError):
        while True:
            stream.next()
    assert stream.done


def test_bodies_come_from_the_store_when_the_snapshot_goes(big: Path) -> None:
    with Vault.unlock(big, password=PASSWORD) as vault:
        expected = {n.id: n.body for n in vault.all_notes()}
    with Vault.unlock(big, password=PASSWORD, bodies="later") as vault:
        snapshot.destroy(big)  # wiped under the open stream (a purge does this)
        # Whatever it asks for first waits for every body (read from the store now).
        assert {n.id: n.body for n in vault.all_notes()} == expected
        assert vault.bodies_pending == 0


def test_bodies_read_late_never_replace_a_newer_version(big: Path) -> None:
    with Vault.unlock(big, password=PASSWORD, bodies="later") as vault:
        listed = sorted(vault.all_notes(bodies=False), key=lambda n: n.id)
        edited, purged = listed[0], listed[1]
        with Vault.unlock(big, password=PASSWORD) as other:  # another process, meanwhile
            other.update_note(other.note(edited.id), body="written elsewhere")
            other._unsnapped = 0
        assert vault.refresh()
        assert vault.note(edited.id).body == "written elsewhere"
        vault.purge_note(purged)  # destroys the snapshot the bodies are read from
        while vault.load_bodies():
            pass
        assert vault.note(edited.id).body == "written elsewhere"
        assert purged.id not in {n.id for n in vault.all_notes()}
        assert all(n.body.startswith("body ") for n in vault.all_notes() if n.id != edited.id)
        assert {h.note.id for h in vault.search("written elsewhere")} == {edited.id}


def test_whole_reads_the_version_it_is_given(big: Path) -> None:
    with Vault.unlock(big, password=PASSWORD, bodies="later") as vault:
        note = sorted(vault.all_notes(bodies=False), key=lambda n: n.id)[0]
        assert not has_body(note)
        newer = vault.update_note(note, title="Newer title")  # keeps the body it had
        old = vault.whole(note)  # the version on screen, not the newer one
        assert (old.version, old.title) == (note.version, note.title)
        assert old.body == newer.body and old.body.startswith("body ")
        assert vault.whole(newer) is newer  # a note with its body is itself


def test_a_listing_sees_changes_made_after_the_snapshot(big: Path) -> None:
    with Vault.unlock(big, password=PASSWORD) as vault:
        notes = sorted(vault.all_notes(), key=lambda n: n.title)
        vault.update_note(notes[0], title="Renamed after the snapshot", body="new body")
        vault.create_note("Added after the snapshot", "new")
        vault._unsnapped = 0  # keep the old snapshot
    with Vault.unlock(big, password=PASSWORD, bodies=False) as vault:
        titles = {n.title for n in vault.all_notes()}
        assert {"Renamed after the snapshot", "Added after the snapshot"} <= titles
        assert vault.note(notes[0].id).body == "new body"


def test_a_listing_after_many_changes_seals_a_whole_snapshot(big: Path) -> None:
    """Locking a vault opened without bodies, once enough changed, seals a new snapshot with
    every body (read from the old one), not one that lost them."""
    with Vault.unlock(big, password=PASSWORD) as vault:
        for note in vault.all_notes()[:40]:
            vault.update_note(note, body=f"{note.body} changed")
        vault._unsnapped = 0  # keep the old snapshot
    before = snapshot.path_in(big).read_bytes()
    with Vault.unlock(big, password=PASSWORD, bodies=False) as vault:
        assert len(vault.all_notes()) == COUNT
    assert snapshot.path_in(big).read_bytes() != before
    found = entries(big)
    assert found is not None
    expected = open_without_snapshot(big)
    assert {e[0]: e[4] for e in found if e[1] == "note"} == {
        i: p for i, (p, _, _) in expected.items() if p["kind"] == "note"
    }


def test_damage_after_the_listing_part_spoils_only_the_bodies(big: Path) -> None:
    file = snapshot.path_in(big)
    file.write_bytes(file.read_bytes()[:-40])  # the FINAL message cut
    assert entries(big) is None
    with Vault.unlock(big, password=PASSWORD, bodies=False) as vault:
        notes = vault.all_notes()
        assert len(notes) == COUNT and all(n.body == "" for n in notes)
        vault._unsnapped = 0
    with Vault.unlock(big, password=PASSWORD) as vault:
        assert state(vault) == open_without_snapshot(big)


def test_a_version_1_snapshot_is_read_and_replaced_in_place(big_keys) -> None:
    big, key, vault_id, mk_id, _ = big_keys
    found = entries(big)
    assert found is not None
    write_version_1(big, found, key, vault_id, mk_id)
    assert snapshot.load(big, key, vault_id, mk_id, bodies=False)[1:] == (True, 1)
    listing = snapshot.load_listing(big, key, vault_id, mk_id)
    assert listing is not None and listing[1:] == (True, 1, None)  # whole: nothing to stream
    with Vault.unlock(big, password=PASSWORD, bodies="later") as vault:
        assert not vault.bodies_pending and all(has_body(n) for n in vault.all_notes())
        vault._unsnapped = 0
        vault._snap_old = False  # (the plain listing below replaces it)
    with Vault.unlock(big, password=PASSWORD, bodies=False) as vault:
        assert not vault._bodiless  # a version 1 file holds the bodies: read whole
        assert vault._snap_tags == {} and vault._tags  # its entries were used
        assert state(vault) == open_without_snapshot(big)
    loaded = snapshot.load(big, key, vault_id, mk_id)
    assert loaded is not None and loaded[2] == snapshot.VERSION  # sealed anew at lock
    assert sorted(map(list, loaded[0])) == sorted(map(list, found))


def test_a_message_of_bodies_must_add_up() -> None:
    """The second part's layout (FORMAT.md): the index, then exactly the bodies it names."""
    good = next(snapshot._body_chunks([("a" * 32, "ünï"), ("b" * 32, "")]))
    assert snapshot._pairs(good) == {"a" * 32: "ünï", "b" * 32: ""}
    size = int.from_bytes(good[:4], "big")
    index, rest = good[4 : 4 + size], good[4 + size :]
    for bad in (
        good + b"x",  # something after the last body
        good[:-1],  # a body cut short
        good[:4] + index + b"\xff" + rest[1:],  # not UTF-8
        good[:4] + index.replace(b"b" * 32, b"a" * 32) + rest,  # an id twice
        b"\x00\x00",
    ):
        with pytest.raises(ValueError):
            snapshot._pairs(bad)


def test_the_apps_read_ahead_reads_nothing_when_a_snapshot_will_be_used(big: Path) -> None:
    """The app reads ahead while the password is typed; with a snapshot there the unlock
    reads it and only what changed since, so parsing every envelope ahead was memory never
    used (450 MiB at 100,000 notes). Without a snapshot it reads them all, as before."""
    from vault.notes.unlocking import prefetch

    assert snapshot.path_in(big).exists()
    assert prefetch(big) == {}
    with Vault.unlock(big, password=PASSWORD, prefetched=prefetch(big)) as vault:
        assert state(vault) == open_without_snapshot(big)
    snapshot.destroy(big)
    ahead = prefetch(big)
    assert len(ahead) >= COUNT
    with Vault.unlock(big, password=PASSWORD, prefetched=ahead) as vault:
        assert state(vault) == open_without_snapshot(big)


@pytest.mark.parametrize("how", ["shown", "pinned"])
def test_bodies_that_arrive_outside_the_stream_still_end_the_loading(
    tmp_path: Path, how: str
) -> None:
    """A search made while bodies were loading folds titles alone. When the last notes get
    their bodies some other way than the stream (each shown and read whole, or changed), the
    loading must still end (the epoch moves) and later searches must see every body: they
    once said nothing was missing and found only the titles' matches (found by review)."""
    path = tmp_path / "v"
    made, _ = Vault.create(path, PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
    count = SNAPSHOT_MIN_ITEMS + 40  # bodies of about 2 MiB: two messages of the stream
    with made.batch():
        for n in range(count):
            made.create_note(f"Note {n:03}", f"about okapi{n % 5} number {n}\n" + "y" * 9000)
    made.lock()
    with Vault.unlock(path, password=PASSWORD, bodies="later") as vault:
        listed = vault.all_notes(bodies=False)
        assert not any(has_body(n) for n in listed)
        assert vault.match_notes(listed, "okapi3", partial=True) == []  # titles alone
        vault.load_bodies()  # one slice of the stream; the rest some other way
        left = [n for n in vault.all_notes(bodies=False) if not has_body(n)]
        assert left
        for note in left:
            if how == "shown":
                vault.whole(note)
            else:
                vault.update_note(note, pinned=True)
        assert vault.bodies_pending == 0
        assert vault.bodies_epoch == 1
        wanted = sum(1 for n in range(count) if n % 5 == 3)
        assert len(vault.match_notes(vault.all_notes(), "okapi3")) == wanted
        assert len(vault.search("okapi3")) == wanted


def test_a_line_appended_to_a_note_held_without_its_body_keeps_the_body(tmp_path: Path) -> None:
    """`append_line` builds the new body from the note it is given: one held without its
    body (the app, while bodies are read) is read whole first, never "" plus the line."""
    from vault.notes.templates import append_line

    path = tmp_path / "v"
    made, _ = Vault.create(path, PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
    with made.batch():
        for n in range(COUNT):
            made.create_note(f"Note {n:03}", f"body {n}\n")
    made.lock()
    with Vault.unlock(path, password=PASSWORD, bodies="later") as vault:
        note = next(n for n in vault.all_notes(bodies=False) if n.title == "Note 007")
        assert not has_body(note)
        assert append_line(vault, note, "- milk").body == "body 7\n- milk\n"
    with Vault.unlock(path, password=PASSWORD) as vault:
        assert vault.find_note("Note 007").body == "body 7\n- milk\n"


@pytest.mark.parametrize("bodies", [True, False, "later"])
def test_a_row_changed_without_the_key_is_never_vouched_for_by_the_snapshot(
    big: Path, bodies: bool | str
) -> None:
    """The snapshot's entries are vouched for all at once (ItemCache._vouch): one whose row
    was rewritten without the key (its claims no longer those the snapshot sealed) is read
    from the store instead, and refused there, as without a snapshot."""
    import sqlite3

    with Vault.unlock(big, password=PASSWORD) as vault:
        victim = sorted(vault.all_notes(), key=lambda n: n.title)[3]
    db = sqlite3.connect(big / "store.sqlite")
    with db:
        db.execute("UPDATE ops SET device = 'forged' WHERE op_id = ?", (victim.version,))
    db.close()
    expected = open_without_snapshot(big)
    with Vault.unlock(big, password=PASSWORD, bodies=bodies) as vault:
        assert victim.id in vault.corrupt
        assert victim.id not in vault._items
        assert vault.history_incident is not None
        if bodies == "later":
            vault.load_all_bodies()
        if bodies is False:  # held without their bodies: the rest is the same
            found = {i: ({**p, "body": ""}, *rest) for i, (p, *rest) in state(vault).items()}
            expected = {i: ({**p, "body": ""}, *rest) for i, (p, *rest) in expected.items()}
        else:
            found = state(vault)
        assert found == expected
        vault._unsnapped = 0


@pytest.mark.parametrize("with_snapshot", [True, False])
def test_the_apps_read_ahead_is_taken_once_and_never_hides_what_changed_since(
    big: Path, with_snapshot: bool
) -> None:
    """The app opens the store and scans the history while the password is typed
    (ReadAhead); the unlock takes that store over. A wrong password consumes it; a commit or
    a row removed without the key between the reading and the unlock is seen as without it
    (the scan is used only if the store's data version did not move)."""
    import sqlite3

    from vault.errors import WrongPasswordError
    from vault.notes.unlocking import ReadAhead

    if not with_snapshot:
        snapshot.destroy(big)
    read = ReadAhead(big)
    assert read.reader is not None and read.reader.scan is not None
    with pytest.raises(WrongPasswordError):
        Vault.unlock(big, password="not the password", read_ahead=read, bodies="later")
    assert read.store is None  # taken (and closed with the failed unlock): never used twice
    with Vault.unlock(big, password=PASSWORD, read_ahead=read, bodies="later") as vault:
        vault.load_all_bodies()
        assert state(vault) == open_without_snapshot(big)
        victim = sorted(vault.all_notes(), key=lambda n: n.title)[5]
        vault._unsnapped = 0

    # Another process's commit after the reading: it is seen.
    read = ReadAhead(big)
    with Vault.unlock(big, password=PASSWORD) as other:
        added = other.create_note("Added after the reading", "new")
        other._unsnapped = 0
    with Vault.unlock(big, password=PASSWORD, read_ahead=read, bodies="later") as vault:
        assert vault.note(added.id).body == "new"
        assert vault.history_incident is None
        vault._unsnapped = 0

    # A version removed without the key after the reading: the incident is raised.
    read = ReadAhead(big)
    db = sqlite3.connect(big / "store.sqlite")
    with db:
        db.execute("DELETE FROM ops WHERE op_id = ?", (victim.version,))
    db.close()
    with Vault.unlock(big, password=PASSWORD, read_ahead=read, bodies="later") as vault:
        assert vault.history_incident is not None
        assert victim.id not in {n.id for n in vault.all_notes()}
        vault._unsnapped = 0


def test_a_read_ahead_of_another_vault_is_not_taken(big: Path, tmp_path: Path) -> None:
    from vault.notes.unlocking import ReadAhead

    elsewhere = tmp_path / "copy"
    shutil.copytree(big, elsewhere)
    read = ReadAhead(elsewhere)
    with Vault.unlock(big, password=PASSWORD, read_ahead=read) as vault:
        assert vault.path == big
        vault._unsnapped = 0
    assert read.store is None  # given back (closed), not used for the other vault


@pytest.mark.parametrize("replaced", ["folder", "store file", "folder removed"])
def test_a_read_ahead_of_a_folder_replaced_since_is_not_taken(
    big: Path, tmp_path: Path, replaced: str
) -> None:
    """The vault folder replaced while the password is typed (a copy put back, a store file
    renamed over): the unlock opens what is at the path now, shows its notes and writes
    there, never into the file the read-ahead had open (found by review)."""
    from vault.errors import VaultNotFoundError
    from vault.notes.unlocking import ReadAhead

    copy = tmp_path / "copy"
    shutil.copytree(big, copy)
    with Vault.unlock(copy, password=PASSWORD) as other:
        only = other.create_note("Only in the copy", "restored").id
        other._unsnapped = 0
    read = ReadAhead(big)
    if replaced == "folder":
        big.rename(tmp_path / "moved away")
        copy.rename(big)
    elif replaced == "store file":
        (copy / "store.sqlite").replace(big / "store.sqlite")
        for leftover in ("store.sqlite-wal", "store.sqlite-shm"):
            (big / leftover).unlink(missing_ok=True)
    else:
        shutil.rmtree(big)
        with pytest.raises(VaultNotFoundError):
            Vault.unlock(big, password=PASSWORD, read_ahead=read, bodies="later")
        assert read.store is None
        return
    with Vault.unlock(big, password=PASSWORD, read_ahead=read, bodies="later") as vault:
        assert vault.note(only).body == "restored"
        written = vault.create_note("Written after unlocking", "here").id
    assert read.store is None
    with Vault.unlock(big, password=PASSWORD) as check:
        assert check.note(written).body == "here"
        check._unsnapped = 0


def test_a_fork_after_the_snapshot_shows_as_a_conflict_though_its_entry_is_current(
    big: Path,
) -> None:
    """Another device's version beside the one shown (a fork) arrives after the snapshot was
    sealed: the shown version, and so the entry's version tag, are unchanged, but the note
    is now in conflict. The snapshot's entries vouched for at once (ItemCache._vouch) take
    the store's conflict flag, as one by one they did."""
    from vault.sealing.crypto import random_id
    from vault.sealing.envelope import Claims
    from vault.sealing.envelope import seal_op as seal
    from vault.storage.store import Op

    with Vault.unlock(big, password=PASSWORD) as vault:
        note = sorted(vault.all_notes(), key=lambda n: n.title)[7]
        row = vault.store.item(note.id)
        assert row is not None and not note.conflict
        claims = Claims(random_id(), note.id, "note", row.parents, False, random_id())
        payload = {**note.to_payload(), "title": "Their version"}
        envelope = seal(vault._items_key, vault.vault_id, claims, payload)
        vault.store.ingest(
            [Op(claims.op_id, note.id, "note", claims.parents, False, envelope, claims.device)]
        )
        vault._unsnapped = 0  # the snapshot stays the one sealed before the fork
    expected = open_without_snapshot(big)
    assert expected[note.id][2] is True and expected[note.id][1] == note.version
    for bodies in (True, False, "later"):
        with Vault.unlock(big, password=PASSWORD, bodies=bodies) as vault:
            if bodies == "later":
                vault.load_all_bodies()
            shown = vault._items[note.id]
            assert shown.version == note.version and shown.conflict is True
            if bodies is not False:
                assert state(vault) == expected
            vault._unsnapped = 0
