"""Restoring a backup: into a new folder (the vault as it was, with a new device id) or into
the existing vault of the same id (adding only the operations it lacks).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from vault.errors import BackupError, StorageError, VaultError, WrongPasswordError
from vault.fsutil import PRIVATE_FILE_MODE, fsync_dir, make_private_dirs, storage_error
from vault.interchange.backup_files import (
    RestoreReport,
    file_size,
    make_folder,
    open_backup,
    read_backup_header,
)
from vault.interchange.backup_format import (
    REC_ATTACHMENT,
    REC_OP,
    BackupHeader,
    Progress,
    attachment_piece,
    op_from_record,
    read_header,
    read_records,
    unlock_header,
)
from vault.sealing import crypto, keys
from vault.sealing.crypto import Label
from vault.sealing.envelope import open_op, seal_op, upgrade_envelope
from vault.storage.blobs import SUFFIX as BLOB_SUFFIX
from vault.storage.blobs import BlobStore
from vault.storage.store import Op, Store

if TYPE_CHECKING:
    from vault.notes.vault import Vault


# --- restoring ---------------------------------------------------------------------------------


class _BlobSink:
    """Attachment files arriving in `A` records: each goes to a hidden temporary file in the
    vault's `blobs/` and takes its name only once the whole backup verified (`commit`)."""

    def __init__(self, vault_path: Path, name: str) -> None:
        self.folder = vault_path / "blobs"
        self.name = name
        self.held = BlobStore(self.folder, b"").names()
        self.seen: set[str] = set()
        self.current: str | None = None
        self.out: BinaryIO | None = None
        self.temps: dict[str, Path] = {}
        self.count = 0

    def take(self, record: Any) -> None:
        blob, data = attachment_piece(record, self.name)
        if blob != self.current:
            self._close()
            if blob in self.seen:
                raise BackupError(f"{self.name} is damaged: an attachment appears twice")
            self.seen.add(blob)
            self.current = blob
            self.count += 1
            if blob not in self.held:
                make_private_dirs(self.folder)
                tmp = self.folder / f".{blob}.restore-{secrets.token_hex(4)}.tmp"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
                self.out = os.fdopen(fd, "wb")
                self.temps[blob] = tmp
        if self.out is not None:
            self.out.write(data)

    def _close(self) -> None:
        if self.out is not None:
            self.out.flush()
            os.fsync(self.out.fileno())
            self.out.close()
            self.out = None

    def commit(self) -> int:
        self._close()
        for blob, tmp in self.temps.items():
            os.replace(tmp, self.folder / f"{blob}{BLOB_SUFFIX}")
        if self.temps:
            fsync_dir(self.folder)
        self.temps.clear()
        return self.count

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            if self.out is not None:
                self.out.close()
        self.out = None
        for tmp in self.temps.values():
            with contextlib.suppress(OSError):
                tmp.unlink()
        self.temps.clear()


@dataclass
class _Ingest:
    read: int = 0
    known: int = 0
    resealed: int = 0
    damaged: dict[str, str] = field(default_factory=dict)


def _ingest(
    store: Store,
    fh: BinaryIO,
    header: BackupHeader,
    master_key: bytes,
    name: str,
    *,
    reseal_key: bytes | None,
    progress: Progress | None,
    total: int,
    blobs: _BlobSink,
) -> tuple[_Ingest, int]:
    """Feed the backup's operations into `store` in one transaction: a backup that turns out
    damaged half-way rolls back, so a restore is all or nothing. Attachment files go to
    `blobs`, which the caller commits once this returns."""
    items_key = crypto.subkey(master_key, Label.ITEMS)
    stats = _Ingest()

    def ops() -> Iterator[Op]:
        for record in read_records(fh, header, master_key, name, progress, total):
            if record.rtype == REC_ATTACHMENT:
                blobs.take(record)
                continue
            if record.rtype != REC_OP:
                continue
            op = op_from_record(record, name)
            stats.read += 1
            if store.has_op(op.op_id):
                stats.known += 1
                continue
            try:
                # Version 2 envelopes are verified against the operation's claims; a version 1
                # backup's are sealed anew with them (the stream's AEAD authenticated them).
                envelope = upgrade_envelope(items_key, header.vault_id, op.claims, op.envelope)
                if reseal_key is not None:
                    payload = open_op(items_key, header.vault_id, op.claims, envelope)
                    content = None if op.deleted else payload
                    envelope = seal_op(reseal_key, header.vault_id, op.claims, content)
                    stats.resealed += 1
            except VaultError as exc:
                # The stream verified, so the source vault already held this version
                # damaged; bringing it in would only make the restored vault fail later.
                stats.damaged[op.item_id] = str(exc)
                continue
            yield dataclasses.replace(op, envelope=envelope)

    return stats, store.ingest_count(ops())


