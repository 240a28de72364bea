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

This module holds the engine and the order of a run; the run's phases are in their own
modules over one `RunState` (vault.sync.run_state): pulling and checking this device's own
files (vault.sync.ingest), publishing (vault.sync.publish), compaction and removal
(vault.sync.tidy). The reports are in vault.sync.report and re-exported here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from vault.errors import RemoteError, VaultError
from vault.notes.model import now_ms
from vault.notes.vault import Vault
from vault.paths import expanded
from vault.storage.store import Store
from vault.sync import blob_sync, layout, rotation
from vault.sync.conflicts import auto_merge
from vault.sync.ingest import Ingest
from vault.sync.locking import sync_lock
from vault.sync.notebook_merge import merge_same_path_notebooks
from vault.sync.remote import RemoteFolder, RemoteHeader
from vault.sync.report import Pending, ProgressCallback, SyncReport, SyncStatus, sync_status
from vault.sync.run_state import OPS_PER_SEGMENT
from vault.sync.segments import sync_key
from vault.sync.slots import publish_slots
from vault.sync.state import FOLDER, HEADER_SEEN, LAST, REMOTE, RING, SLOTS, SyncState
from vault.sync.tidy import Tidy

# What the faces and tests import from here (the phases live in the modules named).
PROBLEM_LINES = 8  # key rotation problems reported one per line; the rest counted

__all__ = [
    "OPS_PER_SEGMENT",
    "Pending",
    "ProgressCallback",
    "SyncEngine",
    "SyncReport",
    "SyncStatus",
    "check_header",
    "configured_remote",
    "sync_status",
]


def configured_remote(vault: Vault | Store, config_remote: str = "") -> Path | None:
    """The vault's own folder (`vault remote set`) or else the config's `sync.remote`."""
    store = vault.store if isinstance(vault, Vault) else vault
    value = store.meta(REMOTE) or config_remote
    return expanded(value) if value else None


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
        self._ring: tuple[str, rotation.KeyRing] | None = None  # (what it was built from, ring)

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


class _Run(Ingest, Tidy):
    """One sync run (a fresh object each time: nothing carries over in memory): the phases
    (vault.sync.ingest, vault.sync.publish, vault.sync.tidy) in order, over one RunState."""

    # --- the run ---------------------------------------------------------------------------

    def execute(self) -> SyncReport:
        self._check_folder()
        self._follow_rotation()
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
            notices=tuple(self.t.notices),
        )

    def _check_folder(self) -> None:
        remote = self.remote
        remote.check_reachable()
        self._keys()
        # The header never changes once written: after one good read, a stat that shows the
        # same file is enough (an idle sync reads no file from the folder). With rotations
        # in the folder it is read (a few hundred bytes): its key is where the chain starts.
        seen = remote.header_signature()
        if seen is not None and not self.ring.edges:
            seen += f"|{self.vault.vault_id}|{self.store.master_id}"  # ...for this very key
            if self.store.meta(HEADER_SEEN) == seen:
                return
        header = remote.read_header()
        mine = RemoteHeader(self.vault.vault_id, self.store.master_id)
        version = rotation.ROTATED_VERSION if self.ring.edges else layout.FORMAT_VERSION
        if header is None:
            if remote.is_blank() or self.me in remote.devices():
                remote.write_header(mine, version=version)
                self.root = mine.master_id
                return
            raise RemoteError(
                f"{remote.path} is not empty and is not a vault sync folder (or its header has "
                "not arrived yet); choose an empty folder, or wait for the sync app"
            )
        check_header(remote, header, mine, self.store.previous_master_ids(), set(self.ring.keys))
        self.root = header.master_id
        if header.version < version:
            # A version 1 folder: this device is the first of version 2 here. From now on the
            # folder says 2, so a version 1 program refuses it ("upgrade vault") instead of
            # writing unsealed history into it; version 1 files already in it are still read.
            # Likewise 3 once a key rotation is published: a version 2 program cannot follow.
            remote.write_header(header, upgrade=True, version=version)
            return
        if seen is not None and not self.ring.edges:
            with self.store.transaction() as db:
                SyncState.set_meta(db, HEADER_SEEN, seen)

    # --- key rotation (vault.sync.rotation) ---------------------------------------------------

    def _keys(self) -> None:
        """The key ring: every key of this vault's chain reachable from the current one
        through rotation records. Built again only when the records' listing changed."""
        known = {*self.files, self.me}
        signature = "\n".join(
            [
                self.store.master_id,
                self.store.meta(rotation.ROTATIONS) or "",
                rotation.folder_signature(self.remote),
                ",".join(sorted(known)),  # a device verified since may unlock more reads
            ]
        )
        cached = self.engine._ring
        if cached is not None and cached[0] == signature:
            self.ring = cached[1]
        else:
            self.ring = rotation.read_ring(
                self.remote,
                self.store.meta(rotation.ROTATIONS),
                self.vault.vault_id,
                self.vault.master_key,
                known=known,
            )
            self.engine._ring = (signature, self.ring)
        problems = self.ring.problems
        self.t.warnings.extend(problems[:PROBLEM_LINES])
        if len(problems) > PROBLEM_LINES:  # a folder of forged records: one line, not hundreds
            self.t.warnings.append(
                f"… and {len(problems) - PROBLEM_LINES} more key rotation records ignored"
            )
        ids = ",".join(sorted(self.ring.keys))
        if len(self.ring.keys) > 1 and self.store.meta(RING) != ids:
            # Files refused before may open with a key learned now.
            self.rejected.entries = {}
            with self.store.transaction() as db:
                SyncState.set_meta(db, RING, ids)

    def _follow_rotation(self) -> None:
        """Follow a rotation another device published (or one of several made at once),
        and publish the records this vault keeps."""
        if self.ring.edges and self.root is not None:
            line = rotation.follow(self.vault, self.ring, self.root)
            if line is not None:
                if self.store.master_id == self.ring.current:
                    self.t.warnings.append(line)
                else:
                    self.t.notices.append(line[0].upper() + line[1:] + ".")
                    self.key = sync_key(self.vault.master_key)
                    self.ring.current = self.store.master_id
                    self.engine._ring = None
        if self.own_refused is None:
            kept = rotation.kept_records(self.store.meta(rotation.ROTATIONS))
            self.t.warnings.extend(
                rotation.publish(self.remote, self.me, kept, self.ring, self.vault.vault_id)
            )

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


def check_header(
    remote: RemoteFolder,
    header: RemoteHeader,
    mine: RemoteHeader,
    previous: list[str],
    ring: set[str] | frozenset[str] = frozenset(),
) -> None:
    """Refuse a folder of another vault, or of another master key of this one. A folder set
    up with a key of this device's key ring (linked to its key by rotation records) is this
    vault's. Otherwise `previous` (the keys this vault used before) tells which side rotated
    without a record (`vault rekey --new-folder`): this device, whose other devices must
    follow it to a new folder, or another device, which this one must follow."""
    if header.vault_id != mine.vault_id:
        raise RemoteError(
            f"{remote.path} is the sync folder of another vault; choose another folder"
        )
    if header.master_id == mine.master_id or header.master_id in ring:
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
