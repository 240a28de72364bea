"""Format version 1 vaults and sync folders upgrade in place to version 2, crash-safe, with
nothing lost. The version 1 data is real: tests/fixtures/v1/, made by the version 1 code
(tests/fixtures/make_v1.py, run before format version 2 existed)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import textwrap
from io import BytesIO
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from vault.notes.vault import Vault
from vault.storage.store import SCHEMA_VERSION
from vault.sync import SyncEngine, set_remote

FIXTURE = Path(__file__).parent / "fixtures" / "v1"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text(encoding="utf-8"))
V1_COMMIT = "9ccc0ef"  # the last commit of format version 1
ROOT = Path(__file__).parent.parent


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "v1"
    shutil.copytree(FIXTURE, target)
    return target


def _header_version(vault: Path) -> int:
    return json.loads((vault / "vault.json").read_text())["v"]


def _schema(vault: Path) -> int:
    db = sqlite3.connect(vault / "store.sqlite")
    try:
        return int(db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0])
    finally:
        db.close()


def _assert_everything_kept(vault: Vault) -> None:
    notes = {n.id: n for n in vault.all_notes()}
    assert set(notes) == set(EXPECTED["notes"])
    for note_id, want in EXPECTED["notes"].items():
        note = notes[note_id]
        assert (note.title, note.body, note.in_trash, list(note.tags)) == (
            want["title"],
            want["body"],
            want["trashed"],
            want["tags"],
        )
    for item_id, history in EXPECTED["history"].items():
        ops = vault.store.history(item_id)
        assert [[o.op_id, o.deleted, list(o.parents), o.device] for o in ops] == [
            [h[0], h[1], h[3], h[4]] for h in history
        ]
        for op, h in zip(ops, history, strict=True):
            payload = vault.open_op(op)  # every version answers for its row now
            content = not op.deleted and not payload.get("erased")
            assert content == (h[2] and not h[1])
    for note_id in EXPECTED["notes"]:
        versions = vault.note_history(vault.note(note_id))
        history = EXPECTED["history"].get(note_id)
        if history:
            assert [v.note is not None for v in versions] == [h[2] for h in history]
    assert sorted(vault.store.conflicted_ids()) == EXPECTED["conflicts"]
    report = vault.check()
    assert report.ok, report.corrupt


def test_a_version_1_vault_and_folder_upgrade_in_place(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    a_path, b_path, folder = root / "a", root / "b", root / "folder"
    assert _header_version(a_path) == 1
    with Vault.unlock(a_path, password=PASSWORD) as a:
        assert _header_version(a_path) == 2 and _schema(a_path) == SCHEMA_VERSION
        _assert_everything_kept(a)
        # the recovery key of version 1 still opens it
    with Vault.unlock(a_path, recovery_key=EXPECTED["recovery"]) as a:
        _assert_everything_kept(a)
        set_remote(a.store, folder)
        report = SyncEngine(a).sync()  # reads b's version 1 file, upgrades the folder
        assert not report.pending and not report.rollbacks
        assert json.loads((folder / "vault-sync.json").read_text())["v"] == 2
        assert a.note(EXPECTED["ids"]["from_b"]).body == "written on b"
        assert a.note(EXPECTED["ids"]["beta"]).body == "in a notebook, edited on b"
        edited = a.update_note(a.note(EXPECTED["ids"]["alpha"]), body="edited after upgrade\n")
        SyncEngine(a).sync()
        assert a.check().ok
    with Vault.unlock(b_path, password=PASSWORD) as b:
        set_remote(b.store, folder)
        SyncEngine(b).sync()
        assert b.note(edited.id).body == "edited after upgrade\n"
        for note_id, body in EXPECTED["b_notes"].items():
            assert b.note(note_id).body == (
                "edited after upgrade\n" if note_id == edited.id else body
            )
        assert b.check().ok
        b_notes = {n.id: (n.title, n.body) for n in b.all_notes()}
    with Vault.unlock(a_path, password=PASSWORD) as a:
        SyncEngine(a).sync()
        assert {n.id: (n.title, n.body) for n in a.all_notes()} == b_notes


_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from vault.storage import upgrade
    from vault.notes.vault import Vault
    from vault.storage.store import Store

    path, step, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    key = Vault.unwrap_master_key(path, password=sys.argv[4])
    seen = 0

    def on_step(name):
        global seen
        if name == step:
            seen += 1
            if seen >= count:
                os.kill(os.getpid(), signal.SIGKILL)

    upgrade.upgrade(Store.open(path), key, on_step=on_step)
    """
)


