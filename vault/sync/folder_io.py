"""The only way vault touches the inside of a sync folder: through directory descriptors that
never follow a symbolic link.

The folder is written by other people's devices and daemons, so every name in it may be a
symlink (absolute, or relative such as `../../../Documents`), a FIFO, a device, a directory,
a hard link or a sparse giant. The rules, enforced here once for every reader and writer:

- The folder itself is opened once (the person chose it, so a symlink there is theirs); every
  name below it is opened relative to a directory descriptor with O_NOFOLLOW, so no path
  inside the folder ever resolves outside it. A place that must be a folder and is anything
  else (a symlink included) raises `FolderRefused`; nothing is followed, created or deleted
  through it.
- Only regular files are read: lstat first (nothing else is even opened, so no device or FIFO
  is), then open with O_NOFOLLOW|O_NONBLOCK (nothing can block) and fstat the open file. A read
  is capped by the caller's limit: the size is checked before reading, and at most limit + 1
  bytes are read whatever the size claimed.
- Writes create a new file under a hidden temporary name (O_EXCL|O_NOFOLLOW), fsync it and
  link it into place, never over an existing entry.
- A file is deleted only if it is a regular file with no other name (one link), whose bytes
  the caller checked (`unlink_verified`), and that is still the very file checked when it is
  unlinked. Unlinking relative to the directory descriptor removes that entry only: it can
  never reach a file outside the folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vault.errors import RemoteError, StorageError
from vault.fsutil import storage_error

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NOCTTY = getattr(os, "O_NOCTTY", 0)
_OPEN_DIR = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _NONBLOCK | _CLOEXEC
_OPEN_READ = os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC | _NOCTTY
_OPEN_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
_CHUNK = 1 << 20
# Entries one folder of the sync folder may hold: a device's log keeps about 35 files (SYNC.md),
# `log/` and `keys/` one folder per device; far below what makes a listing cost.
MAX_ENTRIES = 10_000


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


class FolderRefused(RemoteError):
    """A place in the sync folder that must be a real folder is something else (a symbolic
    link, a file, a FIFO) or cannot be listed: it is reported and left alone."""


class Unreadable(Exception):
    """A file that is listed but cannot be used now: vanished, not a regular file, too large,
    permissions. Never a deletion; the caller retries on a later run."""


@dataclass(frozen=True)
class Listed:
    """One entry of a folder, as lstat shows it (nothing followed, nothing read)."""

    name: str
    size: int
    mtime_ns: int
    regular: bool  # a regular file (not a symlink, FIFO, device, socket or folder)
    folder: bool  # a real folder (not a symlink to one)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ELOOP:
        return "a symbolic link"
    return exc.strerror or "unreadable"


class Dir:
    """An open folder inside the sync folder (or the sync folder itself). `where` names it in
    messages; every operation is relative to the descriptor, never to a path."""

    def __init__(self, fd: int, where: str) -> None:
        self.fd = fd
        self.where = where
        self._last_stat: os.stat_result | None = None

    # --- opening -----------------------------------------------------------------------------

    @classmethod
    def open_root(cls, path: str) -> Dir:
        """The sync folder itself (a symlink here is the person's own choice, so it is followed;
        nothing below it ever is)."""
        try:
            fd = os.open(path, os.O_RDONLY | _DIRECTORY | _NONBLOCK | _CLOEXEC)
        except FileNotFoundError:
            raise
        except OSError as exc:
            if exc.errno == errno.ENOTDIR:
                raise RemoteError(f"the sync folder {path} is not a folder") from None
            raise RemoteError(f"the sync folder {path} is not readable ({_reason(exc)})") from None
        return cls(fd, path)

    def sub(self, name: str, *, create: bool = False) -> Dir | None:
        """The real folder `name` in this one; None if there is none (and `create` is off).
        FolderRefused if `name` is anything but a real folder we can list."""
        where = f"{self.where}/{name}"
        for attempt in (0, 1):
            try:
                fd = os.open(name, _OPEN_DIR, dir_fd=self.fd)
            except FileNotFoundError:
                if not create or attempt:
                    return None
                with contextlib.suppress(FileExistsError):
                    try:
                        os.mkdir(name, 0o700, dir_fd=self.fd)
                    except OSError as exc:
                        raise StorageError(f"cannot create {where}: {_reason(exc)}") from None
                continue
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    what = self._what(name)
                    raise FolderRefused(f"{where} is not a real folder ({what})") from None
                raise FolderRefused(f"cannot open {where}: {_reason(exc)}") from None
            if not stat.S_ISDIR(os.fstat(fd).st_mode):  # O_DIRECTORY missing on this system
                os.close(fd)
                raise FolderRefused(f"{where} is not a real folder")
            return Dir(fd, where)
        return None  # pragma: no cover - the loop always returns or raises

    def _what(self, name: str) -> str:
        try:
            return _kind(os.lstat(name, dir_fd=self.fd).st_mode)
        except OSError:
            return "gone"

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Dir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- looking -----------------------------------------------------------------------------

    def list(self, limit: int | None = MAX_ENTRIES) -> list[Listed]:
        """Every entry (hidden ones included), by lstat: one listing, no read, nothing followed.
        FolderRefused past `limit` (a device's folder: it writes a few dozen files, and one of
        millions would cost every run time and memory in proportion; the folders of devices,
        `log/` and `keys/`, are listed without one, so no peer can refuse them all)."""
        out = []
        try:
            with os.scandir(self.fd) as it:
                for entry in it:
                    if limit is not None and len(out) >= limit:
                        raise FolderRefused(
                            f"{self.where} holds more than {limit:,} entries; it is not a "
                            "device's folder (set aside)"
                        )
                    with contextlib.suppress(OSError):  # vanished while listing
                        st = entry.stat(follow_symlinks=False)
                        out.append(
                            Listed(
                                entry.name,
                                st.st_size,
                                st.st_mtime_ns,
                                stat.S_ISREG(st.st_mode),
                                stat.S_ISDIR(st.st_mode),
                            )
                        )
        except OSError as exc:
            raise FolderRefused(f"cannot list {self.where}: {_reason(exc)}") from None
        return sorted(out, key=lambda e: e.name)

    def lstat(self, name: str) -> os.stat_result | None:
        try:
            return os.lstat(name, dir_fd=self.fd)
        except OSError:
            return None

    # --- reading -----------------------------------------------------------------------------

    def read(self, name: str, limit: int) -> bytes:
        """The bytes of the regular file `name`, at most `limit` of them; Unreadable otherwise."""
        data, _ = self._read(name, limit)
        return data

    def digest(self, name: str, limit: int, hasher: Hasher) -> str:
        """The hex digest of the regular file `name` (at most `limit` bytes), computed as it is
        read in chunks: a file whose bytes will not match its name costs no memory."""
        for chunk in self._chunks(name, limit):
            hasher.update(chunk)
        return hasher.hexdigest()

    def stream(self, name: str, limit: int) -> Iterator[bytes]:
        """The bytes of the regular file `name`, chunk by chunk (at most `limit` in all, with
        every rule of `read`); Unreadable, raised as the chunks are taken, otherwise."""
        return self._chunks(name, limit)

    def _read(self, name: str, limit: int) -> tuple[bytes, os.stat_result]:
        chunks = list(self._chunks(name, limit))
        st = self._last_stat
        assert st is not None
        return b"".join(chunks), st

    def _chunks(self, name: str, limit: int) -> Iterator[bytes]:
        """The bytes of a regular file, chunk by chunk, never more than `limit` in all."""
        try:
            before = os.lstat(name, dir_fd=self.fd)
        except OSError as exc:
            raise Unreadable(_reason(exc)) from None
        if not stat.S_ISREG(before.st_mode):
            # Not even opened: opening a device or a FIFO can block or have effects.
            raise Unreadable(f"{_kind(before.st_mode)}, not a file")
        if before.st_size > limit:
            raise Unreadable(f"too large ({before.st_size} bytes) to be a vault sync file")
        try:
            fd = os.open(name, _OPEN_READ, dir_fd=self.fd)
        except OSError as exc:
            raise Unreadable(_reason(exc)) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (
                before.st_dev,
                before.st_ino,
            ):
                raise Unreadable("replaced while being read")
            if st.st_size > limit:
                raise Unreadable(f"too large ({st.st_size} bytes) to be a vault sync file")
            if _has_holes(fd, st.st_size):
                # Nothing vault writes has a hole (ciphertext and JSON text have no 4 KiB run of
                # zeros), so a sparse file is a stranger or unfinished: refused unread.
                raise Unreadable("a sparse file (it has holes): incomplete or not a vault file")
            self._last_stat = st
            left = limit + 1  # one byte more than allowed shows a file that grew past it
            while left > 0:
                try:
                    chunk = os.read(fd, min(left, _CHUNK))
                except BlockingIOError:
                    raise Unreadable("not ready (would block)") from None
                if not chunk:
                    break
                left -= len(chunk)
                if left <= 0:
                    raise Unreadable(f"grew past {limit} bytes while being read")
                yield chunk
        except OSError as exc:
            raise Unreadable(_reason(exc)) from None
        finally:
            os.close(fd)

    # --- writing -----------------------------------------------------------------------------

    def write_new(self, name: str, data: bytes, mode: int = 0o600) -> None:
        """Put a new file `name` in place, durably; FileExistsError if the name is taken (by
        anything: a file, a symlink, a folder). Never writes through a link."""
        self.write_stream(name, [data], mode)

    def write_stream(self, name: str, chunks: Iterable[bytes], mode: int = 0o600) -> None:
        """`write_new` for a file too large to hold: its bytes come chunk by chunk."""
        tmp = f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, _OPEN_NEW, mode, dir_fd=self.fd)
            try:
                for data in chunks:
                    view = memoryview(data)
                    while view:  # os.write may write less than asked (a disk filling up)
                        view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd, follow_symlinks=False)
                os.unlink(tmp, dir_fd=self.fd)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                    raise
                # File systems without hard links: check, then rename (a rename replaces the
                # entry itself, never what a symlink there points to).
                if self.lstat(name) is not None:
                    raise FileExistsError(errno.EEXIST, "exists", name) from None
                os.rename(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=self.fd)
            if exc.errno == errno.EEXIST:
                raise FileExistsError(errno.EEXIST, "exists", name) from None
            raise _storage(exc, f"{self.where}/{name}") from None
        self.fsync()

    def same_content(self, name: str, data: bytes) -> bool:
        """Does the regular file `name` hold exactly `data`? (bounded; False for anything else)"""
        try:
            return self.read(name, len(data)) == data
        except Unreadable:
            return False

    # --- deleting ----------------------------------------------------------------------------

    def unlink_verified(self, name: str, limit: int, check: Callable[[bytes], bool]) -> str | None:
        """Delete `name` only if it is a regular file with one link whose bytes (at most
        `limit`) pass `check`, and it is still that very file when unlinked. Returns None when
        deleted (or already gone), else why it was left alone."""
        try:
            data, st = self._read(name, limit)
        except Unreadable as exc:
            if self.lstat(name) is None:
                return None
            return str(exc)
        return self._unlink_checked(name, st, check(data))

    def unlink_if_digest(self, name: str, limit: int, hasher: Hasher, expect: str) -> str | None:
        """`unlink_verified` for a file too large to hold: deleted only if its bytes, streamed,
        hash to `expect`, it has one link and it is still that very file when unlinked."""
        try:
            digest = self.digest(name, limit, hasher)
        except Unreadable as exc:
            if self.lstat(name) is None:
                return None
            return str(exc)
        st = self._last_stat
        assert st is not None
        return self._unlink_checked(name, st, digest == expect)

    def _unlink_checked(self, name: str, st: os.stat_result, ours: bool) -> str | None:
        """The end both deletions share: `st` is the file as it was read and `ours` whether
        its bytes were this device's; unlinked only if it has one link and is still that very
        file."""
        if st.st_nlink != 1:
            return "it has other names (a hard link): not only ours"
        if not ours:
            return "its content is not what this device wrote"
        now = self.lstat(name)
        if now is None:
            return None
        if (now.st_ino, now.st_dev, now.st_size, now.st_mtime_ns) != (
            st.st_ino,
            st.st_dev,
            st.st_size,
            st.st_mtime_ns,
        ):
            return "it changed while being checked"
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _storage(exc, f"{self.where}/{name}") from None
        self.fsync()
        return None

    def restore_from_copy(
        self, copy: str, name: str, limit: int, good: Callable[[bytes], bool]
    ) -> str | None:
        """Give `name` back the bytes of `copy`, a daemon's copy of a file of ours: only if the
        copy is a regular file with one link whose bytes pass `good` (exactly what this device
        wrote as `name`), and `name` is missing or a regular file whose bytes do not. One atomic
        rename inside this folder: the damaged bytes lose the name, the good ones take it.
        Returns None when done, else why not."""
        try:
            data, st = self._read(copy, limit)
        except Unreadable as exc:
            return str(exc)
        if st.st_nlink != 1 or not good(data):
            return "the copy is not what this device wrote"
        target = self.lstat(name)
        if target is not None:
            if not stat.S_ISREG(target.st_mode) or target.st_nlink != 1:
                return f"{name} is {_kind(target.st_mode)} or has other names"
            try:
                current, _ = self._read(name, limit)
            except Unreadable as exc:
                return str(exc)
            if good(current):
                return "the file under its name is whole"
        now = self.lstat(copy)
        if now is None or (now.st_ino, now.st_size, now.st_mtime_ns) != (
            st.st_ino,
            st.st_size,
            st.st_mtime_ns,
        ):
            return "the copy changed while being checked"
        try:
            os.rename(copy, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except OSError as exc:
            raise _storage(exc, f"{self.where}/{name}") from None
        self.fsync()
        return None

    def remove_stale_temporaries(self, older_than: float) -> None:
        """Hidden `.….tmp` regular files (one link) of this device's killed writes, older than
        `older_than` seconds: only this device writes in its folder, and a live write takes
        far less."""
        cutoff = time.time() - older_than
        with contextlib.suppress(FolderRefused):
            for e in self.list():
                if not (e.name.startswith(".") and e.name.endswith(".tmp") and e.regular):
                    continue
                st = self.lstat(e.name)
                if st is None or st.st_nlink != 1 or st.st_mtime >= cutoff:
                    continue
                with contextlib.suppress(OSError):
                    os.unlink(e.name, dir_fd=self.fd)

    def fsync(self) -> None:
        with contextlib.suppress(OSError):
            os.fsync(self.fd)


def _has_holes(fd: int, size: int) -> bool:
    seek_hole = getattr(os, "SEEK_HOLE", None)
    if seek_hole is None or size == 0:
        return False
    try:
        return os.lseek(fd, 0, seek_hole) < size
    except OSError:
        return False  # a file system that cannot tell: read it (the budget still bounds it)
    finally:
        with contextlib.suppress(OSError):
            os.lseek(fd, 0, os.SEEK_SET)


def _storage(exc: OSError, where: str) -> StorageError:
    return storage_error(exc, Path(where))  # the one table of reasons (vault.fsutil)
