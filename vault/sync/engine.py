"""The sync engine: one run pulls what other devices wrote, merges forks, publishes this
device's new operations, repairs its own damaged files and compacts its log (docs/SYNC.md).

    engine = SyncEngine(vault)               # the folder from `vault remote set` or the config
    report = engine.sync(progress=callback)  # SyncReport: counts, conflicts, pending, rollbacks
    engine.status()                          # SyncStatus, without touching the folder

Safety rests on four rules. A file is applied only once its bytes match the hash in its name
and it verifies under the vault's sync key; anything else is "pending" and retried, never read
as a deletion. Applying is a set union of operations (idempotent, any order), recorded in the
same transaction as the operations themselves. This device writes only under its own folders
and never changes a file once it is in place. And each device's log is a hash chain whose
position this device remembers, so a folder that goes backwards is reported, never applied.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from vault.errors import IntegrityError, RemoteError, UnsupportedFormatError, VaultError
from vault.notes.model import now_ms
from vault.notes.vault import Vault
from vault.sealing import crypto
from vault.sealing.envelope import short, upgrade_envelope
from vault.storage.store import Op, Store
from vault.sync import blob_sync, layout
from vault.sync.conflicts import auto_merge
from vault.sync.layout import SEGMENT, SNAPSHOT, ChainName, chain_file_name, content_hash
from vault.sync.locking import sync_lock
from vault.sync.notebook_merge import merge_same_path_notebooks
from vault.sync.reading import ReadBudget, Rejections, prune
from vault.sync.remote import Entry, HashMismatch, RemoteFolder, RemoteHeader, Unreadable
from vault.sync.segments import (
    ChainFile,
    open_file,
    read_header,
    seal_file,
    sync_key,
    verify_file,
)
from vault.sync.slots import publish_slots
from vault.sync.state import (
    ACKS,
    FOLDER,
    HEADER_SEEN,
    JUDGED,
    LAST,
    OWN_SEEN,
    PUBLISHED_ACKS,
    REMOTE,
    RESERVED,
    SLOTS,
    WALLS,
    FileRecord,
    SyncState,
)
from vault.wording import plural

ProgressCallback = Callable[[str, int, int], None]  # (phase, done, total)

# Operations per segment: big enough that a first sync of 10,000 notes is a handful of files,
# small enough that a progress bar moves and no single file is huge.
OPS_PER_SEGMENT = 2000
DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Pending:
    """A file that could not be used this time; it is retried on the next sync."""

    device: str
    file: str
    reason: str

    def __str__(self) -> str:
        return f"device {short(self.device)}: {self.file}: {self.reason}"


@dataclass(frozen=True)
class SyncReport:
    remote: str
    pulled: int = 0  # operations new to this vault
    pushed: int = 0  # operations this device published
    files_read: int = 0
    files_written: int = 0
    devices: int = 0  # other devices with files in the folder
    merged: tuple[str, ...] = ()  # item ids whose fork was merged on its own
    conflicts: tuple[str, ...] = ()  # item ids with versions waiting for a person
    waiting: tuple[str, ...] = ()  # item ids whose history has not fully arrived
    pending: tuple[Pending, ...] = ()
    rollbacks: tuple[str, ...] = ()  # one line each; local data was not rolled back
    warnings: tuple[str, ...] = ()
    repaired: int = 0  # own files rewritten because the folder lost or damaged them
    removed: int = 0  # own files removed by compaction
    seconds: float = 0.0
    not_sent: str | None = None  # why nothing could be sent (this device's folder is refused)
    attachments_received: int = 0  # attachment files fetched and verified (vault.sync.blob_sync)
    attachments_sent: int = 0
    attachments_waiting: int = 0  # used by a note, on no device yet: "not yet here"

    @property
    def ok(self) -> bool:
        return not self.rollbacks and self.not_sent is None

    def lines(self) -> list[str]:
        """A summary for a person, one fact per line."""
        out = [
            f"Received {plural(self.pulled, 'change')} from "
            f"{plural(self.devices, 'other device')}; sent {self.pushed}."
        ]
        if self.merged:
            out.append(f"Merged {plural(len(self.merged), 'note')} edited on more than one device.")
        if self.conflicts:
            out.append(f"{_need(len(self.conflicts))}: `vault conflicts` shows them.")
        if self.waiting:
            out.append(
                f"{plural(len(self.waiting), 'item')} waiting for older versions still arriving."
            )
        if self.attachments_received or self.attachments_sent:
            out.append(
                f"Attachments: received {self.attachments_received}, sent {self.attachments_sent}."
            )
        if self.attachments_waiting:
            out.append(
                f"{plural(self.attachments_waiting, 'attachment')} not here yet (the device "
                "that added it has not sent it)."
            )
        for p in self.pending:
            out.append(f"Pending (retried next time): {p}")
        for w in self.warnings:
            out.append(f"Warning: {w}")
        if self.repaired:
            out.append(
                f"Rewrote this device's log: {plural(self.repaired, 'file')} lost or damaged."
            )
        for r in self.rollbacks:
            out.append(f"ROLLBACK: {r}")
        return out

    def to_json(self) -> dict[str, object]:
        return {
            "remote": self.remote,
            "pulled": self.pulled,
            "pushed": self.pushed,
            "files_read": self.files_read,
            "files_written": self.files_written,
            "devices": self.devices,
            "merged": list(self.merged),
            "conflicts": list(self.conflicts),
            "waiting": list(self.waiting),
            "pending": [
                {"device": p.device, "file": p.file, "reason": p.reason} for p in self.pending
            ],
            "rollbacks": list(self.rollbacks),
            "warnings": list(self.warnings),
            "repaired": self.repaired,
            "removed": self.removed,
            "not_sent": self.not_sent,
            "attachments": {
                "received": self.attachments_received,
                "sent": self.attachments_sent,
                "waiting": self.attachments_waiting,
            },
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class SyncStatus:
    """What the footer of the app shows; computed without touching the folder."""

    remote: str | None
    last_sync: int | None  # ms since the epoch of the last run that finished
    last_error: str | None  # the last run's one-line error, if it failed
    unpushed: int  # local changes not yet in the folder
    conflicts: int
    pending: int  # files the last run could not use yet
    rollbacks: int


def configured_remote(vault: Vault | Store, config_remote: str = "") -> Path | None:
    """The vault's own folder (`vault remote set`) or else the config's `sync.remote`."""
    store = vault.store if isinstance(vault, Vault) else vault
    value = store.meta(REMOTE) or config_remote
    return Path(value).expanduser() if value else None


def sync_status(store: Store, remote: Path | None) -> SyncStatus:
    """The last run's outcome and what waits locally; reads only the local store (no key
    needed, so `vault remote show` works on a locked vault)."""
    state = SyncState(store)
    last = state.get_json(LAST, {})
    return SyncStatus(
        remote=str(remote) if remote else None,
        last_sync=last.get("at"),
        last_error=last.get("error"),
        unpushed=state.unpushed_count(),
        conflicts=len(store.conflicted_ids()),
        pending=int(last.get("pending", 0)),
        rollbacks=int(last.get("rollbacks", 0)),
    )


class SyncEngine:
    """Syncs one unlocked vault with one folder. Cheap to create; safe to use from a worker
    thread while the vault is used elsewhere (the store is thread-safe)."""

    def __init__(
        self,
        vault: Vault,
        remote: RemoteFolder | Path | str | None = None,
        *,
        config_remote: str = "",
        compact_after: int = 32,
        ack_lag: int = 8,
        retire_days: int = 30,
        lock_timeout: float = 60.0,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.vault = vault
        self.state = SyncState(vault.store)
        if remote is None:
            remote = configured_remote(vault, config_remote)
        if isinstance(remote, str | Path):
            remote = RemoteFolder(Path(remote))
        self.remote: RemoteFolder | None = remote
        self.compact_after = compact_after
        self.ack_lag = ack_lag
        self.retire_days = retire_days
        self.lock_timeout = lock_timeout
        self.clock = clock

    def status(self) -> SyncStatus:
        return sync_status(self.vault.store, self.remote.path if self.remote else None)

    def sync(self, progress: ProgressCallback | None = None) -> SyncReport:
        if self.remote is None:
            raise RemoteError("no sync folder is set; choose one with `vault remote set DIR`")
        with sync_lock(self.vault.path, self.lock_timeout):
            started = time.monotonic()
            folder = str(self.remote.path.expanduser().resolve())
            if self.vault.store.meta(FOLDER) != folder:
                # A new folder (or the first sync): what we knew about another one is moot.
                with self.vault.store.transaction() as db:
                    SyncState.reset(db, folder)
            try:
                report = _Run(self, self.remote, progress).execute()
            except VaultError as exc:
                self._remember(error=str(exc))
                raise
            report = _with_seconds(report, time.monotonic() - started)
            self._remember(report=report)
            return report

    def _remember(self, report: SyncReport | None = None, error: str | None = None) -> None:
        last = self.state.get_json(LAST, {})
        if report is not None:
            last = {
                "at": self.clock(),
                "error": None,
                "pending": len(report.pending),
                "rollbacks": len(report.rollbacks),
                "pulled": report.pulled,
                "pushed": report.pushed,
            }
        else:
            last["error"] = error
            last["failed_at"] = self.clock()
        try:
            with self.vault.store.transaction() as db:
                SyncState.set_json(db, LAST, last)
        except VaultError:
            pass  # the status line is a convenience; the sync's own outcome stands


def _with_seconds(report: SyncReport, seconds: float) -> SyncReport:
    return replace(report, seconds=seconds)


@dataclass
class _Candidate:
    name: ChainName
    entry: Entry
    data: bytes | None = None  # already read (an odd-named copy)


@dataclass
class _Tally:
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


class _Run:
    """One sync run (a fresh object each time: nothing carries over in memory)."""

    def __init__(
        self, engine: SyncEngine, remote: RemoteFolder, progress: ProgressCallback | None
    ) -> None:
        self.engine = engine
        self.vault = engine.vault
        self.store = engine.vault.store
        self.state = engine.state
        self.remote = remote
        self.progress = progress or (lambda phase, done, total: None)
        self.me = self.store.device_id
        self.key = sync_key(self.vault.master_key)
        self.t = _Tally()
        self.files = self.state.files()
        self.acks: dict[str, dict[str, int]] = self.state.get_json(ACKS, {})
        self.walls: dict[str, int] = self.state.get_json(WALLS, {})
        # Odd-named files already read: "device/name" -> size, or [size, position] for a copy
        # that verified as the device's file at that position (it still shows the position).
        self.judged: dict[str, int | list[int]] = self.state.get_json(JUDGED, {})
        self.copies: list[tuple[str, Entry, tuple[int, str]]] = []  # copies of listed files
        # device -> (position of its newest new snapshot, the files that snapshot replaces)
        self.replaced: dict[str, tuple[int, list[_Candidate]]] = {}
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

    # --- the run ---------------------------------------------------------------------------

    def execute(self) -> SyncReport:
        self._check_folder()
        self._publish_slots()
        self._pull()
        outcome = auto_merge(self.vault)
        merge_same_path_notebooks(self.vault)
        self._erase_purged()
        if self.own_refused is None:
            # Never write or delete through a log folder that is not a real folder.
            self._push()
            self._tidy()  # before compaction: a file a copy restores needs no snapshot
            self._compact()
        if self.t.pulled:
            self.vault.refresh()
        blobs = blob_sync.run(self.vault, self.remote)
        self.t.warnings.extend(blobs.warnings)
        return SyncReport(
            remote=str(self.remote.path),
            pulled=self.t.pulled,
            pushed=self.t.pushed,
            files_read=self.t.read,
            files_written=self.t.written,
            devices=len(self.visible),
            merged=outcome.merged,
            conflicts=outcome.conflicts,
            waiting=outcome.waiting,
            pending=tuple(self.t.pending),
            rollbacks=tuple(self.t.rollbacks),
            warnings=tuple(self.t.warnings),
            repaired=self.t.repaired,
            removed=self.t.removed,
            not_sent=self.own_refused,
            attachments_received=blobs.fetched,
            attachments_sent=blobs.published,
            attachments_waiting=blobs.missing,
        )

    def _check_folder(self) -> None:
        remote = self.remote
        remote.check_reachable()
        # The header never changes once written: after one good read, a stat that shows the
        # same file is enough (an idle sync reads no file from the folder).
        seen = remote.header_signature()
        if seen is not None:
            seen += f"|{self.vault.vault_id}|{self.store.master_id}"  # ...for this very key
            if self.store.meta(HEADER_SEEN) == seen:
                return
        header = remote.read_header()
        mine = RemoteHeader(self.vault.vault_id, self.store.master_id)
        if header is None:
            if remote.is_blank() or self.me in remote.devices():
                remote.write_header(mine)
                return
            raise RemoteError(
                f"{remote.path} is not empty and is not a vault sync folder (or its header has "
                "not arrived yet); choose an empty folder, or wait for the sync app"
            )
        check_header(remote, header, mine, self.store.previous_master_ids())
        if header.version < layout.FORMAT_VERSION:
            # A version 1 folder: this device is the first of version 2 here. From now on the
            # folder says 2, so a version 1 program refuses it ("upgrade vault") instead of
            # writing unsealed history into it; version 1 files already in it are still read.
            remote.write_header(mine, upgrade=True)
            return
        if seen is not None:
            with self.store.transaction() as db:
                SyncState.set_meta(db, HEADER_SEEN, seen)

    # --- key slots -------------------------------------------------------------------------

    def _publish_slots(self) -> None:
        """Keep copies of this device's current key slots in the folder, for `vault clone`."""
        recorded = self.state.get_json(SLOTS, {})
        if not isinstance(recorded, dict):
            recorded = {}
        done = publish_slots(self.remote, self.store, self.me, recorded)
        self.t.warnings.extend(done.warnings)
        if done.digests != recorded:
            with self.store.transaction() as db:
                SyncState.set_json(db, SLOTS, done.digests)

    # --- pulling ---------------------------------------------------------------------------

    def _pull(self) -> None:
        devices = self.remote.devices()
        listings: dict[str, list[Entry]] = {}
        for device in sorted({*devices, self.me}):
            # One device's folder that is not a real folder, or cannot be listed, holds back
            # that device only: the others are still read, and this device still sends.
            try:
                listings[device] = self.remote.list_files(device)
            except RemoteError as exc:
                if device == self.me:
                    self.own_refused = str(exc)
                    self.t.warnings.append(f"nothing was sent: {exc}")
                else:
                    self.t.pending.append(Pending(device, "its log folder", str(exc)))
        if self.own_refused is None:
            self._check_own(listings.get(self.me, []))
        plans: list[tuple[str, list[_Candidate]]] = []
        for device in devices:
            if device == self.me or device not in listings:
                continue
            if listings[device]:
                self.visible.add(device)
            plans.append((device, self._plan(device, listings[device])))
        for device in sorted(set(self.files) - set(devices) - {self.me}):
            self._plan(device, [])  # a whole device folder gone: reported there
        total = sum(len(c) for _, c in plans)
        done = 0
        if total:
            self.progress("receiving", 0, total)
        for device, candidates in plans:
            for cand in candidates:
                self._apply(device, cand)
                done += 1
                self.progress("receiving", done, total)
            snap, below = self.replaced.get(device, (0, []))
            recorded = self.files.get(device, {}).get(snap, [])
            if below and not any(r.kind == SNAPSHOT for r in recorded):
                # The snapshot could not be used (not whole yet, damaged, or not a snapshot
                # at all): read the files it would have replaced instead.
                total += len(below)
                for cand in below:
                    self._apply(device, cand)
                    done += 1
                    self.progress("receiving", done, total)
        for device, entry, (seq, digest) in self.copies:
            # The same bytes as a canonical file: they show its position if that file verified.
            applied = any(r.hash == digest for r in self.files.get(device, {}).get(seq, []))
            self.judged[f"{device}/{entry.name}"] = [entry.size, seq] if applied else entry.size
        # What was judged or refused of files no longer in the folder is forgotten.
        names = {device: [e.name for e in entries] for device, entries in listings.items()}
        self.judged = prune(self.judged, names)
        self.rejected.entries = prune(self.rejected.entries, names)
        with self.store.transaction() as db:
            if self.judged != self.state.get_json(JUDGED, {}):
                SyncState.set_json(db, JUDGED, self.judged)
            self.rejected.save(db)

    def _plan(self, device: str, entries: list[Entry]) -> list[_Candidate]:
        """Which of a device's files to read, in chain order; reports gaps and rollbacks."""
        known = self.files.get(device, {})
        known_keys = {(r.seq, r.hash) for recs in known.values() for r in recs}
        by_key: dict[tuple[int, str], _Candidate] = {}
        copied: set[int] = set()  # positions shown only by copies judged before
        for entry in entries:
            name = layout.parse_chain_name(entry.name)
            if name is not None:
                by_key.setdefault((name.seq, name.hash), _Candidate(name, entry))
            else:
                cand = self._judge_odd(device, entry, known_keys)
                judged = self.judged.get(f"{device}/{entry.name}")
                if isinstance(judged, list) and judged[0] == entry.size:
                    copied.add(judged[1])
                if cand is None:
                    continue
                key = (cand.name.seq, cand.name.hash)
                if key in by_key:  # the same bytes under another name: nothing more in it
                    self.copies.append((device, entry, key))
                else:
                    by_key[key] = cand
        visible_max = max([*(seq for seq, _ in by_key), *copied], default=0)
        high = max(known, default=0)
        if high and visible_max < high:
            if visible_max:
                self.t.rollbacks.append(
                    f"device {short(device)}'s log in the folder went back from file {high} to "
                    f"{visible_max} (an old copy of the folder restored?); local data was not "
                    "rolled back"
                )
            else:
                self.t.rollbacks.append(
                    f"every file of device {short(device)} is gone from the folder (removed, or "
                    "an old copy of the folder restored?); nothing was deleted here"
                )
        new = sorted(
            (c for key, c in by_key.items() if key not in known_keys), key=lambda c: c.name
        )
        covered = _covered_upto(known)
        newest_snap = max((c.name.seq for c in new if c.name.kind == SNAPSHOT), default=0)
        plan: list[_Candidate] = []
        below: list[_Candidate] = []  # the newer snapshot holds everything in these
        for cand in new:
            seq = cand.name.seq
            if seq <= covered and seq not in known:
                continue  # below a snapshot we applied: nothing new in it
            (below if seq < newest_snap else plan).append(cand)
        self.replaced[device] = (newest_snap, below)  # read if that snapshot cannot be used
        # Holes: files between what we hold and what we have seen that are not in the folder,
        # one entry per run of missing positions (a name can claim any position: walking
        # them one by one would let one stray file stall the sync).
        start, end = max(covered + 1, newest_snap), max(high, visible_max)
        shown = {seq for seq, _ in by_key} | copied | set(known)
        present = sorted(s for s in shown if start <= s < end)
        before = start - 1
        for seq in [*present, end]:
            if seq - before > 1:
                self.t.pending.append(
                    Pending(
                        device,
                        _positions(before + 1, seq - 1),
                        "missing from its log (delayed, or removed)",
                    )
                )
            before = seq
        return plan

    def _judge_odd(
        self, device: str, entry: Entry, known_keys: set[tuple[int, str]]
    ) -> _Candidate | None:
        """A file with a name we did not write: a daemon's conflict copy, a renamed file, or
        a stranger. Read it (once per size) and use it only if it verifies."""
        key = f"{device}/{entry.name}"
        if _judged_size(self.judged.get(key)) == entry.size:
            return None
        if not self.budget.allows(entry.size):
            self.t.pending.append(Pending(device, entry.name, ReadBudget.deferred()))
            return None
        try:
            data = self.remote.read(device, entry.name)
            self.budget.spend(entry.size)
            owner, seq, kind, _, _, _ = read_header(data, entry.name)
        except (Unreadable, IntegrityError, UnsupportedFormatError):
            self.judged[key] = entry.size
            return None
        self.t.read += 1
        digest = content_hash(data)
        if owner != device:
            self.judged[key] = entry.size
            return None
        if (seq, digest) in known_keys:  # a copy of a file already applied: it shows its place
            self.judged[key] = [entry.size, seq]
            return None
        return _Candidate(ChainName(seq, digest, kind), entry, data)

    def _apply(self, device: str, cand: _Candidate) -> None:
        name = cand.name
        known = self.files.setdefault(device, {})
        # A snapshot right after what we applied holds nothing new: it is only verified (its
        # name alone proves nothing, and counting it would skip the real file at its place).
        already = name.kind == SNAPSHOT and _covered_upto(known) >= name.seq - 1
        chain = self._read(device, cand, content=not already)
        if chain is None:
            return
        if chain.device != device:
            self.t.pending.append(Pending(device, cand.entry.name, "belongs to another device"))
            return
        if already:
            self._record(FileRecord(device, chain.seq, chain.hash, SNAPSHOT, chain.size), [])
            return
        previous = known.get(name.seq - 1, [])
        if previous and chain.prev and chain.prev not in {r.hash for r in previous}:
            self.t.warnings.append(
                f"device {short(device)}'s log forked at file {name.seq} (the same vault copied "
                "to two machines?); both sides are kept"
            )
        if any(r.hash != chain.hash for r in known.get(name.seq, [])):
            self.t.warnings.append(
                f"device {short(device)} has two different files at position {name.seq}; "
                "both are kept"
            )
        self._record(
            FileRecord(device, chain.seq, chain.hash, chain.kind, chain.size),
            list(chain.ops),
            chain=chain,
        )

    def _read(self, device: str, cand: _Candidate, *, content: bool = True) -> ChainFile | None:
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
        self, device: str, cand: _Candidate, *, content: bool = True
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

    # --- this device's own files -------------------------------------------------------------

    def _check_own(self, entries: list[Entry]) -> None:
        """Compare this device's files in the folder with what it wrote: adopt a file written
        by a run that was killed before it could record it, and note lost or damaged ones."""
        mine = self.files.setdefault(self.me, {})
        self.own_listed = {e.name: e for e in entries}
        recorded = {
            chain_file_name(r.seq, r.hash, r.kind): r for recs in mine.values() for r in recs
        }
        for name, rec in recorded.items():
            entry = self.own_listed.get(name)
            if entry is None or entry.size != rec.size:
                self.damaged.append(rec)
            elif self.own_seen.get(name) != entry.mtime_ns and self.budget.allows(entry.size):
                try:
                    whole = self.remote.digest(self.me, name) == rec.hash
                except Unreadable:
                    continue  # looked at again next run
                self.budget.spend(entry.size)
                self.t.read += 1
                if whole:
                    self.own_seen[name] = entry.mtime_ns
                else:
                    self.damaged.append(rec)
        last_snap = max(
            (s for s, recs in mine.items() if any(r.kind == SNAPSHOT for r in recs)), default=0
        )
        chosen = max([*mine, self._reserved()], default=0)
        for entry in entries:
            if entry.name in recorded:
                continue
            cn = layout.parse_chain_name(entry.name)
            if cn is None:
                self.own_odd.append(entry)  # a daemon's copy of one of ours: tidied later
                continue
            chain = self._read(self.me, _Candidate(cn, entry))
            if chain is None:
                failed = next((p for p in self.t.pending if p.file == entry.name), None)
                if not last_snap < cn.seq <= chosen:
                    # Covered by a snapshot, or a position this device never chose: not a
                    # file this device can show it wrote. It stays, and is not read again.
                    if failed is not None:
                        self.t.pending.remove(failed)
                elif failed is not None and not failed.reason.startswith(
                    ("unreadable", "not read yet")
                ):
                    # Ours, landed whole before a kill, then damaged in the folder before it
                    # was recorded: its operations are still unsent here and go out again;
                    # the file goes, and a snapshot covers its place in the log.
                    self.t.pending.remove(failed)
                    self.damaged.append(FileRecord(self.me, cn.seq, cn.hash, cn.kind, -1))
                continue
            if chain.device != self.me:
                continue
            strangers = [op for op in chain.ops if not self.store.has_op(op.op_id)]
            if strangers or any(r.hash != chain.hash for r in mine.get(chain.seq, [])):
                # Not a file of ours that a killed run left unrecorded: another machine
                # writes under this device's id.
                self._rotate_device(chain)
                return
            if chain.seq <= last_snap:
                continue  # a file of ours a snapshot covers, that could not be deleted
            self._record(
                FileRecord(self.me, chain.seq, chain.hash, chain.kind, chain.size),
                list(chain.ops),
                mine=True,
            )
            self.t.pending = [p for p in self.t.pending if p.file != entry.name]
        # Holes in this device's log since its last snapshot: positions a killed run chose
        # but never filled, or files the folder lost. Their operations are unsent here and go
        # out again; a snapshot covers the positions so no device waits for them. Only
        # positions this device recorded or reserved count: a name in the folder can claim
        # any position (a file of ours that verified was adopted above, so it is recorded).
        listed = {c.seq for c in map(layout.parse_chain_name, self.own_listed) if c is not None}
        snaps = [s for s, recs in mine.items() if any(r.kind == SNAPSHOT for r in recs)]
        top = max([*mine, self._reserved()], default=0)
        damaged = {d.seq for d in self.damaged}
        for seq in range(max(snaps, default=0) + 1, top + 1):
            if seq not in mine and seq not in listed and seq not in damaged:
                self.damaged.append(FileRecord(self.me, seq, "", SEGMENT, -1))

    def _rotate_device(self, chain: ChainFile) -> None:
        """Another machine writes this device's log (the vault folder was copied): keep what it
        wrote, and carry on under a new device id so the two logs never collide again."""
        self._record(
            FileRecord(self.me, chain.seq, chain.hash, chain.kind, chain.size), list(chain.ops)
        )
        new_id = crypto.random_id()
        with self.store.transaction() as db:
            SyncState.set_meta(db, "device_id", new_id)
        self.t.warnings.append(
            f"another machine writes as this device ({short(self.me)}): was the vault folder "
            f"copied? This copy now syncs as device {short(new_id)}"
        )
        self.me = new_id
        self.damaged = []
        self.own_listed = {}

    # --- pushing ---------------------------------------------------------------------------

    def _reserved(self) -> int:
        device, _, seq = (self.store.meta(RESERVED) or "").partition(":")
        return int(seq) if device == self.me and seq.isdigit() else 0

    def _next_seq(self) -> int:
        """A position never used before, even by a run that was killed before recording (it
        reserved the position first). Names in the folder are not trusted for this: a file
        of ours that verified is recorded, and one that did not is damaged and goes."""
        mine = self.files.get(self.me, {})
        return max([*mine, self._reserved()], default=0) + 1

    def _prev_hash(self, seq: int) -> str:
        recs = self.files.get(self.me, {}).get(seq - 1, [])
        return recs[0].hash if recs else ""

    def _my_acks(self) -> dict[str, int]:
        return {d: _covered_upto(recs) for d, recs in self.files.items() if d != self.me and recs}

    def _push(self) -> None:
        acks = self._my_acks()
        published = self.state.get_json(PUBLISHED_ACKS, {})
        need_ack = any(
            seq - published.get(d, 0) >= self.engine.ack_lag
            or any(
                r.kind == SNAPSHOT and s > published.get(d, 0)
                for s, recs in self.files.get(d, {}).items()
                for r in recs
            )
            for d, seq in acks.items()
        )
        if self.t.pulled or self.state.cursor() == 0:
            # Operations that came in are in the folder already: move the cursor past them,
            # so the next look for unsent changes starts from here.
            with self.store.transaction() as db:
                self.state.advance_cursor(db)
        total = self.state.unpushed_count()
        done = 0
        refused: set[str] = set()
        while True:
            batch = self.state.unpushed(OPS_PER_SEGMENT + len(refused))
            ops, bad = self._sendable([op for op in batch if op.op_id not in refused])
            refused.update(op.op_id for op in bad)
            if bad and ops:
                ops = ops[:OPS_PER_SEGMENT]
            elif bad:
                continue  # fetch again past the refused ones
            if not ops and not need_ack:
                break
            if total:
                self.progress("sending", done, total)
            self._write_own(SEGMENT, ops, acks)
            done += len(ops)
            self.t.pushed += len(ops)
            need_ack = False
        if total:
            self.progress("sending", total, total)

    def _write_own(self, kind: str, ops: list[Op], acks: dict[str, int]) -> FileRecord:
        seq = self._next_seq()
        data = seal_file(
            self.key,
            self.vault.vault_id,
            device=self.me,
            seq=seq,
            kind=kind,
            prev=self._prev_hash(seq),
            ops=ops,
            acks=acks,
            wall=self.engine.clock(),
        )
        digest = content_hash(data)
        rec = FileRecord(self.me, seq, digest, kind, len(data))
        with self.store.transaction() as db:
            SyncState.set_meta(db, RESERVED, f"{self.me}:{seq}")
        self.remote.write(self.me, chain_file_name(seq, digest, kind), data)
        self.t.written += 1
        with self.store.transaction() as db:
            SyncState.mark_known(db, [op.op_id for op in ops], mine=True)
            SyncState.record_file(db, rec)
            self.state.advance_cursor(db)
            SyncState.set_json(db, PUBLISHED_ACKS, acks)
        self.files.setdefault(self.me, {}).setdefault(seq, []).append(rec)
        name = chain_file_name(seq, digest, kind)
        mtime = self.remote.mtime_ns(self.me, name)
        self.own_listed[name] = Entry(name, rec.size, mtime or 0)
        if mtime is not None:
            self.own_seen[name] = mtime  # just written with these bytes: no need to read it
        return rec

    # --- compaction and repair ---------------------------------------------------------------

    def _compact(self) -> None:
        """Snapshot this device's log when it grows long (or lost a file), and remove the
        files the snapshot replaces once every active device has applied them; files below
        the snapshot before it go whatever the acknowledgements (see below)."""
        mine = self.files.setdefault(self.me, {})
        snaps = [s for s, recs in mine.items() if any(r.kind == SNAPSHOT for r in recs)]
        last_snap = max(snaps, default=0)
        if self.damaged or sum(1 for s in mine if s > last_snap) > self.engine.compact_after:
            ops, bad = self._sendable(list(self.state.my_ops()))
            if bad:
                # A snapshot without them would replace the files that hold them: keep the
                # log as it is until the store is repaired.
                return
            self._write_own(SNAPSHOT, ops, self._my_acks())
            self.t.repaired += len(self.damaged)
            for bad in self.damaged:
                # The snapshot holds everything the lost or damaged file held. A damaged file
                # is left where it is: its bytes are not what this device wrote, so nothing
                # shows it is ours to delete (readers skip it: the snapshot covers its place).
                with self.store.transaction() as db:
                    SyncState.forget_file(db, bad)
                if bad in mine.get(bad.seq, []):
                    mine[bad.seq].remove(bad)
                    if not mine[bad.seq]:
                        del mine[bad.seq]
            self.damaged = []
        # Below the newest snapshot once every active device applied it. Below the one before
        # it in any case: a device that far behind reads the newest snapshot (which holds
        # everything) rather than the files before it, so a device that stays silent cannot
        # make the folder grow by a snapshot every compact_after files.
        snaps = sorted(s for s, recs in mine.items() if any(r.kind == SNAPSHOT for r in recs))
        if snaps and self._acknowledged(snaps[-1]):
            floor = snaps[-1]
        else:
            floor = snaps[-2] if len(snaps) > 1 else 0
        old = [r for s, recs in mine.items() if s < floor for r in recs]
        for rec in old:
            left = self.remote.delete(self.me, _name(rec), check=_wrote(rec))
            if left is None:
                self.t.removed += 1
            else:
                self.t.warnings.append(f"left {_name(rec)} in this device's log: {left}")
        if old:
            with self.store.transaction() as db:
                SyncState.forget_files(db, self.me, floor)
            for s in [s for s in mine if s < floor]:
                del mine[s]

    def _tidy(self) -> None:
        """Remove the daemons' copies of this device's files once everything in them is in
        the log under its real name (only this device writes here, so only it may)."""
        for entry in self.own_odd:
            key = f"{self.me}/{entry.name}"
            if _judged_size(self.judged.get(key)) == entry.size:
                continue
            if not self.budget.allows(entry.size):
                continue  # looked at on a later run
            try:
                data = self.remote.read(self.me, entry.name)
                self.budget.spend(entry.size)
                chain = open_file(self.key, self.vault.vault_id, data, entry.name)
            except (Unreadable, IntegrityError, UnsupportedFormatError):
                self.judged[key] = entry.size  # not ours, or still arriving: look again if it grows
                continue
            self.t.read += 1
            if chain.device == self.me and self.state.published([o.op_id for o in chain.ops]):
                # Authenticated as this device's own file. If the file under its own name is
                # missing or damaged (a daemon let a corrupt copy win the name), the copy is
                # the good one: it takes the name back. Otherwise it goes, if it still holds
                # those bytes.
                name = chain_file_name(chain.seq, content_hash(data), chain.kind)
                restored = self.remote.restore(self.me, entry.name, name, good=data.__eq__)
                if restored is None:
                    self.t.repaired += 1
                    self.judged.pop(key, None)
                    self.own_seen.pop(name, None)
                    self.damaged = [d for d in self.damaged if _name(d) != name]
                    continue
                if self.remote.delete(self.me, entry.name, check=data.__eq__) is None:
                    self.judged.pop(key, None)
                else:
                    self.judged[key] = entry.size
        if self.judged != self.state.get_json(JUDGED, {}):
            with self.store.transaction() as db:
                SyncState.set_json(db, JUDGED, self.judged)
        seen = {n: t for n, t in self.own_seen.items() if n in self.own_listed}
        if seen != self.state.get_json(OWN_SEEN, {}):
            with self.store.transaction() as db:
                SyncState.set_json(db, OWN_SEEN, seen)

    def _acknowledged(self, seq: int) -> bool:
        """Has every active device applied this device's log up to `seq`? A device silent for
        retire_days (by its own clock) is not waited for: it will read the snapshot."""
        horizon = self.engine.clock() - self.engine.retire_days * DAY_MS
        for device in self.visible:
            if self.walls.get(device, 0) < horizon and device in self.walls:
                continue
            if self.acks.get(device, {}).get(self.me, 0) < seq:
                return False
        return True

    def _erase_purged(self) -> None:
        """A deletion that arrived and settled the item (no competing version) erases the
        sealed content of its older versions here too, as the purge did where it was made."""
        for item_id in self.t.tombstoned:
            # One transaction: a version saved meanwhile (the app, another process) must not
            # land between the check and the erasing, or its content would be erased too.
            with self.store.transaction():
                row = self.store.item(item_id)
                if row is not None and row.deleted and len(self.store.heads(item_id)) == 1:
                    try:
                        self.vault.open_op(row)
                    except VaultError:
                        continue
                    older = [o for o in self.store.history(item_id) if o.op_id != row.op_id]
                    self.store.erase_history(self.vault.erasures(older))


