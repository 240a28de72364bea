"""Backups: make one, prove it is good, restore it anywhere, and keep a rotating set.

A backup is one self-contained encrypted file (format in docs/BACKUP.md, code in
`vault.interchange.backup_format`): the vault's key slots, then every operation of every item, each
item still in its own sealed envelope. So the password or the recovery key alone restores it on a
machine that has nothing else, and a backup is as safe to leave anywhere as the vault itself.

Restoring into a new folder gives a vault with the same vault id, master key and key slots as at
the time of the backup, and a new device id, so it can later sync beside the original without
the two devices' logs clashing. Restoring into an existing vault of the same id adds only the
operations it lacks: history is a graph, so versions the vault already has are not duplicated
and newer local versions stay current.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import glob
import json
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from vault import __version__, safejson
from vault.errors import BackupError, StorageError, VaultError, WrongPasswordError
from vault.fsutil import PRIVATE_FILE_MODE, fsync_dir, make_private_dirs, storage_error
from vault.interchange.backup_format import (
    REC_ATTACHMENT,
    REC_INFO,
    REC_OP,
    BackupHeader,
    BackupWriter,
    Progress,
    attachment_piece,
    attachment_records,
    encode_prefix,
    op_from_record,
    op_to_json,
    parse_stamp,
    read_header,
    read_records,
    stream_key,
    unlock_header,
    utc_stamp,
)
from vault.paths import default_backup_dir
from vault.sealing import crypto, keys
from vault.sealing.crypto import Label
from vault.sealing.envelope import open_op, seal_op, upgrade_envelope
from vault.storage.blobs import SUFFIX as BLOB_SUFFIX
from vault.storage.blobs import BlobStore
from vault.storage.store import Op, Store

if TYPE_CHECKING:
    from vault.config import Config
    from vault.notes.vault import Vault

SUFFIX = ".vbak"
AUTO_MARK = "-auto"
# Set after each backup: the store's last operation number it covered, so an automatic backup
# is skipped when nothing changed since.
META_LAST_SEQ = "backup_last_seq"
# Set with it: when that backup was made and where it went (its path and size), so whether an
# automatic backup is due is decided from what this vault wrote, never from the clear headers
# of files in the backup folder, which anyone who can write there can forge (docs/BACKUP.md).
META_LAST_BACKUP = "backup_last"
STALE_TEMP_SECONDS = 24 * 3600
_BATCH = 64  # operations read from the store at a time
# Only files named like this are ever deleted by rotation (a person's own backups never are).
_AUTO_NAME = re.compile(r"vault-[0-9a-f]{8}-\d{8}T\d{6}Z-auto(?:-\d+)?\.vbak")
_NUMBER = re.compile(r"T\d{6}Z(?:-auto)?-(\d{1,9})\.vbak$")  # the -n that _unique adds


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupReport:
    path: Path
    vault_id: str
    backup_id: str
    created: datetime
    ops: int  # operations written (versions and tombstones)
    history: bool
    size: int
    attachments: int = 0  # attachment files (blobs) written


@dataclass(frozen=True)
class VerifyReport:
    path: Path
    vault_id: str
    backup_id: str
    created: datetime
    opened_with: str  # "password", "recovery key" or "master key"
    history: bool
    parts: int
    ops: int
    versions: int  # operations carrying an item's content
    items: int  # distinct items, deleted ones included
    live: dict[str, int]  # kind -> items not deleted at the backup's newest versions
    damaged: dict[str, str] = field(default_factory=dict)  # item id -> why it did not open
    items_checked: bool = True
    attachments: int = 0  # attachment files (blobs) in the backup

    @property
    def ok(self) -> bool:
        return not self.damaged


@dataclass(frozen=True)
class RestoreReport:
    vault_path: Path
    vault_id: str
    new_vault: bool
    device_id: str
    ops_read: int
    ops_added: int
    ops_known: int  # already in the vault: not duplicated
    resealed: int  # re-sealed under the vault's current master key (it was rotated since)
    damaged: dict[str, str]  # item id -> why its version was left out
    counts: dict[str, int]  # the vault's live items by kind afterwards, and "versions"
    attachments: int = 0  # attachment files (blobs) brought in


@dataclass(frozen=True)
class BackupInfo:
    """A backup file as listed: from its clear header only, so not yet verified."""

    path: Path
    size: int
    automatic: bool
    vault_id: str | None = None
    created: datetime | None = None
    problem: str | None = None  # why the header could not be read


# --- names and folders -------------------------------------------------------------------------


def backup_dir(config: Config) -> Path:
    value = config.get("backup.dir")
    return Path(value).expanduser().absolute() if value else default_backup_dir()


def backup_name(vault_id: str, when: datetime, *, automatic: bool = False) -> str:
    """vault-<first 8 of the vault id>-<UTC time>[-auto].vbak: sorts by time, says whose."""
    stamp = when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"vault-{vault_id[:8]}-{stamp}{AUTO_MARK if automatic else ''}{SUFFIX}"


def _unique(folder: Path, name: str) -> Path:
    """`name`, or `name` with -2, -3... added: above every number already there, so names
    made within one second sort as made even after rotation freed a lower one."""
    stem = name.removesuffix(SUFFIX)
    pattern = re.compile(re.escape(stem) + r"(?:-(\d{1,9}))?" + re.escape(SUFFIX))
    taken = [
        int(m.group(1) or 1)
        for p in folder.glob(glob.escape(stem) + "*" + SUFFIX)
        if (m := pattern.fullmatch(p.name))
    ]
    return folder / (f"{stem}-{max(taken) + 1}{SUFFIX}" if taken else name)


def read_backup_header(path: Path) -> BackupHeader:
    """The clear header of a backup (vault id, creation time, key slots), unverified."""
    with _open(path) as fh:
        return read_header(fh, str(path))


@contextlib.contextmanager
def _open(path: Path) -> Iterator[BinaryIO]:
    try:
        # O_NONBLOCK: opening a FIFO (or a device) must not wait forever for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise BackupError(f"no backup at {path}") from None
    except IsADirectoryError:
        raise BackupError(f"{path} is a folder, not a backup file") from None
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise BackupError(f"{path} is a folder, not a backup file")
        raise BackupError(f"{path} is not a regular file, so not a backup file")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    with open(fd, "rb") as fh:
        yield fh


def _make_folder(path: Path) -> None:
    """Create a missing folder private to its owner; an existing one (a person's own, or a
    synced folder) keeps its permissions."""
    try:
        make_private_dirs(path)
    except OSError as exc:
        raise storage_error(exc, path) from None


def size_text(size: int) -> str:
    """A size for people: '812 bytes', '27.9 MiB' (the CLI and the app say it alike)."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# --- creating ----------------------------------------------------------------------------------


