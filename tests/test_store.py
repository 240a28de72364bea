"""The store: history graph, heads and conflicts, idempotent ingest, crash safety, permissions."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import PASSWORD
from vault.notes.vault import Vault
from vault.storage.store import Op, Store


def _op(op_id: str, parents: tuple[str, ...] = (), deleted: bool = False, item: str = "i1") -> Op:
    return Op(op_id, item, "note", parents, deleted, None if deleted else f"env-{op_id}", "dev")


def test_linear_history_has_one_head(vault: Vault) -> None:
    note = vault.create_note("A", "1")
    note = vault.update_note(note, body="2")
    note = vault.update_note(note, body="3")
    store = vault.store
    assert [h.op_id for h in store.heads(note.id)] == [note.version]
    assert len(store.history(note.id)) == 3
    assert [o.parents for o in store.history(note.id)][1:] == [
        (store.history(note.id)[0].op_id,),
        (store.history(note.id)[1].op_id,),
    ]


def test_two_writers_from_one_version_make_a_conflict_not_a_loss(vault: Vault) -> None:
    base = vault.create_note("A", "base")
    vault.update_note(base, body="mine")
    shown = vault.update_note(base, body="theirs")  # a second writer that read `base`
    heads = vault.store.heads(base.id)
    assert len(heads) == 2
    bodies = {vault.open_op(h)["body"] for h in heads}
    assert bodies == {"mine", "theirs"}
    # the caller gets the version the store shows, flagged, whichever of the two it is
    assert shown.conflict and shown.body in bodies
    assert vault.note(base.id).conflict
    bodies = {v.note.body for v in vault.note_history(base) if v.note}
    assert {"base", "mine", "theirs"} <= bodies


def test_edit_beats_concurrent_delete(vault: Vault) -> None:
    base = vault.create_note("A", "base")
    vault.update_note(base, body="edited")
    vault.store.write(vault.seal_op("note", base.id, None, [base.version]))  # a delete from `base`
    row = vault.store.item(base.id)
    assert row is not None and not row.deleted and row.conflict
    vault.refresh()
    assert vault.note(base.id).body == "edited"


def test_ingest_is_idempotent_and_order_independent(tmp_path: Path, make_vault) -> None:
    ops = [_op("a"), _op("b", ("a",)), _op("c", ("b",)), _op("d", ("b",))]
    results = []
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]):
        vault, _ = make_vault(tmp_path / f"v{''.join(map(str, order))}")
        store = vault.store
        for i in order:
            store.ingest([ops[i]])
        store.ingest(ops)  # again: nothing new
        assert len(store.history("i1")) == 4
        results.append({h.op_id for h in store.heads("i1")})
        row = store.item("i1")
        assert row is not None and row.conflict and row.op_id == "d"
    assert results == [{"c", "d"}] * 3


@given(st.permutations(list(range(6))))
def test_heads_do_not_depend_on_arrival_order(order: list[int]) -> None:
    import tempfile

    # a small DAG: a -> b -> (c, d); d -> e; (c, e) -> f (a merge)
    ops = [
        _op("a"),
        _op("b", ("a",)),
        _op("c", ("b",)),
        _op("d", ("b",)),
        _op("e", ("d",)),
        _op("f", ("c", "e")),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.create(Path(tmp) / "v", "ab" * 16, "cd" * 16, "ef" * 16, [])
        store.commit_key = b"k" * 32  # a store on its own: no vault set the key
        for i in order:
            store.ingest([ops[i]])
        assert [h.op_id for h in store.heads("i1")] == ["f"]
        row = store.item("i1")
        assert row is not None and not row.conflict
        store.close()


def test_permissions_are_private(vault: Vault, vault_path: Path) -> None:
    vault.create_note("A", "x")
    assert stat.S_IMODE(vault_path.stat().st_mode) == 0o700
    assert stat.S_IMODE((vault_path / "keys").stat().st_mode) == 0o700
    for p in vault_path.rglob("*"):
        if p.is_file():
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_a_killed_writer_leaves_old_or_new_state(tmp_path: Path, make_vault, vault_path) -> None:
    """Kill a process that saves notes in a loop, at random moments; the vault always opens,
    every note it holds is whole, and check() finds nothing damaged."""
    vault, _ = make_vault()
    vault.lock()
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from vault.notes.vault import Vault
        v = Vault.unlock(Path({str(vault_path)!r}), password={PASSWORD!r})
        note = v.create_note("counter", "0")
        print("ready", flush=True)
        i = 0
        while True:
            i += 1
            note = v.update_note(note, body=str(i) * 500)
            v.create_note(f"n{{i}}", "x" * (i % 3000))
        """
    )
    for round_ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.2 + 0.15 * round_)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with Vault.unlock(vault_path, password=PASSWORD) as v:
            report = v.check()
            assert report.ok, report.corrupt
            for note in v.all_notes():
                if note.title == "counter":
                    assert note.body == "0" or set(note.body) <= set("0123456789")
            assert len(v.all_notes()) > round_
