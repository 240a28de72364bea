"""Crash-safe file writes and private folders.

Small JSON files (header, key slots, config) are replaced atomically: write a temporary file in
the same folder, fsync it, rename it over the target, fsync the folder. A crash at any point
leaves either the old file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

from vault.errors import StorageError

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink inside `path` durable."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # some file systems (and Windows) cannot open folders; best effort
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def ensure_private_dir(path: Path) -> None:
    """Create `path` (and parents) if needed and make it readable by the owner only."""
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path, PRIVATE_DIR_MODE)
    except OSError as exc:
        raise storage_error(exc, path) from None


def wipe_file(path: Path, chunk: int = 1 << 20) -> None:
    """Overwrite a file with zeros (made durable), then remove it: for files that held
    something secret. Best effort: a file that is gone or unwritable is only removed."""
    with contextlib.suppress(OSError):
        if not path.is_symlink():
            left = path.stat().st_size
            zeros = b"\0" * min(left, chunk)
            with open(path, "r+b") as fh:
                while left > 0:
                    left -= fh.write(zeros[: min(left, len(zeros))])
                fh.flush()
                os.fsync(fh.fileno())
    with contextlib.suppress(OSError):
        path.unlink()


def atomic_write(path: Path, data: bytes, mode: int = PRIVATE_FILE_MODE) -> None:
    """Replace `path` with `data` so that readers see the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise storage_error(exc, path) from None
    fsync_dir(path.parent)


def write_new(path: Path, data: bytes, mode: int = PRIVATE_FILE_MODE) -> None:
    """Write a file that must not exist yet, durably and atomically (immutable files)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            # os.write may write less than asked (a disk filling up does exactly that before
            # it fails with ENOSPC), so loop: a short file must never be linked into place.
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        # link() fails if the target exists, so an immutable file is never replaced
        try:
            os.link(tmp, path)
            os.unlink(tmp)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            # file systems without hard links (FAT, some shares): check, then rename
            if path.exists():
                raise FileExistsError(errno.EEXIST, "exists", str(path)) from None
            os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if exc.errno == errno.EEXIST:
            raise
        raise storage_error(exc, path) from None
    fsync_dir(path.parent)


def storage_error(exc: OSError, path: Path) -> StorageError:
    """Turn an OSError into a one-line message a person can act on."""
    reasons = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exhausted",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOENT: "the folder does not exist",
        errno.ENOTDIR: "a parent is not a folder",
    }
    reason = reasons.get(exc.errno or 0, exc.strerror or "unknown error")
    return StorageError(f"cannot write {path}: {reason}; nothing was changed")
