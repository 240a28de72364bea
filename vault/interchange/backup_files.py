"""What writing, restoring and rotating backups share: the names of backup files and where
they go, opening one safely, and the reports each step returns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from vault.errors import BackupError
from vault.fsutil import make_private_dirs, storage_error
from vault.interchange.backup_format import BackupHeader, read_header
from vault.paths import default_backup_dir

if TYPE_CHECKING:
    from vault.config import Config

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
BATCH = 64  # operations read from the store at a time
# Only files named like this are ever deleted by rotation (a person's own backups never are).
AUTO_NAME = re.compile(r"vault-[0-9a-f]{8}-\d{8}T\d{6}Z-auto(?:-\d+)?\.vbak")
NUMBER = re.compile(r"T\d{6}Z(?:-auto)?-(\d{1,9})\.vbak$")  # the -n that unique_path adds


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
    # Files in keys/ that did not read as key slots, so are not in the backup: it opens only
    # with the slots that did (the password's, the recovery key's).
    slots_left_out: tuple[str, ...] = ()


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


def unique_path(folder: Path, name: str) -> Path:
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
    with open_backup(path) as fh:
        return read_header(fh, str(path))


@contextlib.contextmanager
def open_backup(path: Path) -> Iterator[BinaryIO]:
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


def make_folder(path: Path) -> None:
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


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
