"""The shared folder as the sync engine sees it: listings, reads and immutable writes.

Everything that touches the folder goes through `RemoteFolder`, so the one place that decides
what a missing, unreadable or half-written file means is here: it is never a deletion, only
"not readable yet". Writes go to a hidden temporary name, are fsynced, then linked into place
(never over an existing file), then the folder is fsynced.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from vault.errors import RemoteError, StorageError
from vault.fsutil import atomic_write, fsync_dir, storage_error, write_new
from vault.sync import layout

MAX_HEADER_BYTES = 64 * 1024
STALE_TEMP_SECONDS = 3600


@dataclass(frozen=True)
class RemoteHeader:
    vault_id: str
    master_id: str
    version: int = layout.FORMAT_VERSION


@dataclass(frozen=True)
class Entry:
    """One file in a device's folder, as listed (nothing read yet)."""

    name: str
    size: int


class Unreadable(Exception):
    """A file that is listed but cannot be read now (placeholder, vanished, permissions)."""


class RemoteFolder:
    """The sync folder at `path`. Subclassed by the test suite's hostile-daemon simulation."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).expanduser()

    def __repr__(self) -> str:
        return f"RemoteFolder({str(self.path)!r})"

    # --- the folder itself ---------------------------------------------------------------

    def check_reachable(self) -> None:
        if not self.path.exists():
            raise RemoteError(
                f"the sync folder {self.path} does not exist (is the drive mounted? "
                "`vault remote set DIR` changes it)"
            )
        if not self.path.is_dir():
            raise RemoteError(f"the sync folder {self.path} is not a folder")
        if not os.access(self.path, os.R_OK | os.X_OK):
            raise RemoteError(f"the sync folder {self.path} is not readable (permissions)")

    def is_blank(self) -> bool:
        """Nothing in it but hidden files (a daemon's marker such as Syncthing's .stfolder)."""
        try:
            return all(layout.is_ignored(p.name) for p in self.path.iterdir())
        except OSError as exc:
            raise RemoteError(f"cannot list the sync folder {self.path}: {exc.strerror}") from None

    def read_header(self) -> RemoteHeader | None:
        """The folder's header, None if there is none (yet); RemoteError if it is not ours."""
        path = self.path / layout.HEADER
        try:
            st = path.stat()
            # A FIFO would block the read forever and a device could be endless: only a small
            # regular file can be a header.
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_HEADER_BYTES:
                raise RemoteError(f"{path} is not a vault sync header (not a small file)")
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RemoteError(f"cannot read {path}: {exc.strerror}") from None
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict) or doc.get("format") != layout.FORMAT_NAME:
                raise ValueError
            v = doc.get("v")
            if isinstance(v, int) and not isinstance(v, bool) and v > layout.FORMAT_VERSION:
                raise RemoteError(
                    f"{self.path} was set up by a newer version of vault (format v{v}); upgrade"
                )
            vault_id, master_id = doc["vault_id"], doc["mk_id"]
            if v not in layout.READABLE_VERSIONS or not (
                layout.is_device_id(vault_id) and layout.is_device_id(master_id)
            ):
                raise ValueError
        except RemoteError:
            raise
        except (ValueError, KeyError, TypeError):
            raise RemoteError(
                f"{path} is damaged or incomplete (still syncing?); try again later"
            ) from None
        return RemoteHeader(vault_id, master_id, v)

    def header_signature(self) -> str | None:
        """Where, how big and when the header was written (a stat, no read), or None."""
        path = self.path / layout.HEADER
        try:
            st = path.stat()
        except OSError:
            return None
        return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"

    def write_header(self, header: RemoteHeader, *, upgrade: bool = False) -> None:
        """Write the header if there is none (or, with `upgrade`, replace a version 1 header
        atomically). Its bytes depend only on the vault, its key and the format version, so two
        devices setting up (or upgrading) the same folder at once write identical files."""
        doc = {
            "format": layout.FORMAT_NAME,
            "v": layout.FORMAT_VERSION,
            "vault_id": header.vault_id,
            "mk_id": header.master_id,
        }
        data = (json.dumps(doc, indent=2) + "\n").encode("ascii")
        for sub in (layout.LOG_DIR, layout.KEYS_DIR):
            self._mkdir(self.path / sub)
        if upgrade:
            atomic_write(self.path / layout.HEADER, data)
            return
        with contextlib.suppress(FileExistsError):
            write_new(self.path / layout.HEADER, data)

    # --- listing and reading ---------------------------------------------------------------

    def devices(self) -> list[str]:
        """Device folders under log/ (one listing)."""
        return self._subdirs(self.path / layout.LOG_DIR)

    def list_files(self, device: str, area: str = layout.LOG_DIR) -> list[Entry]:
        """Files in one device's folder (one listing, one stat per file)."""
        folder = self.path / area / device
        entries = []
        try:
            with os.scandir(folder) as it:
                for e in it:
                    if layout.is_ignored(e.name):
                        continue
                    with contextlib.suppress(OSError):
                        if e.is_file():
                            entries.append(Entry(e.name, e.stat().st_size))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise RemoteError(f"cannot list {folder}: {exc.strerror}") from None
        return sorted(entries, key=lambda e: e.name)

    def read(self, device: str, name: str, area: str = layout.LOG_DIR) -> bytes:
        path = self.path / area / device / name
        try:
            st = path.stat()
            if not stat.S_ISREG(st.st_mode):
                raise Unreadable("not a regular file")
            if st.st_size > layout.MAX_FILE_BYTES:
                raise Unreadable("too large to be a vault sync file")
            return path.read_bytes()
        except OSError as exc:
            raise Unreadable(exc.strerror or "unreadable") from None

    def key_devices(self) -> list[str]:
        return self._subdirs(self.path / layout.KEYS_DIR)

    # --- writing (only ever under this device's own folders) ----------------------------------

    def write(self, device: str, name: str, data: bytes, area: str = layout.LOG_DIR) -> None:
        """Put a new immutable file in place. An identical file already there is success."""
        folder = self.path / area / device
        self._mkdir(self.path / area)
        self._mkdir(folder)
        try:
            write_new(folder / name, data)
        except FileExistsError:
            with contextlib.suppress(OSError):
                if (folder / name).read_bytes() == data:
                    return
            raise StorageError(f"{folder / name} exists with other content") from None
        self._remove_stale_temporaries(folder)

    def _remove_stale_temporaries(self, folder: Path) -> None:
        """A write killed half-way leaves a hidden temporary file in this device's own folder;
        the next write clears those older than an hour (a live write takes well under that,
        and only this device writes here)."""
        cutoff = time.time() - STALE_TEMP_SECONDS
        with contextlib.suppress(OSError), os.scandir(folder) as it:
            for e in it:
                if e.name.startswith(".") and e.name.endswith(".tmp"):
                    with contextlib.suppress(OSError):
                        if e.is_file(follow_symlinks=False) and e.stat().st_mtime < cutoff:
                            os.unlink(e.path)

    def delete(self, device: str, name: str, area: str = layout.LOG_DIR) -> None:
        folder = self.path / area / device
        try:
            (folder / name).unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise storage_error(exc, folder / name) from None
        fsync_dir(folder)

    # --- helpers -------------------------------------------------------------------------

    def _subdirs(self, folder: Path) -> list[str]:
        try:
            with os.scandir(folder) as it:
                return sorted(
                    e.name
                    for e in it
                    if layout.is_device_id(e.name) and e.is_dir(follow_symlinks=False)
                )
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise RemoteError(f"cannot list {folder}: {exc.strerror}") from None

    def _mkdir(self, path: Path) -> None:
        try:
            path.mkdir(mode=0o700, exist_ok=True)
        except FileExistsError:
            raise RemoteError(f"{path} should be a folder") from None
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise RemoteError(f"the sync folder {self.path} disappeared") from None
            raise storage_error(exc, path) from None