def create_backup(
    vault: Vault,
    path: Path,
    *,
    history: bool = True,
    overwrite: bool = False,
    progress: Progress | None = None,
    now: datetime | None = None,
    automatic: bool = False,
) -> BackupReport:
    """Write a backup of `vault` to `path` (a file, or a folder to put a new file in).

    Streamed: operations go from the store to the file in batches, so memory stays flat.
    Atomic: the bytes go to a hidden temporary file in the same folder, are fsynced, and only
    then get the real name; a crash leaves at most a `.*.tmp` file that is never listed,
    verified or restored as a backup. Without `history`, only each item's current version(s)
    are kept (conflicting versions included), not the older ones.
    """
    path = path.expanduser()
    created = (now or datetime.now(UTC)).replace(microsecond=0)
    try:
        if path.is_dir():
            path = _unique(path, backup_name(vault.vault_id, created, automatic=automatic))
        exists = path.exists()
        regular = path.is_file()
    except OSError as exc:  # a parent we may not look into
        raise storage_error(exc, path) from None
    if exists and not overwrite:
        raise BackupError(f"{path} already exists; choose another name (or --force to replace)")
    if exists and not regular:  # a device or FIFO (/dev/null): --force must not rename over it
        raise BackupError(f"{path} is not a regular file; choose another name")
    store = vault.store
    master_key = vault.master_key
    mk_id = keys.mk_id(master_key)
    if mk_id != store.master_id:
        raise BackupError("the vault's master key is being rotated; try again when rekey is done")
    backup_id = crypto.random_id()
    prefix = encode_prefix(vault.vault_id, backup_id, created, mk_id, store.slots())
    start_seq = store.last_seq()
    counts = store.counts()
    total = counts.get("versions") if history else None
    _make_folder(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "wb", buffering=1 << 20) as fh:
            writer = BackupWriter(fh, prefix, stream_key(master_key, backup_id))
            writer.record_json(
                REC_INFO,
                {
                    "created": utc_stamp(created),
                    "history": history,
                    "device": store.device_id,
                    "program": f"vault {__version__}",
                    "counts": counts,
                },
            )
            ops = 0
            for op in _stream_ops(store, history):
                writer.record_json(REC_OP, op_to_json(op))
                ops += 1
                if progress is not None and ops % 256 == 0:
                    progress(ops, total)
            blobs = _write_blobs(writer, store.path)
            writer.finish({"ops": ops, "attachments": blobs})
            fh.flush()
            os.fsync(fh.fileno())
        if store.master_id != mk_id:
            # A rekey in another process re-sealed items mid-way: the file mixes two keys.
            raise BackupError("the master key was rotated during the backup; run it again")
        _publish(tmp, path, overwrite)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise storage_error(exc, path) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if progress is not None:
        progress(ops, total if total is not None else ops)
    size = _size(path)
    with contextlib.suppress(VaultError):  # bookkeeping only; the backup itself is done
        store.set_meta(META_LAST_SEQ, str(start_seq))
        last = {"created": utc_stamp(created), "path": str(path.absolute()), "size": size}
        store.set_meta(META_LAST_BACKUP, json.dumps(last, ensure_ascii=False))
    return BackupReport(path, vault.vault_id, backup_id, created, ops, history, size, blobs)


