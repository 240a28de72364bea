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
from vault.storage.store import Store
from vault.sync import blob_sync, layout
from vault.sync.conflicts import auto_merge
from vault.sync.ingest import Ingest
from vault.sync.locking import sync_lock
from vault.sync.notebook_merge import merge_same_path_notebooks
from vault.sync.remote import RemoteFolder, RemoteHeader
from vault.sync.report import Pending, ProgressCallback, SyncReport, SyncStatus, sync_status
from vault.sync.run_state import OPS_PER_SEGMENT
from vault.sync.slots import publish_slots
from vault.sync.state import FOLDER, HEADER_SEEN, LAST, REMOTE, SLOTS, SyncState
from vault.sync.tidy import Tidy

# What the faces and tests import from here (the phases live in the modules named).
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
    return Path(value).expanduser() if value else None


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


class _Run(Ingest, Tidy):
    """One sync run (a fresh object each time: nothing carries over in memory): the phases
    (vault.sync.ingest, vault.sync.publish, vault.sync.tidy) in order, over one RunState."""

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
