"""A hostile sync daemon, simulated in-process, over many random seeds.

Each device has its own replica of the shared folder (a real folder on disk) and its own real
vault (real SQLite, real crypto, tiny KDF). A simulated daemon copies files between replicas the
way real ones misbehave: late, out of order, half-written, as zero-byte placeholders, with
Dropbox / Syncthing / OneDrive / Google Drive style conflict copies, hiding files for a while,
truncating a file on every replica for good. Devices are killed in the middle of syncs (before
and after their writes land, between applied files), and their clocks are skewed by days.

After the storm the daemon behaves, every device syncs a few rounds, and then: every device
holds every operation any device ever saved, all show the same items with the same content,
no file is pending, no rollback is reported, and the folder's file count stays bounded. During
the storm, a sync never makes an item disappear that no one deleted.

VAULT_SIM_SEEDS sets how many seeds run (default 50); a failure names its seed, and a seed
replays exactly (ids, nonces and clock readings come from seeded sources).
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from vault.errors import VaultError
from vault.notes.model import Note
from vault.notes.vault import Vault
from vault.sealing.crypto import TEST_KDF
from vault.sync import SyncEngine, clone, list_conflicts, resolve, set_remote
from vault.sync.remote import RemoteFolder

SEEDS = int(os.environ.get("VAULT_SIM_SEEDS", "50"))
REKEY_SEEDS = max(4, SEEDS // 5)
DAY_MS = 24 * 3600 * 1000
COMPACT_AFTER = 4  # small, so compaction and its acknowledgements run often
SKEW_MS = [0]  # the clock skew of the device acting now (notes carry its times)


class SimKill(BaseException):
    """The process died here (BaseException: nothing in the engine may swallow it)."""


def _listing(root: Path) -> dict[str, tuple[int, int]]:
    """Relative path -> (size, mtime) of every file a daemon would copy (not hidden ones)."""
    out = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel_folder = os.path.relpath(folder, root)
        for name in sorted(names):
            if name.startswith("."):
                continue
            st = os.stat(os.path.join(folder, name))
            rel = name if rel_folder == "." else f"{rel_folder}/{name}"
            out[rel] = (st.st_size, st.st_mtime_ns)
    return out


def _put(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _is_copy(rel: str) -> bool:
    name = rel.rpartition("/")[2]
    return " " in name or "sync-conflict" in name or "-DESKTOP" in name


def _vendor_copy(rng: random.Random, rel: str) -> str:
    folder, _, name = rel.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    style = rng.choice(
        [
            f"{stem} (conflicted copy 2026-11-22).{ext}",
            f"{stem} (Jane's conflicted copy 2026-11-21).{ext}",
            f"{stem}.sync-conflict-20261122-101010-ABCDEFG.{ext}",
            f"{stem}-DESKTOP-7QK3.{ext}",
            f"{stem} (1).{ext}",
        ]
    )
    return f"{folder}/{style}" if dot else f"{folder}/{name} (1)"


@dataclass
class Delivery:
    target: int
    rel: str
    due: int


class Daemon:
    """Copies files between replicas, badly, but in the end faithfully: it keeps the truth
    (each path's latest content as its writer left it, or None once deleted) and every
    misbehaviour is a passing view of it, except truncation, which damages the truth itself
    (a file broken for good on every replica), and conflict copies, which stay like any file.
    Per replica it remembers what it put there, to tell a device's own changes from its own."""

    def __init__(self, rng: random.Random, replicas: list[Path]) -> None:
        self.rng = rng
        self.replicas = replicas
        self.truth: dict[str, bytes | None] = {}
        self.seen: list[dict[str, bytes]] = [{} for _ in replicas]
        self.sigs: list[dict[str, tuple[int, int]]] = [{} for _ in replicas]
        self.queue: list[Delivery] = []
        self.hidden: set[tuple[int, str]] = set()
        self.now = 0
        self.hostile = True

    def _files(self, i: int) -> dict[str, bytes]:
        """What replica i holds now (reading only files that changed since last look)."""
        root = self.replicas[i]
        listing = _listing(root)
        out = {}
        for rel, sig in listing.items():
            if self.sigs[i].get(rel) == sig and rel in self.seen[i]:
                out[rel] = self.seen[i][rel]
            else:
                out[rel] = (root / rel).read_bytes()
        self.sigs[i] = listing
        return out

    def scan(self, i: int) -> None:
        """Notice what device i changed in its replica and schedule copies to the others."""
        current = self._files(i)
        before = self.seen[i]
        for rel, data in current.items():
            if before.get(rel) != data:
                self.truth[rel] = data
                self._broadcast(i, rel)
        for rel in before:
            if rel not in current and (i, rel) not in self.hidden:
                self.truth[rel] = None
                self._broadcast(i, rel)
        self.seen[i] = current

    def _broadcast(self, origin: int, rel: str) -> None:
        for j in range(len(self.replicas)):
            if j != origin:
                delay = self.rng.randint(0, 6) if self.hostile else 0
                self.queue.append(Delivery(j, rel, self.now + delay))

    def _set(self, i: int, rel: str, data: bytes | None) -> None:
        root = self.replicas[i]
        if data is None:
            (root / rel).unlink(missing_ok=True)
            self.seen[i].pop(rel, None)
            self.sigs[i].pop(rel, None)
        else:
            _put(root, rel, data)
            self.seen[i][rel] = data
            st = (root / rel).stat()
            self.sigs[i][rel] = (st.st_size, st.st_mtime_ns)

    def step(self) -> None:
        """Deliver some due files, in random order, misbehaving along the way."""
        self.now += 1
        rng = self.rng
        due = [d for d in self.queue if d.due <= self.now]
        rng.shuffle(due)
        for d in due[: rng.randint(0, len(due))]:
            self.queue.remove(d)
            self._deliver(d)
        for i, rel in list(self.hidden):
            if rng.random() < 0.3:
                self.hidden.discard((i, rel))
                self._set(i, rel, self.truth.get(rel))
        if rng.random() < 0.15:
            self._hide()
        if rng.random() < 0.04:
            self._truncate_everywhere()

    def _deliver(self, d: Delivery) -> None:
        rng = self.rng
        data = self.truth.get(d.rel)
        if (d.target, d.rel) in self.hidden:
            return  # shown again later, as the truth is then
        if data is None:
            self._set(d.target, d.rel, None)
            return
        if self.hostile and rng.random() < 0.25 and len(data) > 1:
            # Half-written or a placeholder now, the real thing later.
            partial = b"" if rng.random() < 0.4 else data[: rng.randint(1, len(data) - 1)]
            self._set(d.target, d.rel, partial)
            self.queue.append(Delivery(d.target, d.rel, self.now + rng.randint(1, 4)))
            return
        self._set(d.target, d.rel, data)
        if self.hostile and rng.random() < 0.1 and not _is_copy(d.rel):
            copy = _vendor_copy(rng, d.rel)
            self.truth[copy] = data if rng.random() < 0.7 else data[: len(data) // 2]
            for j in range(len(self.replicas)):
                self.queue.append(Delivery(j, copy, self.now + rng.randint(0, 3)))

    def _hide(self) -> None:
        i = self.rng.randrange(len(self.replicas))
        files = [r for r in _listing(self.replicas[i]) if r.startswith("log/")]
        if files:
            rel = self.rng.choice(files)
            (self.replicas[i] / rel).unlink()
            self.hidden.add((i, rel))

    def _truncate_everywhere(self) -> None:
        """A file damaged on every replica, for good (its owner must notice and repair)."""
        files = [r for r, data in self.truth.items() if data and r.startswith("log/")]
        if not files:
            return
        rel = self.rng.choice(sorted(files))
        data = self.truth[rel]
        assert data is not None
        self.truth[rel] = data[: len(data) // 2]
        for j, root in enumerate(self.replicas):
            if (root / rel).exists():
                self._set(j, rel, self.truth[rel])

    def settle(self) -> None:
        """Behave from now on: show everything, deliver everything, in full."""
        self.hostile = False
        self.hidden.clear()
        for i in range(len(self.replicas)):
            self.scan(i)
        self.queue.clear()
        for i in range(len(self.replicas)):
            current = self._files(i)
            for rel, data in self.truth.items():
                if current.get(rel) != data:
                    self._set(i, rel, data)


class KillingFolder(RemoteFolder):
    """A device's replica whose process dies after `budget` folder operations."""

    def __init__(self, path: Path, budget: int, rng: random.Random) -> None:
        super().__init__(path)
        self.budget = budget
        self.rng = rng

    def _tick(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise SimKill()

    def write(self, device: str, name: str, data: bytes, area: str = "log") -> None:
        self._tick()
        if self.budget == 0 and self.rng.random() < 0.5:
            # Killed half-way through writing the temporary file: it stays behind.
            folder = self.path / area / device
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f".{name}.dead.tmp").write_bytes(data[: len(data) // 2])
            raise SimKill()
        super().write(device, name, data, area)
        self._tick()  # killed right after the file landed, before it was recorded

    def delete(self, device: str, name: str, area: str = "log", *, check):  # type: ignore[no-untyped-def]
        self._tick()
        return super().delete(device, name, area, check=check)


@dataclass
class Device:
    index: int
    vault: Vault
    replica: Path
    skew_ms: int
    purged: set[str] = field(default_factory=set)


def _live(vault: Vault) -> set[str]:
    return {r.item_id for r in vault.store.items()}


def _state(vault: Vault) -> dict[str, object]:
    """Everything a person sees, decrypted, plus the heads (equal heads: equal history tips).

    Of a conflict, every competing version: which one a device shows first is its own (the
    one written there, so a person keeps editing their own text), but the versions that
    compete are the same everywhere."""
    vault.refresh()
    out: dict[str, object] = {}
    for row in vault.store.items(include_deleted=True):
        heads = vault.store.heads(row.item_id)
        content: object = None
        if len(heads) > 1:
            content = sorted(
                json.dumps(vault.open_op(h), sort_keys=True) for h in heads if not h.deleted
            )
        elif not row.deleted:
            content = vault.open_op(row)
        out[row.item_id] = (row.deleted, tuple(sorted(h.op_id for h in heads)), content)
    return out


def _ops(vault: Vault) -> set[str]:
    return {op.op_id for op in vault.store.all_ops()}


class Sim:
    def __init__(self, seed: int, root: Path, *, rekeys: bool = False) -> None:
        self.seed = seed
        self.rekeys = rekeys
        self.rng = random.Random(seed)
        self.root = root
        n = self.rng.randint(3, 7)
        self.replicas = [root / f"replica{i}" for i in range(n)]
        for r in self.replicas:
            r.mkdir(parents=True)
        self.daemon = Daemon(self.rng, self.replicas)
        self.devices: list[Device] = []
        self.all_ops: set[str] = set()
        first, _ = Vault.create(root / "dev0", PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
        first.create_note("Shared", "one\ntwo\nthree\nfour\nfive\n", tags=["seed"])
        set_remote(first.store, self.replicas[0])
        self.devices.append(Device(0, first, self.replicas[0], 0))
        self.engine(self.devices[0]).sync()
        self.daemon.settle()
        self.daemon.hostile = True
        for i in range(1, n):
            vault, _ = clone(self.replicas[i], root / f"dev{i}", password=PASSWORD)
            skew = self.rng.choice([0, 0, -40 * DAY_MS, 3 * DAY_MS, -3_600_000])
            self.devices.append(Device(i, vault, self.replicas[i], skew))

    def engine(self, dev: Device, folder: RemoteFolder | None = None) -> SyncEngine:
        return SyncEngine(
            dev.vault,
            folder or RemoteFolder(dev.replica),
            compact_after=COMPACT_AFTER,
            ack_lag=2,
            clock=lambda: int(time.time() * 1000) + dev.skew_ms,
        )

    def act(self, dev: Device) -> None:
        """One thing a person does on this device, with this device's (skewed) clock."""
        SKEW_MS[0] = dev.skew_ms
        try:
            self._act(dev)
        finally:
            SKEW_MS[0] = 0
        self.all_ops |= _ops(dev.vault)

    def _act(self, dev: Device) -> None:
        rng = self.rng
        v = dev.vault
        if self.rekeys and rng.random() < 0.08:
            # A rotation that travels: every other device follows it when the record reaches
            # its replica, whatever else the daemon delivers first or late.
            v.rekey(PASSWORD, travel=True)
            return
        notes = [n for n in v.all_notes()]
        conflicts = list_conflicts(v)
        roll = rng.random()
        if conflicts and roll < 0.3:
            conflict = rng.choice(conflicts)
            choice = rng.choice(["mine", "theirs", "both"] if conflict.kind == "note" else ["mine"])
            theirs = conflict.theirs[-1].version if choice == "theirs" else None
            resolve(v, conflict.item_id, choice, theirs)
        elif roll < 0.2 or not notes:
            v.create_note(f"n{rng.randrange(1000)}", "alpha\nbeta\ngamma\n", tags=["t"])
        elif roll < 0.65:
            note = rng.choice(notes)
            lines = note.body.splitlines() or [""]
            k = rng.randrange(len(lines))
            lines[k] = f"{lines[k]} d{dev.index}"
            v.update_note(note, body="\n".join(lines) + "\n")
        elif roll < 0.75:
            note = rng.choice(notes)
            v.update_note(note, title=f"{note.title}.{dev.index}")
        elif roll < 0.82:
            note = rng.choice(notes)
            v.update_note(note, tags=[*note.tags, f"tag{rng.randrange(3)}"])
        elif roll < 0.9:
            note = rng.choice(notes)
            (v.restore_note if note.in_trash else v.trash_note)(note)
        else:
            note = rng.choice(notes)
            dev.purged.add(note.id)
            v.purge_note(note)

    def sync(self, dev: Device, *, hostile: bool) -> None:
        before = _live(dev.vault)
        folder: RemoteFolder | None = None
        progress = None
        if hostile and self.rng.random() < 0.3:
            folder = KillingFolder(dev.replica, self.rng.randint(0, 6), self.rng)
        elif hostile and self.rng.random() < 0.1:
            limit = self.rng.randint(1, 3)

            def progress(phase: str, done: int, total: int) -> None:
                if phase == "receiving" and done >= limit:
                    raise SimKill()

        try:
            report = self.engine(dev, folder).sync(progress)
        except SimKill:
            report = None
        except VaultError as exc:  # e.g. the header is still a placeholder on this replica
            assert hostile, f"seed {self.seed}: device {dev.index}: {exc}"
            report = None
        # Hiding, truncating or delaying files never makes anything disappear here.
        gone = before - _live(dev.vault)
        purged = set().union(*(d.purged for d in self.devices))
        assert gone <= purged, f"seed {self.seed}: device {dev.index} lost {sorted(gone)}"
        if not hostile:
            assert report is not None
        self.all_ops |= _ops(dev.vault)
        self.daemon.scan(dev.index)

    def run(self) -> None:
        rng = self.rng
        steps = rng.randint(20, 45)
        forced = rng.randrange(steps) if self.rekeys else -1  # at least one rotation
        for step in range(steps):
            dev = rng.choice(self.devices)
            if step == forced:
                dev.vault.rekey(PASSWORD, travel=True)
            elif rng.random() < 0.55:
                self.act(dev)
            else:
                self.sync(dev, hostile=True)
            self.daemon.step()
        self.daemon.settle()
        for _ in range(3):
            for dev in self.devices:
                self.sync(dev, hostile=False)
            self.daemon.settle()
        self.check()

    def check(self) -> None:
        seed = self.seed
        reports = []
        for dev in self.devices:
            report = self.engine(dev).sync()
            reports.append(report)
            assert not report.rollbacks, f"seed {seed}: device {dev.index}: {report.rollbacks}"
            assert not report.pending, f"seed {seed}: device {dev.index}: {report.pending}"
            assert not report.waiting, f"seed {seed}: device {dev.index}: {report.waiting}"
        states = [_state(d.vault) for d in self.devices]
        for dev, state in zip(self.devices, states, strict=True):
            assert state == states[0], f"seed {seed}: device {dev.index} differs from device 0"
            # Equal is not enough: every item that is not deleted still opens (a version's
            # content erased by mistake would be equal everywhere once it travelled).
            empty = sorted(i for i, (deleted, _, c) in state.items() if not deleted and c is None)
            assert not empty, f"seed {seed}: device {dev.index}: no content for {empty}"
            missing = self.all_ops - _ops(dev.vault)
            assert not missing, f"seed {seed}: device {dev.index} lacks {len(missing)} op(s)"
        for dev in self.devices:
            # Compaction keeps each device's log short.
            logs = list((dev.replica / "log").iterdir())
            for log in logs:
                count = len([p for p in log.iterdir() if not p.name.startswith(".")])
                assert count <= 3 * COMPACT_AFTER + 8, f"seed {seed}: {log.name} has {count}"
        # Notes no one purged are all still there.
        purged = set().union(*(d.purged for d in self.devices))
        alive = {i for i, (deleted, _, c) in states[0].items() if not deleted}
        notes_ever = {
            op.item_id for op in self.devices[0].vault.store.all_ops() if op.kind == "note"
        }
        assert notes_ever - purged <= alive, f"seed {seed}: notes vanished"
        if self.rekeys:
            keys_ = {d.vault.store.master_id for d in self.devices}
            assert len(keys_) == 1, f"seed {seed}: devices ended on {len(keys_)} keys"
            # A clone made now, from any replica, equals them.
            fresh, report = clone(self.replicas[-1], self.root / "fresh", password=PASSWORD)
            try:
                assert fresh.store.master_id in keys_, f"seed {seed}: the clone's key differs"
                assert not report.pending, f"seed {seed}: clone: {report.pending}"
                assert _state(fresh) == states[0], f"seed {seed}: a fresh clone differs"
            finally:
                fresh.lock()

    def close(self) -> None:
        for dev in self.devices:
            dev.vault.lock()


def reproducible_ids(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """Ids, salts, nonces and clock readings from seeded sources, so a failing seed replays
    exactly (the crypto is unchanged; only where its randomness and time come from)."""
    source = random.Random(seed * 7919 + 1)
    monkeypatch.setattr(os, "urandom", source.randbytes)
    ticks = iter(range(10**12))
    start = 1_795_000_000.0  # 2026-11-18; the clock moves a millisecond per reading
    monkeypatch.setattr(time, "time", lambda: start + (next(ticks) + SKEW_MS[0]) / 1000)


@pytest.fixture
def sim_root(tmp_path: Path) -> Iterator[Path]:
    """A folder in memory where there is one: the simulation tests logic, not the disk, and
    thousands of fsyncs on a shared disk would make it slow for nothing."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        with tempfile.TemporaryDirectory(dir=shm, prefix="vault-sim-") as root:
            yield Path(root)
    else:
        yield tmp_path


@pytest.mark.parametrize("seed", range(SEEDS))
def test_hostile_folder(seed: int, sim_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reproducible_ids(monkeypatch, seed)
    sim = Sim(seed, sim_root)
    try:
        sim.run()
    finally:
        sim.close()


@pytest.mark.parametrize("seed", range(REKEY_SEEDS))
def test_hostile_folder_with_rekeys(
    seed: int, sim_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same storm with travelling rekeys on random devices, several at once included:
    every device ends on one key with the same items, and a fresh clone equals them."""
    reproducible_ids(monkeypatch, 50_000 + seed)
    sim = Sim(50_000 + seed, sim_root, rekeys=True)
    try:
        sim.run()
    finally:
        sim.close()


def test_concurrent_edit_and_delete_keeps_the_edit(sim_root: Path) -> None:
    sim = Sim(10_000, sim_root)
    try:
        a, b = sim.devices[0], sim.devices[1]
        note = next(n for n in a.vault.all_notes() if n.title == "Shared")
        a.vault.purge_note(note)
        edited = b.vault.update_note(b.vault.note(note.id), body="kept\n")
        for dev in (a, b, a, b):
            sim.sync(dev, hostile=False)
            sim.daemon.settle()
        for dev in (a, b):
            kept = dev.vault.note(note.id)
            assert isinstance(kept, Note) and kept.body == edited.body
            assert not kept.conflict
    finally:
        sim.close()