def _write_blobs(writer: BackupWriter, vault_path: Path) -> int:
    """Every attachment file this device holds, as runs of `A` records (the sealed files as
    they are: no key is needed, and what a restore puts back is verified when it is read)."""
    store = BlobStore(vault_path / "blobs", b"")
    written = 0
    for name in sorted(store.names()):
        try:
            attachment_records(writer, name, store.path(name))
        except FileNotFoundError:
            continue  # collected since it was listed: no note uses it
        written += 1
    return written


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


def _stream_ops(store: Store, history: bool) -> Iterator[Op]:
    """Operations in arrival order, a few at a time: an envelope can be large (a long note), so
    a small batch is what keeps memory flat."""
    if not history:
        yield from store.head_ops(batch=_BATCH)
        return
    last = 0
    while batch := store.ops_after(last, limit=_BATCH):
        yield from batch
        last = batch[-1].seq


def _publish(tmp: Path, path: Path, overwrite: bool) -> None:
    """Give the finished temporary file its name: replacing only when asked to."""
    if overwrite:
        os.replace(tmp, path)
    else:
        try:
            os.link(tmp, path)  # fails if the name was taken meanwhile: never clobbers
            os.unlink(tmp)
        except FileExistsError:
            raise BackupError(f"{path} already exists; choose another name") from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            if path.exists():  # no hard links here (FAT, some shares): check, then rename
                raise BackupError(f"{path} already exists; choose another name") from None
            os.replace(tmp, path)
    fsync_dir(path.parent)


# --- verifying ---------------------------------------------------------------------------------


class _Tally:
    """What a stream of operations adds up to: items, and which are live at their heads."""

    def __init__(self) -> None:
        self.ops = 0
        self.versions = 0
        self.kinds: dict[str, str] = {}
        self.deleted: dict[str, bool] = {}  # op id -> tombstone
        self.by_item: dict[str, list[str]] = {}
        self.parents: set[str] = set()

    def add(self, op: Op) -> None:
        self.ops += 1
        self.versions += op.envelope is not None
        self.kinds[op.item_id] = op.kind
        self.deleted[op.op_id] = op.deleted
        self.by_item.setdefault(op.item_id, []).append(op.op_id)
        self.parents.update(op.parents)

    def live(self) -> dict[str, int]:
        live: dict[str, int] = {}
        for item_id, op_ids in self.by_item.items():
            heads = [o for o in op_ids if o not in self.parents]
            # As in the store: with several heads, a live version beats a deletion.
            if any(not self.deleted[h] for h in heads):
                kind = self.kinds[item_id]
                live[kind] = live.get(kind, 0) + 1
        return live


