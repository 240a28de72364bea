"""End to end: vaults syncing through real Syncthing daemons on 127.0.0.1 (two, and three in a
ring of pauses).

Each device has its own copy of the shared folder, served by its own daemon (discovery, relays
and NAT off; see tests/syncthing_harness.py). The devices edit while disconnected (one daemon
paused), meet again, and must converge: a non-overlapping edit merges, an overlapping one
becomes a conflict on both sides and is resolved, an edit beats a concurrent purge, and a real
`.sync-conflict-` file made by Syncthing is taken for what it is (its content verified, used
once, never a duplicate note).

Skipped without Syncthing, unless VAULT_REQUIRE_SYNCTHING=1 (CI), where it fails instead.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.syncthing_harness import SyncthingCluster, require_syncthing
from vault.notes.vault import Vault
from vault.sync import SyncEngine, clone, get_conflict, list_conflicts, resolve, set_remote
from vault.sync.remote import RemoteFolder

pytestmark = pytest.mark.syncthing

CONFLICT_MARK = ".sync-conflict-"


def _visible(vault: Vault) -> dict[str, object]:
    """What a person sees; of a conflict, every competing version (each device shows its own
    first, but the versions that compete are the same everywhere)."""
    out: dict[str, object] = {}
    for n in vault.all_notes():
        if n.conflict:
            versions = get_conflict(vault, n.id)
            assert versions is not None
            out[n.id] = sorted(
                (v.item.title, v.item.body) for v in versions.versions if v.item is not None
            )
        else:
            out[n.id] = (n.title, n.body)
    return out


def _conflict_copies(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(f"*{CONFLICT_MARK}*") if p.is_file()]


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and not p.relative_to(folder).as_posix().startswith(".st")
    }


def test_two_vaults_through_syncthing(tmp_path: Path, make_vault: Callable[..., tuple]) -> None:
    require_syncthing()
    ra, rb = tmp_path / "replica-a", tmp_path / "replica-b"
    with SyncthingCluster(tmp_path / "st", [ra, rb], rescan_interval_s=5) as cluster:
        a, _ = make_vault(tmp_path / "vault-a")
        merged = a.create_note("Merged", "one\ntwo\nthree\nfour\n", tags=["shared"])
        clash = a.create_note("Clash", "original\n")
        doomed = a.create_note("Doomed", "will be purged on a, edited on b\n")
        set_remote(a.store, ra)  # Syncthing's .stfolder marker does not make it "not empty"
        SyncEngine(a).sync()
        cluster.wait_in_sync()

        b, _ = clone(rb, tmp_path / "vault-b", password=PASSWORD)
        try:
            assert _visible(b) == _visible(a)
            cluster.wait_in_sync()  # b's key slots reach a's copy

            # --- apart: daemon 0 paused, both devices edit and sync into their own copy ---
            cluster.pause(0)
            a.update_note(a.note(merged.id), body="ONE (a)\ntwo\nthree\nfour\n")
            b.update_note(b.note(merged.id), body="one\ntwo\nthree\nFOUR (b)\n")
            a.update_note(a.note(clash.id), body="a's version\n")
            b.update_note(b.note(clash.id), body="b's version\n")
            a.purge_note(a.note(doomed.id))
            b.update_note(b.note(doomed.id), body="b kept editing\n")
            SyncEngine(a).sync()
            SyncEngine(b).sync()

            # The same new path written on both sides while apart: a's newest log file, and
            # on b's side a damaged copy of it (as a backup restore or a broken upload might
            # leave). Newer, so Syncthing keeps the damaged one under the real name and turns
            # a's intact file into a .sync-conflict- copy.
            newest = max((ra / "log" / a.store.device_id).iterdir())
            rel = newest.relative_to(ra)
            (rb / rel).parent.mkdir(parents=True, exist_ok=True)
            (rb / rel).write_bytes(newest.read_bytes()[:100])
            later = time.time() + 30
            os.utime(rb / rel, (later, later))
            cluster.scan()

            # --- together again ---
            cluster.resume(0)
            cluster.wait_in_sync()
            copies = _conflict_copies(ra) + _conflict_copies(rb)
            assert copies, "Syncthing made no conflict copy"
            for _ in range(3):
                SyncEngine(a).sync()
                SyncEngine(b).sync()
                cluster.wait_in_sync()
            report_a = SyncEngine(a).sync()
            report_b = SyncEngine(b).sync()
            for report in (report_a, report_b):
                assert not report.rollbacks and not report.pending, report.lines()

            assert _visible(a) == _visible(b)
            assert a.note(merged.id).body == "ONE (a)\ntwo\nthree\nFOUR (b)\n"
            assert a.note(doomed.id).body == "b kept editing\n"  # the edit beat the purge
            titles = [n.title for n in a.all_notes()]
            assert sorted(titles) == sorted(set(titles))  # no duplicates from the copies
            conflicts_a, conflicts_b = list_conflicts(a), list_conflicts(b)
            assert [c.item_id for c in conflicts_a] == [c.item_id for c in conflicts_b]
            assert [c.item_id for c in conflicts_a] == [clash.id]
            assert conflicts_a[0].mine.item.body == "a's version\n"
            assert conflicts_b[0].mine.item.body == "b's version\n"

            resolve(b, clash.id, "theirs")
            SyncEngine(b).sync()
            cluster.wait_in_sync()
            SyncEngine(a).sync()
            assert a.note(clash.id).body == b.note(clash.id).body == "a's version\n"
            assert not list_conflicts(a) and not list_conflicts(b)
            # The owner tidied Syncthing's copy away once its content was safe in the log,
            # and repaired the damaged file: both copies of the folder hold the same files.
            cluster.wait_in_sync()
            assert not _conflict_copies(ra) and not _conflict_copies(rb)
            assert _tree(ra) == _tree(rb)
            assert not SyncEngine(b, RemoteFolder(rb)).sync().pending
        finally:
            b.lock()


def test_three_devices_in_a_ring_of_pauses_converge(
    tmp_path: Path, make_vault: Callable[..., tuple]
) -> None:
    """Three daemons; in each round one is paused while the other two edit, sync and exchange,
    then it comes back: partial delivery of edits and of merges, as a ring of laptops going to
    sleep gives. Each device edits only its own lines, so nothing may conflict."""
    require_syncthing()
    replicas = [tmp_path / f"replica-{i}" for i in range(3)]
    lines = [f"line {i}\n" for i in range(9)]
    with SyncthingCluster(tmp_path / "st", replicas, rescan_interval_s=5) as cluster:
        first, _ = make_vault(tmp_path / "vault-0")
        note = first.create_note("Ring", "".join(lines))
        set_remote(first.store, replicas[0])
        SyncEngine(first).sync()
        cluster.wait_in_sync()
        vaults = [first]
        try:
            for i in (1, 2):
                vaults.append(clone(replicas[i], tmp_path / f"vault-{i}", password=PASSWORD)[0])
                cluster.wait_in_sync()
            last: dict[int, str] = {}
            for rnd in range(3):
                asleep = rnd % 3
                cluster.pause(asleep)
                for i, vault in enumerate(vaults):
                    body = vault.note(note.id).body.splitlines(keepends=True)
                    last[i] = f"device {i} round {rnd}\n"
                    body[3 * i] = last[i]
                    vault.update_note(vault.note(note.id), body="".join(body))
                    SyncEngine(vault).sync()
                awake = [i for i in range(3) if i != asleep]
                cluster.wait_in_sync()
                for i in awake:
                    SyncEngine(vaults[i]).sync()
                cluster.resume(asleep)
            cluster.wait_in_sync()
            for _ in range(3):
                for vault in vaults:
                    SyncEngine(vault).sync()
                cluster.wait_in_sync()
            bodies = {vault.note(note.id).body for vault in vaults}
            assert len(bodies) == 1, bodies
            body = bodies.pop()
            assert all(line in body for line in last.values()), body
            for vault in vaults:
                assert not list_conflicts(vault)
                assert len(vault.store.heads(note.id)) == 1
        finally:
            for vault in vaults[1:]:
                vault.lock()


def test_attachments_through_syncthing(tmp_path: Path, make_vault: Callable[..., tuple]) -> None:
    """The list arrives with the note, the bytes through the daemon; a purge frees them in
    every copy of the folder."""
    import io

    from vault.notes.attachments import blob_store

    require_syncthing()
    ra, rb = tmp_path / "replica-a", tmp_path / "replica-b"
    with SyncthingCluster(tmp_path / "st", [ra, rb], rescan_interval_s=5) as cluster:
        a, _ = make_vault(tmp_path / "vault-a")
        note = a.create_note("Receipts", "see the scan")
        set_remote(a.store, ra)
        SyncEngine(a).sync()
        cluster.wait_in_sync()
        b, _ = clone(rb, tmp_path / "vault-b", password=PASSWORD)
        try:
            data = os.urandom(3 * 1024 * 1024 + 7)
            src = tmp_path / "scan.pdf"
            src.write_bytes(data)
            att = a.attach(note.id, src)
            assert SyncEngine(a).sync().attachments_sent == 1
            cluster.wait_in_sync()
            report = SyncEngine(b).sync()
            assert report.attachments_received == 1, report
            out = io.BytesIO()
            b.save_attachment(note.id, "scan.pdf", out)
            assert out.getvalue() == data

            a.purge_note(a.note(note.id))
            for vault in (a, b, a):
                for path in (vault.path / "blobs").glob("*.blob"):
                    os.utime(path, (time.time() - 3600,) * 2)
                SyncEngine(vault).sync()
                cluster.wait_in_sync()
            assert blob_store(a).names() == blob_store(b).names() == set()
            for replica in (ra, rb):
                assert not list(replica.rglob(f"{att.blob}.blob"))
        finally:
            b.lock()
            a.lock()