def restore_backup(
    path: Path,
    target: Path,
    *,
    password: str | None = None,
    recovery_key: str | None = None,
    keyfile: Path | None = None,
    progress: Progress | None = None,
) -> RestoreReport:
    """Restore a backup as a new vault at `target` (which must not exist, or be empty).

    The new vault has the backup's vault id, master key and key slots (so the password and
    recovery key of the time of the backup open it) and a new device id. It is built in a
    hidden folder next to `target` and renamed into place only when complete.
    """
    path, target = path.expanduser(), target.expanduser().absolute()
    try:
        if Store.exists(target):
            raise BackupError(f"there is already a vault at {target}; choose a new folder")
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise BackupError(f"{target} is not empty; choose an empty or new folder")
    except OSError as exc:  # a parent we may not look into
        raise storage_error(exc, target) from None
    name = str(path)
    with open_backup(path) as fh:
        header = read_header(fh, name)
        master_key = unlock_header(
            header, name, password=password, keyfile=keyfile, recovery_key=recovery_key
        )
        make_folder(target.parent)
        tmp = target.with_name(f".{target.name}.restoring-{secrets.token_hex(4)}")
        device_id = crypto.random_id()
        store: Store | None = None

        sink = _BlobSink(tmp, name)

        def discard() -> None:
            sink.discard()
            if store is not None:
                store.close()
            shutil.rmtree(tmp, ignore_errors=True)

        try:
            store = Store.create(tmp, header.vault_id, device_id, header.mk_id, list(header.slots))
            store.commit_key = crypto.subkey(master_key, Label.OPS_SUM)
            stats, added = _ingest(
                store,
                fh,
                header,
                master_key,
                name,
                reseal_key=None,
                progress=progress,
                total=file_size(path),
                blobs=sink,
            )
            blob_count = sink.commit()
            counts = store.counts()
            store.close()
            if target.exists():
                target.rmdir()  # the empty folder the person named
            os.rename(tmp, target)
            fsync_dir(target.parent)
        except OSError as exc:
            discard()
            raise storage_error(exc, target) from None
        except StorageError as exc:  # the disk or SQLite refused a write (full, read-only)
            discard()
            detail = str(exc).rsplit(": ", 1)[-1].removesuffix("; nothing was changed")
            raise StorageError(
                f"cannot restore into {target}: {detail}; nothing was restored"
            ) from None
        except BaseException:
            discard()
            raise
    return RestoreReport(
        vault_path=target,
        vault_id=header.vault_id,
        new_vault=True,
        device_id=device_id,
        ops_read=stats.read,
        ops_added=added,
        ops_known=stats.known,
        resealed=0,
        damaged=stats.damaged,
        counts=counts,
        attachments=blob_count,
    )


def backup_needs_secret(vault: Vault, path: Path) -> bool:
    """Whether merging this backup needs its own password or recovery key: only when the
    vault's master key was rotated after the backup was made."""
    return read_backup_header(path).mk_id != keys.mk_id(vault.master_key)


def merge_backup(
    vault: Vault,
    path: Path,
    *,
    password: str | None = None,
    recovery_key: str | None = None,
    keyfile: Path | None = None,
    progress: Progress | None = None,
) -> RestoreReport:
    """Add a backup's operations to the unlocked `vault` (same vault id): versions it already
    has are skipped, and the history graph keeps newer local versions current.

    If the vault's master key was rotated since the backup, the backup is opened with its own
    password or recovery key and its items are re-sealed under the current key, so the vault
    ends up under one key, as after a rekey."""
    path = path.expanduser()
    name = str(path)
    with open_backup(path) as fh:
        header = read_header(fh, name)
        if header.vault_id != vault.vault_id:
            raise BackupError(
                f"{name} is a backup of another vault (id {header.vault_id[:8]}), not of this "
                f"one (id {vault.vault_id[:8]}); restore it into a new folder instead"
            )
        current = vault.master_key
        reseal_key = None
        if header.mk_id == keys.mk_id(current):
            master_key = current
        else:
            if password is None and recovery_key is None:
                raise WrongPasswordError(
                    "this backup predates a master key rotation (vault rekey): give the "
                    "password or recovery key it was made with"
                )
            master_key = unlock_header(
                header, name, password=password, keyfile=keyfile, recovery_key=recovery_key
            )
            reseal_key = crypto.subkey(current, Label.ITEMS)
        sink = _BlobSink(vault.path, name)
        try:
            stats, added = _ingest(
                vault.store,
                fh,
                header,
                master_key,
                name,
                reseal_key=reseal_key,
                progress=progress,
                total=file_size(path),
                blobs=sink,
            )
            blob_count = sink.commit()
        except OSError as exc:
            sink.discard()
            raise storage_error(exc, vault.path) from None
        except BaseException:
            sink.discard()
            raise
    vault.refresh()
    return RestoreReport(
        vault_path=vault.path,
        vault_id=vault.vault_id,
        new_vault=False,
        device_id=vault.store.device_id,
        ops_read=stats.read,
        ops_added=added,
        ops_known=stats.known,
        resealed=stats.resealed if added else 0,
        damaged=stats.damaged,
        counts=vault.store.counts(),
        attachments=blob_count,
    )