def verify_backup(
    path: Path,
    *,
    password: str | None = None,
    recovery_key: str | None = None,
    keyfile: Path | None = None,
    master_key: bytes | None = None,
    open_items: bool = True,
    progress: Progress | None = None,
) -> VerifyReport:
    """Check a backup from end to end: the header against the stream, every part in order, the
    end marker, and (with `open_items`) that every item version opens with the key the slots
    unwrap. Raises BackupError for a damaged, truncated or tampered file, AuthError for a wrong
    secret; items that do not open are reported in `damaged` rather than raised."""
    path = path.expanduser()
    name = str(path)
    with _open(path) as fh:
        header = read_header(fh, name)
        if master_key is not None:
            if keys.mk_id(master_key) != header.mk_id:
                raise BackupError(f"{name} was made under another master key")
            mk, how = master_key, "master key"
        else:
            mk = unlock_header(
                header, name, password=password, keyfile=keyfile, recovery_key=recovery_key
            )
            how = "recovery key" if recovery_key is not None else "password"
        items_key = crypto.subkey(mk, Label.ITEMS)
        tally = _Tally()
        damaged: dict[str, str] = {}
        info: dict[str, Any] = {}
        parts = 0

        def count_parts(done: int, total: int | None) -> None:
            nonlocal parts
            parts += 1
            if progress is not None:
                progress(done, total)

        blobs: list[str] = []
        for record in read_records(fh, header, mk, name, count_parts, _size(path)):
            if record.rtype == REC_INFO:
                info = record.json(name)
                continue
            if record.rtype == REC_ATTACHMENT:
                blob, _ = attachment_piece(record, name)
                if not blobs or blobs[-1] != blob:
                    if blob in blobs:
                        raise BackupError(f"{name} is damaged: an attachment appears twice")
                    blobs.append(blob)
                continue
            op = op_from_record(record, name)
            tally.add(op)
            if open_items and op.item_id not in damaged:
                try:
                    # A version 2 envelope must answer for the operation's claims; a version 1
                    # backup's opens as version 1 did (the stream's AEAD covers its claims).
                    upgrade_envelope(items_key, header.vault_id, op.claims, op.envelope)
                except VaultError as exc:
                    damaged[op.item_id] = str(exc)
    return VerifyReport(
        path=path,
        vault_id=header.vault_id,
        backup_id=header.backup_id,
        created=header.created,
        opened_with=how,
        history=info.get("history") is not False,
        parts=parts,
        ops=tally.ops,
        versions=tally.versions,
        items=len(tally.by_item),
        live=tally.live(),
        damaged=damaged,
        items_checked=open_items,
        attachments=len(blobs),
    )


# --- restoring ---------------------------------------------------------------------------------


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
    with _open(path) as fh:
        header = read_header(fh, name)
        master_key = unlock_header(
            header, name, password=password, keyfile=keyfile, recovery_key=recovery_key
        )
        _make_folder(target.parent)
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
                total=_size(path),
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
    with _open(path) as fh:
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
                total=_size(path),
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


# --- listing, rotating, automatic backups ------------------------------------------------------


