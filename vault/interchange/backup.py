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

This module makes and verifies backups and keeps the rotating set (listing, rotation, automatic
backups); restoring is in vault.interchange.backup_restore, and the names, folders and reports
all three share in vault.interchange.backup_files. The names others use are re-exported here.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from vault import __version__, safejson
from vault.errors import BackupError, StorageError, VaultError
from vault.fsutil import PRIVATE_FILE_MODE, fsync_dir, storage_error
from vault.interchange.backup_files import (
    AUTO_MARK,
    AUTO_NAME,
    BATCH,
    META_LAST_BACKUP,
    META_LAST_SEQ,
    NUMBER,
    STALE_TEMP_SECONDS,
    SUFFIX,
    BackupInfo,
    BackupReport,
    RestoreReport,
    VerifyReport,
    backup_dir,
    backup_name,
    file_size,
    make_folder,
    open_backup,
    read_backup_header,
    size_text,
    unique_path,
)
from vault.interchange.backup_format import (
    REC_ATTACHMENT,
    REC_INFO,
    REC_OP,
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
from vault.interchange.backup_restore import backup_needs_secret, merge_backup, restore_backup
from vault.sealing import crypto, keys
from vault.sealing.crypto import Label
from vault.sealing.envelope import upgrade_envelope
from vault.storage.blobs import BlobStore
from vault.storage.store import Op, Store
from vault.wording import some_of

if TYPE_CHECKING:
    from vault.config import Config
    from vault.notes.vault import Vault

# What the faces and tests use from here (shared parts and restoring live in the modules named).
__all__ = [
    "AUTO_MARK",
    "META_LAST_BACKUP",
    "META_LAST_SEQ",
    "STALE_TEMP_SECONDS",
    "SUFFIX",
    "BackupInfo",
    "BackupReport",
    "LastBackup",
    "RestoreReport",
    "VerifyReport",
    "auto_backup",
    "backup_dir",
    "backup_due",
    "backup_name",
    "backup_needs_secret",
    "create_backup",
    "last_backup",
    "left_out_text",
    "list_backups",
    "merge_backup",
    "read_backup_header",
    "restore_backup",
    "rotate_backups",
    "size_text",
    "verify_backup",
]


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
            path = unique_path(path, backup_name(vault.vault_id, created, automatic=automatic))
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
    left_out = tuple(name for name, _ in store.damaged_slots)  # (as of that very scan)
    start_seq = store.last_seq()
    counts = store.counts()
    total = counts.get("versions") if history else None
    make_folder(path.parent)
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
    size = file_size(path)
    with contextlib.suppress(VaultError):  # bookkeeping only; the backup itself is done
        store.set_meta(META_LAST_SEQ, str(start_seq))
        last = {"created": utc_stamp(created), "path": str(path.absolute()), "size": size}
        store.set_meta(META_LAST_BACKUP, json.dumps(last, ensure_ascii=False))
    return BackupReport(
        path, vault.vault_id, backup_id, created, ops, history, size, blobs, left_out
    )


def left_out_text(names: tuple[str, ...]) -> str:
    """What to say of the key slot files a backup could not take (`slots_left_out`), or ""."""
    if not names:
        return ""
    one = len(names) == 1
    return (
        f"{some_of(names, 'keys/')} did not read as {'a key slot' if one else 'key slots'} and "
        f"{'is' if one else 'are'} not in the backup: it opens with the key slots that did "
        "read (`vault check` names what is damaged)"
    )


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


def _stream_ops(store: Store, history: bool) -> Iterator[Op]:
    """Operations in arrival order, a few at a time: an envelope can be large (a long note), so
    a small batch is what keeps memory flat."""
    if not history:
        yield from store.head_ops(batch=BATCH)
        return
    last = 0
    while batch := store.ops_after(last, limit=BATCH):
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
    with open_backup(path) as fh:
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
        for record in read_records(fh, header, mk, name, count_parts, file_size(path)):
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
        automatic = AUTO_NAME.fullmatch(p.name) is not None
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
            found.append(BackupInfo(p, file_size(p), automatic, problem=str(exc)))
            continue
        if vault_id is not None and header.vault_id != vault_id:
            continue
        found.append(BackupInfo(p, file_size(p), automatic, header.vault_id, header.created))
    epoch = datetime.min.replace(tzinfo=UTC)

    def newest_first(b: BackupInfo) -> tuple[datetime, int, str]:
        # Within one second, "...-auto-2.vbak" was made after "...-auto.vbak" (but sorts
        # before it as text), and "-10" after "-9".
        number = NUMBER.search(b.path.name)
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
        with open_backup(path) as fh:
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
    readable, then rotate old automatic backups (not when it had to leave a key slot out:
    `slots_left_out`; `Vault.damaged_slot_files` then names them). Returns the new file, or
    None."""
    if not backup_due(vault, config, reason=reason, now=now):
        return None
    folder = backup_dir(config)
    make_folder(folder)
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
    if not report.slots_left_out:
        # (one that lacks a key slot does not replace the older ones that carry it: they may
        # be the only backups the recovery key opens)
        rotate_backups(
            folder,
            vault.vault_id,
            keep_daily=max(0, int(config.get("backup.keep_daily"))),
            keep_weekly=max(0, int(config.get("backup.keep_weekly"))),
            master_key=vault.master_key,
        )
    _remove_stale_temp(folder)
    return report.path
