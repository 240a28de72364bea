"""Criss-cross histories: partial delivery gives a fork two equally good common ancestors.

Each device here has a folder of its own, and the test plays the daemon that copies files
between them, choosing what arrives when. A device that receives another's edit but not that
device's merge of it makes a merge of its own; the two merges then share two newest common
ancestors, and a merge from either one alone sees one side's change twice, as an overlap.
SYNC.md promises that edits to different lines always merge, whatever the order of delivery.
"""

from __future__ import annotations

import itertools
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import spec_merge
from tests.conftest import PASSWORD
from vault.notes.vault import Vault
from vault.sync import SyncEngine, clone, list_conflicts, set_remote

MakeVault = Callable[..., tuple[Vault, str]]
LINES = [f"line {i}\n" for i in range(1, 11)]


def _files(folder: Path, device: str) -> set[str]:
    root = folder / "log" / device
    return {p.name for p in root.iterdir() if p.is_file()} if root.is_dir() else set()


def _deliver(src: Path, dst: Path, device: str, names: set[str]) -> None:
    (dst / "log" / device).mkdir(parents=True, exist_ok=True)
    for name in sorted(names):
        shutil.copy2(src / "log" / device / name, dst / "log" / device / name)


def _deliver_all(src: Path, dst: Path, device: str) -> None:
    _deliver(src, dst, device, _files(src, device) - _files(dst, device))


def _edit(vault: Vault, note_id: str, changes: dict[int, str]) -> None:
    lines = vault.note(note_id).body.splitlines(keepends=True)
    for index, text in changes.items():
        lines[index] = text
    vault.update_note(vault.note(note_id), body="".join(lines))


def _documented_merges_agree(vault: Vault) -> None:
    """Every merge this device holds is what SYNC.md's rules (tests/spec_merge.py, no vault
    code) make of its parents: virtual bases included."""
    ops = {
        op.op_id: {"parents": list(op.parents), "deleted": op.deleted, "kind": op.kind, "op": op}
        for op in vault.store.all_ops()
    }

    def payload_of(op_id: str) -> dict | None:
        op = ops[op_id]["op"]
        payload = vault.open_op(op)
        return None if op.deleted or payload.get("erased") else payload

    merges = [op_id for op_id, op in ops.items() if len(op["parents"]) > 1]
    assert merges
    for op_id in merges:
        status, payload = spec_merge.merge_fork(ops, ops[op_id]["parents"], payload_of)
        expected = payload_of(op_id)
        assert status == "merged" and payload == expected


def _two_devices(tmp_path: Path, make_vault: MakeVault) -> tuple[Vault, Vault, Path, Path, str]:
    folder_a, folder_b = tmp_path / "fa", tmp_path / "fb"
    a, _ = make_vault(tmp_path / "a")
    set_remote(a.store, folder_a)
    note = a.create_note("Plan", "".join(LINES))
    SyncEngine(a).sync()
    shutil.copytree(folder_a, folder_b)
    b, _ = clone(folder_b, tmp_path / "b", password=PASSWORD)
    return a, b, folder_a, folder_b, note.id


def test_criss_cross_merges_of_disjoint_edits_converge(
    tmp_path: Path, make_vault: MakeVault
) -> None:
    a, b, fa, fb, note_id = _two_devices(tmp_path, make_vault)
    dev_a, dev_b = a.store.device_id, b.store.device_id
    try:
        _edit(a, note_id, {1: "A two\n", 2: "A three\n"})
        SyncEngine(a).sync()
        # b's edit has two steps, so its history is the longer of the two common ancestors
        _edit(b, note_id, {4: "B five\n"})
        _edit(b, note_id, {5: "B six\n"})
        SyncEngine(b).sync()
        b_edit_files = _files(fb, dev_b)
        # a's edit reaches b early: b merges it with its own edit
        _deliver_all(fa, fb, dev_a)
        SyncEngine(b).sync()
        # a edits its lines again, then receives b's edit but not b's merge, and merges too
        _edit(a, note_id, {1: "A two, again\n"})
        SyncEngine(a).sync()
        _deliver(fb, fa, dev_b, b_edit_files)
        SyncEngine(a).sync()
        # now everything arrives everywhere
        for _ in range(3):
            _deliver_all(fa, fb, dev_a)
            _deliver_all(fb, fa, dev_b)
            SyncEngine(a).sync()
            SyncEngine(b).sync()
        expected = LINES.copy()
        expected[1], expected[2] = "A two, again\n", "A three\n"
        expected[4], expected[5] = "B five\n", "B six\n"
        for vault in (a, b):
            assert not list_conflicts(vault)
            assert vault.note(note_id).body == "".join(expected)
            assert len(vault.store.heads(note_id)) == 1
        assert a.store.heads(note_id)[0].op_id == b.store.heads(note_id)[0].op_id
        _documented_merges_agree(a)
    finally:
        a.lock()
        b.lock()


@pytest.mark.parametrize("seed", range(12))
def test_three_devices_with_random_partial_delivery_converge(
    seed: int, tmp_path: Path, make_vault: MakeVault
) -> None:
    """Three devices, each editing only its own lines, syncing at random while the daemon
    delivers random subsets of the files: no conflict, and every device (and a fresh clone)
    ends on the same single version holding every device's last edit."""
    rng = random.Random(seed)
    folders = [tmp_path / f"f{i}" for i in range(3)]
    first, _ = make_vault(tmp_path / "v0")
    set_remote(first.store, folders[0])
    note_id = first.create_note("Ring", "".join(LINES)).id
    SyncEngine(first).sync()
    for folder in folders[1:]:
        shutil.copytree(folders[0], folder)
    vaults = [first] + [clone(folders[i], tmp_path / f"v{i}", password=PASSWORD)[0] for i in (1, 2)]
    ids = [v.store.device_id for v in vaults]
    last: dict[int, str] = {}
    try:
        for step in range(14):
            i = rng.randrange(3)
            last[i] = f"device {i} step {step}\n"
            _edit(vaults[i], note_id, {3 * i: last[i]})
            SyncEngine(vaults[i]).sync()
            for _ in range(rng.randint(0, 3)):
                src, dst = rng.sample(range(3), 2)
                owner = rng.choice([src, dst, 3 - src - dst])
                missing = sorted(
                    _files(folders[src], ids[owner]) - _files(folders[dst], ids[owner])
                )
                if missing:
                    _deliver(
                        folders[src],
                        folders[dst],
                        ids[owner],
                        set(rng.sample(missing, rng.randint(1, len(missing)))),
                    )
                SyncEngine(vaults[dst]).sync()
        for _ in range(3):
            for src, dst in itertools.permutations(range(3), 2):
                for owner in range(3):
                    _deliver(
                        folders[src],
                        folders[dst],
                        ids[owner],
                        _files(folders[src], ids[owner]) - _files(folders[dst], ids[owner]),
                    )
            for vault in vaults:
                SyncEngine(vault).sync()
        fresh, _ = clone(folders[0], tmp_path / "fresh", password=PASSWORD)
        vaults.append(fresh)
        bodies = {vault.note(note_id).body for vault in vaults}
        assert len(bodies) == 1
        for vault in vaults:
            assert not list_conflicts(vault)
            assert len(vault.store.heads(note_id)) == 1
        body = bodies.pop()
        for line in last.values():
            assert line in body
        _documented_merges_agree(fresh)
    finally:
        for vault in vaults:
            vault.lock()
