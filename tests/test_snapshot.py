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
from vault.notes.vault import SNAPSHOT_MIN_ITEMS, Vault
from vault.sealing import keys, snapshot
from vault.sealing.crypto import TEST_KDF, Label, subkey

MARKER = "QZXSNAPMARKER"
COUNT = SNAPSHOT_MIN_ITEMS + 20


def state(vault: Vault) -> dict[str, tuple]:
    """Everything a reader sees: each item's payload, version and conflict flag."""
    return {
        i.id: (i.to_payload(), i.version, getattr(i, "conflict", False))
        for i in vault._items.values()
    }


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
        data = data.replace(b'"v":1', b'"v":9', 1)
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