@pytest.mark.parametrize(
    ("step", "count", "header", "schema"),
    [
        ("op", 1, 1, 3),  # inside the transaction, after the first operation
        ("op", 12, 1, 3),  # half-way
        ("sealed", 1, 1, 3),  # every operation sealed, not committed
        ("committed", 1, 1, SCHEMA_VERSION),  # committed, header not yet rewritten
        ("header", 1, 2, SCHEMA_VERSION),  # done but for the snapshot
    ],
)
def test_a_killed_upgrade_leaves_a_vault_that_opens(
    tmp_path: Path, step: str, count: int, header: int, schema: int
) -> None:
    root = _copy(tmp_path)
    a_path = root / "a"
    result = subprocess.run(
        [sys.executable, "-c", _KILLER, str(a_path), step, str(count), PASSWORD],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert (_header_version(a_path), _schema(a_path)) == (header, schema)
    with Vault.unlock(a_path, password=PASSWORD) as a:
        assert _header_version(a_path) == 2 and _schema(a_path) == SCHEMA_VERSION
        _assert_everything_kept(a)


def _v1_program(tmp_path: Path) -> Path:
    """The version 1 code, taken from git history, to run as an older program would."""
    try:
        archive = subprocess.run(
            ["git", "archive", V1_COMMIT, "vault"],
            capture_output=True,
            check=True,
            cwd=ROOT,
            timeout=60,
        ).stdout
    except (subprocess.CalledProcessError, FileNotFoundError):
        pytest.skip("the version 1 commit is not in this checkout (shallow clone)")
    target = tmp_path / "old"
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def _run_old(old: Path, *args: str, vault: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(old),
        "VAULT_DIR": str(vault),
        "VAULT_PASSWORD": PASSWORD,
    }
    return subprocess.run(
        [sys.executable, "-m", "vault", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=old,
        start_new_session=True,
    )


def test_an_older_program_is_told_to_upgrade(tmp_path: Path) -> None:
    old = _v1_program(tmp_path)
    root = _copy(tmp_path)
    a_path = root / "a"
    # b (still version 1) syncs with the copy of the folder, never with the fixture itself
    moved = _run_old(old, "remote", "set", str(root / "folder"), vault=root / "b")
    assert moved.returncode == 0, moved.stderr
    before = _run_old(old, "ls", vault=a_path)
    assert before.returncode == 0 and "Alpha renamed" in before.stdout
    assert _header_version(a_path) == 1  # it is the version 1 code: it did not upgrade
    with Vault.unlock(a_path, password=PASSWORD) as a:
        set_remote(a.store, root / "folder")
        SyncEngine(a).sync()
    after = _run_old(old, "ls", vault=a_path)
    assert after.returncode != 0
    assert len(after.stderr.strip().splitlines()) == 1 and "upgrade vault" in after.stderr
    # the window between the commit and the new header: the store alone says so too
    header = json.loads((a_path / "vault.json").read_text())
    (a_path / "vault.json").write_text(json.dumps({**header, "v": 1}))
    window = _run_old(old, "ls", vault=a_path)
    assert window.returncode != 0 and "upgrade vault" in window.stderr
    # and a version 1 device meets the upgraded folder
    assert "upgrade" in _run_old(old, "remote", "set", str(root / "folder"), vault=a_path).stderr
    synced = _run_old(old, "sync", vault=root / "b")
    assert synced.returncode != 0 and "upgrade" in synced.stderr
    assert len(synced.stderr.strip().splitlines()) == 1
