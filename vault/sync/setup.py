"""Choosing the sync folder (`vault remote set/show/unset`). No key is needed: the folder's
header names only the vault id and the master key's public id, both known to the local store."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from vault.errors import RemoteError, StorageError
from vault.fsutil import storage_error
from vault.paths import expanded
from vault.storage.store import Store
from vault.sync import rotation
from vault.sync.engine import SyncStatus, check_header, sync_status
from vault.sync.remote import RemoteFolder, RemoteHeader
from vault.sync.state import REMOTE, SyncState


@dataclass(frozen=True)
class RemoteInfo:
    path: Path | None
    source: str | None  # "vault" (set for this vault), "config" (sync.remote), or None
    status: SyncStatus
    reachable: bool = False
    devices: int = 0  # devices with a log in the folder
    files: int = 0  # chain files in the folder
    problem: str | None = None  # why the folder cannot be used, if it cannot


def set_remote(store: Store, path: Path) -> Path:
    """Make `path` this vault's sync folder: create it if its parent exists, write the header
    if the folder is empty, refuse a folder that holds something else. Returns the path."""
    path = path.expanduser().resolve()
    if not path.exists():
        if not path.parent.is_dir():
            raise RemoteError(f"{path.parent} does not exist (is the drive mounted?)")
        try:
            path.mkdir(mode=0o700)
        except OSError as exc:
            raise storage_error(exc, path) from None
    remote = RemoteFolder(path)
    remote.check_reachable()
    mine = RemoteHeader(store.vault_id, store.master_id)
    header = remote.read_header()
    if header is None:
        if not remote.is_blank():
            raise RemoteError(
                f"{path} is not empty and is not a vault sync folder; choose an empty folder "
                "(for example a new one inside it)"
            )
        remote.write_header(mine)
    else:
        linked = rotation.named_chain(remote, store.meta(rotation.ROTATIONS), store.master_id)
        check_header(remote, header, mine, store.previous_master_ids(), linked)
    with store.transaction() as db:
        SyncState.set_meta(db, REMOTE, str(path))
    return path


def unset_remote(store: Store) -> None:
    """Stop syncing this vault (the folder and its files are left as they are)."""
    with store.transaction() as db:
        db.execute("DELETE FROM meta WHERE key = ?", (REMOTE,))


def remote_info(store: Store, config_remote: str = "") -> RemoteInfo:
    own = store.meta(REMOTE)
    value = own or config_remote
    source = "vault" if own else ("config" if config_remote else None)
    path = expanded(value) if value else None
    status = sync_status(store, path)
    if path is None:
        return RemoteInfo(None, None, status)
    remote = RemoteFolder(path)
    try:
        remote.check_reachable()
        header = remote.read_header()
        if header is not None:
            check_header(
                remote,
                header,
                RemoteHeader(store.vault_id, store.master_id),
                store.previous_master_ids(),
                rotation.named_chain(remote, store.meta(rotation.ROTATIONS), store.master_id),
            )
        devices = remote.devices()
        files = 0
        for device in devices:
            with contextlib.suppress(RemoteError):  # a refused device folder: skipped here
                files += len(remote.list_files(device))
    except (RemoteError, StorageError) as exc:
        return RemoteInfo(path, source, status, problem=str(exc))
    return RemoteInfo(path, source, status, True, len(devices), files)
