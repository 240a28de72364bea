"""One sync run's state, and reading and recording the chain files of the folder.

`RunState` is the base of a run (vault.sync.engine._Run): what the run knows (the files
recorded per device, acknowledgements, what was judged or refused) and the steps every phase
shares: reading a device's file, verifying it, recording its operations. The phases build on
it: vault.sync.ingest (pulling, and checking this device's own files), vault.sync.publish
(writing this device's new files) and vault.sync.tidy (compaction, removing what is no longer
needed, erasing purged history).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from vault.errors import IntegrityError, UnsupportedFormatError, VaultError
from vault.notes.vault import Vault
from vault.sealing import crypto
from vault.sealing.envelope import short, upgrade_envelope
from vault.storage.store import Op
from vault.sync.layout import SNAPSHOT, ChainName, chain_file_name, content_hash
from vault.sync.reading import ReadBudget, Rejections
from vault.sync.remote import Entry, HashMismatch, RemoteFolder, Unreadable
from vault.sync.report import Pending, ProgressCallback
from vault.sync.segments import ChainFile, open_file, sync_key, verify_file
from vault.sync.state import ACKS, JUDGED, OWN_SEEN, RESERVED, WALLS, FileRecord, SyncState


class RunSettings(Protocol):
    """What a run reads from the engine that starts it (vault.sync.engine.SyncEngine)."""

    vault: Vault
    state: SyncState
    compact_after: int
    ack_lag: int
    retire_days: int
    clock: Callable[[], int]


# Operations per segment: big enough that a first sync of 10,000 notes is a handful of files,
# small enough that a progress bar moves and no single file is huge.
OPS_PER_SEGMENT = 2000
DAY_MS = 24 * 3600 * 1000


@dataclass
class Candidate:
    name: ChainName
    entry: Entry
    data: bytes | None = None  # already read (an odd-named copy)


@dataclass
class Tally:
    pulled: int = 0
    pushed: int = 0
    read: int = 0
    written: int = 0
    repaired: int = 0
    removed: int = 0
    pending: list[Pending] = field(default_factory=list)
    rollbacks: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tombstoned: set[str] = field(default_factory=set)


class RunState:
    """One sync run (a fresh object each time: nothing carries over in memory)."""

    def __init__(
        self, engine: RunSettings, remote: RemoteFolder, progress: ProgressCallback | None
    ) -> None:
        self.engine = engine
        self.vault = engine.vault
        self.store = engine.vault.store
        self.state = engine.state
        self.remote = remote
        self.progress = progress or (lambda phase, done, total: None)
        self.me = self.store.device_id
        self.key = sync_key(self.vault.master_key)
        self.t = Tally()
        self.files = self.state.files()
        self.acks: dict[str, dict[str, int]] = self.state.get_json(ACKS, {})
        self.walls: dict[str, int] = self.state.get_json(WALLS, {})
        # Odd-named files already read: "device/name" -> size, or [size, position] for a copy
        # that verified as the device's file at that position (it still shows the position).
        self.judged: dict[str, int | list[int]] = self.state.get_json(JUDGED, {})
        self.copies: list[tuple[str, Entry, tuple[int, str]]] = []  # copies of listed files
        # device -> (position of its newest new snapshot, the files that snapshot replaces)
        self.replaced: dict[str, tuple[int, list[Candidate]]] = {}
        self.visible: set[str] = set()  # other devices with files in the folder
        self.damaged: list[FileRecord] = []  # own files the folder lost or corrupted
        self.own_listed: dict[str, Entry] = {}
        self.own_odd: list[Entry] = []
        # Own files whose bytes were checked, at the modification time they had then: one
        # that changes (a daemon put another device's damaged copy in its place) is checked
        # again, so the owner notices damage its size does not show.
        self.own_seen: dict[str, int] = self.state.get_json(OWN_SEEN, {})
        self.own_refused: str | None = None  # why this device's log folder cannot be used
        self.rejected = Rejections.load(self.state)
        self.budget = ReadBudget.for_run()

    # --- reading and recording files ------------------------------------------------------

    def _read(self, device: str, cand: Candidate, *, content: bool = True) -> ChainFile | None:
        chain = self._read_chain(device, cand, content=content)
        if cand.data is not None:
            # An odd-named copy is not part of any log: once judged (used, or found to be
            # garbage), it is not read again unless its size changes; one that verified still
            # shows its position (its owner's file may be gone under the canonical name).
            size = cand.entry.size
            judged = [size, chain.seq] if chain is not None else size
            self.judged[f"{device}/{cand.entry.name}"] = judged
            if chain is None:
                self.t.pending = [p for p in self.t.pending if p.file != cand.entry.name]
        return chain

    def _read_chain(
        self, device: str, cand: Candidate, *, content: bool = True
    ) -> ChainFile | None:
        """The file, verified (and, with `content`, opened); None, with a Pending, if not."""
        where = f"{short(device)}/{cand.entry.name}"
        data = cand.data
        if data is None:
            refused = self.rejected.known(device, cand.entry)
            if refused is not None:  # unchanged since a run refused it: not read again
                self.t.pending.append(Pending(device, cand.entry.name, refused))
                return None
            if not self.budget.allows(cand.entry.size):
                self.t.pending.append(Pending(device, cand.entry.name, ReadBudget.deferred()))
                return None
            try:
                data = self.remote.read(device, cand.entry.name, expect_hash=cand.name.hash)
            except HashMismatch:
                data = b""  # judged below, as a file whose bytes do not match its name
            except Unreadable as exc:
                self.t.pending.append(Pending(device, cand.entry.name, f"unreadable now ({exc})"))
                return None
            self.budget.spend(cand.entry.size)
            self.t.read += 1
        reason = None
        chain = None
        if content_hash(data) != cand.name.hash:
            reason = "incomplete or damaged (hash does not match)"
        else:
            try:
                chain = (open_file if content else verify_file)(
                    self.key, self.vault.vault_id, data, where
                )
                if chain.seq != cand.name.seq or chain.kind != cand.name.kind:
                    reason, chain = "misnamed; not applied", None
            except UnsupportedFormatError as exc:
                reason = str(exc)
            except IntegrityError:
                reason = "does not verify"
        if chain is None:
            assert reason is not None
            self.t.pending.append(Pending(device, cand.entry.name, reason))
            if cand.data is None:
                self.rejected.remember(device, cand.entry, reason)
            return None
        self.rejected.forget(device, cand.entry.name)
        return chain

    def _record(
        self, rec: FileRecord, ops: list[Op], *, chain: ChainFile | None = None, mine: bool = False
    ) -> None:
        """Apply a chain file: its operations, and the fact that it was applied, at once."""
        checked = self._verified(ops, rec)
        with self.store.transaction() as db:
            added = self.store.ingest(checked)
            SyncState.mark_known(db, [op.op_id for op in ops], mine=mine)
            SyncState.record_file(db, rec)
            if rec.kind == SNAPSHOT:
                SyncState.forget_files(db, rec.device, rec.seq)
            if chain is not None and chain.device != self.me:
                newest = max(self.files.get(rec.device, {}), default=0)
                if chain.seq >= newest:
                    self.acks[rec.device] = chain.acks
                    self.walls[rec.device] = chain.wall
                    SyncState.set_json(db, ACKS, self.acks)
                    SyncState.set_json(db, WALLS, self.walls)
        known = self.files.setdefault(rec.device, {})
        if rec.kind == SNAPSHOT:
            for seq in [s for s in known if s < rec.seq]:
                del known[seq]
        known.setdefault(rec.seq, []).append(rec)
        self.t.pulled += len(added)
        # Only notes are purged (tombstone + erased history); other deletions keep history.
        self.t.tombstoned.update(op.item_id for op in added if op.deleted and op.kind == "note")

    def _verified(self, ops: list[Op], rec: FileRecord) -> list[Op]:
        """The operations of a file that are new here, each checked against its envelope: a
        format 2 envelope must answer for the op's claims; a version 1 file's are sealed anew
        with them (the file's own AEAD authenticated the claims). One that fails is not
        applied, and said so."""
        result = []
        items_key = crypto.subkey(self.vault.master_key, crypto.Label.ITEMS)
        for op in ops:
            if self.store.has_op(op.op_id):
                continue
            try:
                envelope = upgrade_envelope(items_key, self.vault.vault_id, op.claims, op.envelope)
            except VaultError as exc:
                self.t.warnings.append(
                    f"device {short(rec.device)}'s file {rec.seq} holds a version that does not "
                    f"verify; not applied ({exc})"
                )
                continue
            result.append(replace(op, envelope=envelope) if envelope != op.envelope else op)
        return result

    def _sendable(self, ops: list[Op]) -> tuple[list[Op], list[Op]]:
        """(verified, refused): an operation goes into the folder only if its envelope answers
        for everything its row claims. A row someone wrote into the store without the key (a
        forged deletion, a rewritten parent) is refused and reported, never published."""
        good, bad = [], []
        for op in ops:
            try:
                self.vault.open_op(op)
            except VaultError:
                bad.append(op)
                continue
            good.append(op)
        for op in bad:
            self.t.warnings.append(
                f"a version of {op.kind} {short(op.item_id)} in this vault does not verify "
                "(tampered?); it was not sent: `vault check` shows more"
            )
        return good, bad

    def _reserved(self) -> int:
        device, _, seq = (self.store.meta(RESERVED) or "").partition(":")
        return int(seq) if device == self.me and seq.isdigit() else 0

    def _my_acks(self) -> dict[str, int]:
        return {d: covered_upto(recs) for d, recs in self.files.items() if d != self.me and recs}


def record_name(rec: FileRecord) -> str:
    return chain_file_name(rec.seq, rec.hash, rec.kind)


def wrote(rec: FileRecord) -> Callable[[bytes], bool]:
    """Are these the very bytes this device recorded writing as `rec`?"""
    return lambda data: content_hash(data) == rec.hash and rec.size in (-1, len(data))


def judged_size(judged: int | list[int] | None) -> int | None:
    return judged[0] if isinstance(judged, list) else judged


def positions(first: int, last: int) -> str:
    return f"file {first}" if first == last else f"files {first}-{last}"


def covered_upto(known: dict[int, list[FileRecord]]) -> int:
    """The highest position up to which a device's log has been applied without a gap."""
    snaps = [s for s, recs in known.items() if any(r.kind == SNAPSHOT for r in recs)]
    covered = max(snaps, default=0)
    while covered + 1 in known:
        covered += 1
    return covered