def list_backups(folder: Path, vault_id: str | None = None) -> list[BackupInfo]:
    """Backup files in `folder`, newest first, from their clear headers (cheap: no secret, no
    decryption). With `vault_id`, only that vault's (and unreadable ones, which could be)."""
    folder = folder.expanduser()
    try:
        entries = sorted(folder.iterdir())
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StorageError(f"cannot read {folder}: {exc.strerror}") from None
    found = []
    for p in entries:
        # Hidden names are temporary files of a backup in progress (or killed): never backups.
        if p.name.startswith(".") or not p.name.endswith(SUFFIX):
            continue
        automatic = _AUTO_NAME.fullmatch(p.name) is not None
        try:
            mode = os.lstat(p).st_mode
        except OSError:
            continue  # gone meanwhile
        if not stat.S_ISREG(mode):
            # A symlink, FIFO or folder someone put there: listed as a problem, never opened
            # (a FIFO would block, a symlink could point at /dev/zero or anywhere).
            found.append(BackupInfo(p, 0, automatic, problem="not a regular file; skipped"))
            continue
        try:
            header = read_backup_header(p)
        except VaultError as exc:
            found.append(BackupInfo(p, _size(p), automatic, problem=str(exc)))
            continue
        if vault_id is not None and header.vault_id != vault_id:
            continue
        found.append(BackupInfo(p, _size(p), automatic, header.vault_id, header.created))
    epoch = datetime.min.replace(tzinfo=UTC)

    def newest_first(b: BackupInfo) -> tuple[datetime, int, str]:
        # Within one second, "...-auto-2.vbak" was made after "...-auto.vbak" (but sorts
        # before it as text), and "-10" after "-9".
        number = _NUMBER.search(b.path.name)
        return (b.created or epoch, int(number.group(1)) if number else 1, b.path.name)

    return sorted(found, key=newest_first, reverse=True)


def rotate_backups(
    folder: Path,
    vault_id: str,
    *,
    keep_daily: int,
    keep_weekly: int,
    master_key: bytes | None = None,
) -> list[Path]:
    """Delete automatic backups of `vault_id` beyond the newest of each of the last
    `keep_daily` days and `keep_weekly` ISO weeks that have one (local time). The newest is
    always kept; backups made by hand and files of other vaults are never touched.

    With `master_key` (automatic backups pass it), only backups whose header that key
    authenticates take part: a planted file with a forged date can neither take a real
    backup's place among those kept nor be the "newest", and is itself left alone."""
    autos = [
        b
        for b in list_backups(folder, vault_id)
        if b.automatic and b.problem is None and b.vault_id == vault_id and b.created
        if master_key is None or _authentic(b.path, master_key)
    ]
    keep: set[Path] = set()
    days: list[object] = []
    weeks: list[object] = []
    for b in autos:  # newest first, so the first of a day or week is its newest
        assert b.created is not None
        local = b.created.astimezone()
        day, week = local.date(), local.isocalendar()[:2]
        if day not in days and len(days) < keep_daily:
            days.append(day)
            keep.add(b.path)
        if week not in weeks and len(weeks) < keep_weekly:
            weeks.append(week)
            keep.add(b.path)
    if autos:
        keep.add(autos[0].path)
    removed = []
    for b in autos:
        if b.path not in keep:
            try:
                b.path.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                continue  # not ours to delete after all (permissions): it stays
            removed.append(b.path)
    if removed:
        fsync_dir(folder)
    return removed


def _authentic(path: Path, master_key: bytes) -> bool:
    """Whether `master_key` sealed this backup's header as it is. Every part of the stream is
    authenticated with a digest of the header, so opening the first part proves the header
    (its date included) unchanged: one part is read, not the file."""
    try:
        with _open(path) as fh:
            header = read_header(fh, str(path))
            if header.mk_id != keys.mk_id(master_key):
                return False
            records = read_records(fh, header, master_key, str(path))
            next(records, None)
            records.close()
    except VaultError:
        return False
    return True


def _remove_stale_temp(folder: Path) -> None:
    """Temporary files of backups killed mid-way, once surely not in progress any more."""
    cutoff = time.time() - STALE_TEMP_SECONDS
    for p in folder.glob(f".*{SUFFIX}.*.tmp"):
        with contextlib.suppress(OSError):
            st = os.lstat(p)  # only a regular file of ours: what a backup of ours left
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and st.st_mtime < cutoff:
                p.unlink()


