"""Crash-safe file writes and private folders.

Small JSON files (header, key slots, config) are replaced atomically: write a temporary file in
the same folder, fsync it, rename it over the target, fsync the folder. A crash at any point
leaves either the old file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from vault.errors import StorageError

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


SMALL_FILE_LIMIT = 1 << 20  # a header, a key slot: a few hundred bytes each


def read_small(path: Path, limit: int = SMALL_FILE_LIMIT) -> bytes:
    """The bytes of a small file of ours (the vault's header, a key slot) read whole, only if
    it is a regular file of at most `limit` bytes: opening a FIFO or a device put in its place
    never waits (O_NONBLOCK), and a huge file is never read. ValueError for anything else;
    OSError as the system gives it."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            raise ValueError(f"{path.name} is not a small regular file")
        os.set_blocking(fd, True)
        chunks = []
        total = 0
        while chunk := os.read(fd, limit + 1 - total):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # grew since the fstat
                raise ValueError(f"{path.name} is not a small regular file")
        return b"".join(chunks)
    finally:
        os.close(fd)


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


def make_private_dirs(path: Path) -> list[Path]:
    """Create `path` and each missing parent, every one of them 0700 (`Path.mkdir(parents=True)`
    gives the parents the default mode: a backup folder's new parent would be world-readable).
    Folders that already exist keep their permissions: they are a person's own. Returns the
    folders made, outermost first. Raises OSError."""
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        if probe.is_symlink():
            break  # a dangling symlink: mkdir below reports it
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    made = []
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR_MODE)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue  # made meanwhile by someone else: theirs, left as it is
        os.chmod(folder, PRIVATE_DIR_MODE)  # the umask may have taken bits away, never added
        made.append(folder)
    if not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(path))
    return made


def ensure_private_dir(path: Path) -> None:
    """Create `path` (and parents) if needed and make it readable by the owner only."""
    try:
        make_private_dirs(path)
        os.chmod(path, PRIVATE_DIR_MODE)
    except OSError as exc:
        raise storage_error(exc, path) from None


def wipe_file(path: Path, chunk: int = 1 << 20) -> None:
    """Overwrite a file with zeros (made durable), then remove it: for files that held
    something secret. Best effort: a file that is gone or unwritable is only removed. Only a
    regular file is overwritten: never through a symlink, never into a FIFO or a device, never
    one hard-linked elsewhere."""
    with contextlib.suppress(OSError):
        flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(path, flags)
        try:
            st = os.fstat(fd)
            # A file with other hard links is only unlinked: zeroing it would reach a name
            # outside the folder being wiped.
            if stat.S_ISREG(st.st_mode) and st.st_nlink <= 1:
                _zero(fd, st.st_size, chunk)
        finally:
            os.close(fd)
    with contextlib.suppress(OSError):
        path.unlink()


def _zero(fd: int, size: int, chunk: int) -> None:
    os.set_blocking(fd, True)
    zeros = b"\0" * min(size, chunk)
    left = size
    while left > 0:
        left -= os.write(fd, zeros[: min(left, len(zeros))])
    os.fsync(fd)


def wipe_tree(folder: Path) -> None:
    """Overwrite every file below `folder` with zeros, then remove it all (symlinks inside are
    removed, never followed)."""
    for root, dirs, files in os.walk(folder, topdown=False):
        for name in files:
            wipe_file(Path(root, name))
        for name in dirs:
            with contextlib.suppress(OSError):
                Path(root, name).rmdir()
            if os.path.islink(os.path.join(root, name)):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(root, name))
    with contextlib.suppress(OSError):
        folder.rmdir()
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists (another user's): not ours to judge
    return True


def sweep_stale_dirs(base: Path, pattern: re.Pattern[str]) -> list[Path]:
    """Wipe the folders in `base` whose names match `pattern` (its group "pid" the process that
    made them) when that process is gone: work folders of plaintext that a SIGKILL or a crash
    left behind. Only real folders owned by this user; a symlink under our name is left alone.
    Returns what was removed."""
    removed: list[Path] = []
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in names:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        pid = int(match.group("pid"))
        if pid == os.getpid() or process_alive(pid):
            continue
        folder = base / name
        try:
            st = os.lstat(folder)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid():
            wipe_tree(folder)
            removed.append(folder)
    return removed


def atomic_write(path: Path, data: bytes, mode: int = PRIVATE_FILE_MODE) -> None:
    """Replace `path` with `data` so that readers see the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            write_fully(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise storage_error(exc, path) from None
    fsync_dir(path.parent)


@contextlib.contextmanager
def replacing(
    path: Path, mode: int = PRIVATE_FILE_MODE, suffix: str = ".tmp"
) -> Iterator[BinaryIO]:
    """A new hidden file beside `path` to stream into; when the block ends without an error it
    is fsynced and renamed over `path`, on any error it is removed (a failed write leaves no
    partial file). An OSError becomes one StorageError naming `path`. The caller fsyncs the
    folder when the name must survive a crash too."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except OSError as exc:
        raise storage_error(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise storage_error(exc, path) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_fully(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd` and make it durable. os.write may write less than asked (a
    disk filling up does exactly that before it fails with ENOSPC), so it loops: a short file
    must never be put in place as if it were whole."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)


def write_new(path: Path, data: bytes, mode: int = PRIVATE_FILE_MODE) -> None:
    """Write a file that must not exist yet, durably and atomically (immutable files)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            write_fully(fd, data)
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


# Less free space than this on a file system SQLite writes to means "full": a disk I/O error
# there is the disk running out, not the disk failing.
NEARLY_FULL_BYTES = 1 << 20


def _free_bytes(path: Path) -> int | None:
    for probe in (path, *path.parents):  # the nearest folder that exists
        try:
            st = os.statvfs(probe)
        except OSError:
            continue
        return st.f_bavail * st.f_frsize
    return None


def sqlite_temp_dir() -> Path:
    """The folder SQLite puts its temporary files in (its own order of choice on Unix)."""
    for value in (os.environ.get("SQLITE_TMPDIR"), os.environ.get("TMPDIR")):
        if value and os.path.isdir(value):
            return Path(value)
    for name in ("/var/tmp", "/usr/tmp", "/tmp"):
        if os.path.isdir(name) and os.access(name, os.W_OK | os.X_OK):
            return Path(name)
    return Path(".")


def full_disk(*folders: Path) -> Path | None:
    """The first of `folders` whose file system is (all but) full, or None."""
    for folder in folders:
        free = _free_bytes(folder)
        if free is not None and free < NEARLY_FULL_BYTES:
            return folder
    return None


def disk_full_error(folder: Path, what: str) -> StorageError | None:
    """For SQLite's "disk I/O error" and "database or disk is full", which name no disk: a
    message saying which disk is full, the vault's or the temporary folder's, or None when
    neither is (a real I/O error)."""
    full = full_disk(folder, sqlite_temp_dir())
    if full is None:
        return None
    which = "the temporary folder" if full != folder else "the vault folder"
    return StorageError(
        f"cannot {what}: the disk is full (the one holding {which} {full}); free some space "
        "there and try again (nothing was lost)"
    )


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
    if exc.errno == errno.ENOSPC:  # which disk: the export or backup may go to another one
        reason = f"the disk is full (the one holding {_existing_folder(path)})"
    return StorageError(f"cannot write {path}: {reason}; nothing was changed")


def _existing_folder(path: Path) -> Path:
    """The nearest existing folder at or above `path`: the disk that said it is full."""
    for probe in (path, *path.parents):
        if probe.is_dir():
            return probe
    return path