def _name(rec: FileRecord) -> str:
    return chain_file_name(rec.seq, rec.hash, rec.kind)


def _wrote(rec: FileRecord) -> Callable[[bytes], bool]:
    """Are these the very bytes this device recorded writing as `rec`?"""
    return lambda data: content_hash(data) == rec.hash and rec.size in (-1, len(data))


def _judged_size(judged: int | list[int] | None) -> int | None:
    return judged[0] if isinstance(judged, list) else judged


def _positions(first: int, last: int) -> str:
    return f"file {first}" if first == last else f"files {first}-{last}"


def _covered_upto(known: dict[int, list[FileRecord]]) -> int:
    """The highest position up to which a device's log has been applied without a gap."""
    snaps = [s for s, recs in known.items() if any(r.kind == SNAPSHOT for r in recs)]
    covered = max(snaps, default=0)
    while covered + 1 in known:
        covered += 1
    return covered


def check_header(
    remote: RemoteFolder, header: RemoteHeader, mine: RemoteHeader, previous: list[str]
) -> None:
    """Refuse a folder of another vault, or of another master key of this one. `previous`
    (the keys this vault used before) tells which side rotated: this device, whose other
    devices must follow it to a new folder, or another device, which this one must follow."""
    if header.vault_id != mine.vault_id:
        raise RemoteError(
            f"{remote.path} is the sync folder of another vault; choose another folder"
        )
    if header.master_id == mine.master_id:
        return
    if header.master_id in previous:
        raise RemoteError(
            f"{remote.path} uses this vault's old master key (this device rotated it with "
            "`vault rekey`); start a new sync folder with `vault remote set NEWDIR` and clone "
            "your other devices from it"
        )
    raise RemoteError(
        f"{remote.path} uses a master key this device does not have (another device rotated "
        "it with `vault rekey`); to follow it, clone this device anew from that folder with "
        "`vault clone DIR --vault NEWDIR` (back up or export changes made here first)"
    )


def _need(conflicts: int) -> str:
    return f"{plural(conflicts, 'conflict')} {'needs' if conflicts == 1 else 'need'} you"