def _vault_created(vault: Vault) -> datetime:
    """vault.json is written once, when the vault is made (or restored)."""
    try:
        return datetime.fromtimestamp((vault.path / "vault.json").stat().st_mtime, UTC)
    except OSError:
        return datetime.now(UTC)


@dataclass(frozen=True)
class LastBackup:
    """The last backup this vault made, as the vault itself recorded it."""

    created: datetime
    path: Path
    size: int

    def still_there(self) -> bool:
        """The file is where it was written, a regular file of the size written (not moved,
        deleted, or replaced by something else)."""
        try:
            st = os.lstat(self.path)
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode) and st.st_size == self.size


def last_backup(store: Store) -> LastBackup | None:
    raw = store.meta(META_LAST_BACKUP)
    if not raw:
        return None
    try:
        doc = safejson.expect_dict(safejson.parse(raw, "the last backup record"), "record")
        return LastBackup(
            created=parse_stamp(safejson.field(doc, "created", str, "record")),
            path=Path(safejson.field(doc, "path", str, "record")),
            size=safejson.field(doc, "size", int, "record"),
        )
    except (VaultError, ValueError):
        return None  # unreadable: as if no backup was recorded, so one is made


def backup_due(
    vault: Vault,
    config: Config,
    *,
    reason: Literal["schedule", "quit"] = "schedule",
    now: datetime | None = None,
) -> bool:
    """Whether `auto_backup` would make a backup now.

    Never when nothing changed since the last backup this vault made (and that file is still
    where it was written). On quit (`backup.on_quit`): whenever something changed. On the
    schedule (`backup.interval_hours`, 0 turns it off): once the last backup this vault
    recorded (or, before the first, the vault itself) is that old. The files in the backup
    folder are not read: their clear headers are not authenticated, so a file dated 2099
    there must not stop backups.
    """
    if reason not in ("schedule", "quit"):
        raise ValueError(f"unknown reason {reason!r}")
    now = now or datetime.now(UTC)
    store = vault.store
    last_seq = store.last_seq()
    if last_seq == 0:
        return False  # an empty vault: nothing to keep
    last = last_backup(store)
    covered = store.meta(META_LAST_SEQ)
    changed = last is None or not last.still_there() or covered != str(last_seq)
    if not changed:
        return False
    if reason == "quit":
        return bool(config.get("backup.on_quit"))
    hours = float(config.get("backup.interval_hours"))
    if hours <= 0:
        return False
    since = last.created if last is not None else _vault_created(vault)
    if since > now:
        return True  # the clock went back since (or the record is wrong): do not wait for it
    return now - since >= timedelta(hours=hours)


def auto_backup(
    vault: Vault,
    config: Config,
    *,
    reason: Literal["schedule", "quit"] = "schedule",
    now: datetime | None = None,
) -> Path | None:
    """Make an automatic backup into `backup.dir` if one is due (see `backup_due`), prove it
    readable, then rotate old automatic backups. Returns the new file, or None."""
    if not backup_due(vault, config, reason=reason, now=now):
        return None
    folder = backup_dir(config)
    _make_folder(folder)
    before = {key: vault.store.meta(key) for key in (META_LAST_SEQ, META_LAST_BACKUP)}
    report = create_backup(vault, folder, history=True, automatic=True, now=now)
    # Older backups are deleted only once the new one reads back whole.
    try:
        verify_backup(report.path, master_key=vault.master_key, open_items=False)
    except VaultError:
        # A file that does not read back must not stay: rotation would keep it as the newest
        # of its day in place of a good one, and it would count as covering the vault's
        # changes, so no new automatic backup would be made until the next change.
        with contextlib.suppress(OSError):
            report.path.unlink()
        with contextlib.suppress(VaultError):
            for key, value in before.items():
                vault.store.set_meta(key, value or "")
        raise
    rotate_backups(
        folder,
        vault.vault_id,
        keep_daily=max(0, int(config.get("backup.keep_daily"))),
        keep_weekly=max(0, int(config.get("backup.keep_weekly"))),
        master_key=vault.master_key,
    )
    _remove_stale_temp(folder)
    return report.path
