"""The shared folder as the sync engine sees it: listings, reads and immutable writes.

Everything that touches the folder goes through `RemoteFolder`, which goes through
`folder_io` (directory descriptors, nothing followed, only regular files of bounded size), so
the one place that decides what a missing, unreadable, odd or half-written file means is here:
it is never a deletion, only "not readable yet". Writes go to a hidden temporary name, are
fsynced, then linked into place (never over an existing entry), then the folder is fsynced.
A file is deleted only once its bytes pass the caller's check (this device wrote them).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vault import safejson
from vault.errors import RemoteError, StorageError
from vault.sync import layout
from vault.sync.folder_io import Dir, FolderRefused, Unreadable

__all__ = [
    "Entry",
    "FolderRefused",
    "HashMismatch",
    "RemoteFolder",
    "RemoteHeader",
    "Unreadable",
]

MAX_HEADER_BYTES = 64 * 1024
MAX_SLOT_BYTES = 64 * 1024  # a slot is about 400 bytes
STALE_TEMP_SECONDS = 3600


@dataclass(frozen=True)
class RemoteHeader:
    vault_id: str
    master_id: str
    version: int = layout.FORMAT_VERSION


@dataclass(frozen=True)
class Entry:
    """One regular file in a device's folder, as listed (nothing read yet)."""

    name: str
    size: int
    mtime_ns: int = 0


def limit_for(area: str) -> int:
    """The most bytes a file in `area` can hold under the protocol: nothing bigger is read."""
    return MAX_SLOT_BYTES if area == layout.KEYS_DIR else layout.MAX_FILE_BYTES


class HashMismatch(Unreadable):
    """A chain file whose bytes do not hash to its name (incomplete, damaged or a stranger)."""


class RemoteFolder:
    """The sync folder at `path`. Subclassed by the test suite's hostile-daemon simulation."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).expanduser()

    def __repr__(self) -> str:
        return f"RemoteFolder({str(self.path)!r})"

    @contextlib.contextmanager
    def _root(self) -> Iterator[Dir]:
        try:
            root = Dir.open_root(str(self.path))
        except FileNotFoundError:
            raise RemoteError(
                f"the sync folder {self.path} does not exist (is the drive mounted? "
                "`vault remote set DIR` changes it)"
            ) from None
        with root:
            yield root

    @contextlib.contextmanager
    def _folder(self, area: str, device: str, *, create: bool = False) -> Iterator[Dir | None]:
        """`<area>/<device>` as a real folder, None if absent; FolderRefused if it is anything
        else (a symlink planted there is refused, never followed)."""
        with self._root() as root:
            top = root.sub(area, create=create)
            if top is None:
                yield None
                return
            with top:
                folder = top.sub(device, create=create)
                if folder is None:
                    yield None
                    return
                with folder:
                    yield folder

    # --- the folder itself ---------------------------------------------------------------

    def check_reachable(self) -> None:
        with self._root():
            pass

    def is_blank(self) -> bool:
        """Nothing in it but hidden files (a daemon's marker such as Syncthing's .stfolder)."""
        with self._root() as root:
            try:
                return all(layout.is_ignored(e.name) for e in root.list())
            except FolderRefused as exc:
                raise RemoteError(str(exc)) from None

    def read_header(self) -> RemoteHeader | None:
        """The folder's header, None if there is none (yet); RemoteError if it is not ours."""
        path = self.path / layout.HEADER
        with self._root() as root:
            if root.lstat(layout.HEADER) is None:
                return None
            try:
                # Only a small regular file can be a header: a FIFO would block, a device or a
                # link to one would be endless.
                raw = root.read(layout.HEADER, MAX_HEADER_BYTES)
            except Unreadable as exc:
                if root.lstat(layout.HEADER) is None:
                    return None
                raise RemoteError(f"{path} is not a vault sync header ({exc})") from None
        doc = safejson.parse(raw, str(path), RemoteError)
        try:
            if not isinstance(doc, dict) or doc.get("format") != layout.FORMAT_NAME:
                raise ValueError
            v = doc.get("v")
            if isinstance(v, int) and not isinstance(v, bool) and v > layout.FOLDER_VERSION:
                raise RemoteError(
                    f"{self.path} was set up by a newer version of vault (format v{v}); upgrade"
                )
            vault_id, master_id = doc.get("vault_id"), doc.get("mk_id")
            if v not in layout.FOLDER_VERSIONS or not (
                isinstance(vault_id, str)
                and isinstance(master_id, str)
                and layout.is_device_id(vault_id)
                and layout.is_device_id(master_id)
            ):
                raise ValueError
        except ValueError:
            raise RemoteError(
                f"{path} is damaged or incomplete (still syncing?); try again later"
            ) from None
        return RemoteHeader(vault_id, master_id, v)

    def header_signature(self) -> str | None:
        """Where, how big and when the header was written (an lstat, no read), or None."""
        try:
            with self._root() as root:
                st = root.lstat(layout.HEADER)
        except RemoteError:
            return None
        if st is None:
            return None
        return f"{self.path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}|{st.st_mode}"

    def write_header(
        self, header: RemoteHeader, *, upgrade: bool = False, version: int = layout.FORMAT_VERSION
    ) -> None:
        """Write the header if there is none (or, with `upgrade`, replace an older header
        atomically). Its bytes depend only on the vault, its key and the format version, so two
        devices setting up (or upgrading) the same folder at once write identical files."""
        doc = {
            "format": layout.FORMAT_NAME,
            "v": version,
            "vault_id": header.vault_id,
            "mk_id": header.master_id,
        }
        data = (json.dumps(doc, indent=2) + "\n").encode("ascii")
        with self._root() as root:
            for sub in (layout.LOG_DIR, layout.KEYS_DIR):
                made = root.sub(sub, create=True)
                if made is not None:
                    made.close()
            if upgrade:
                # A new file under a hidden name, then renamed over the old header: the rename
                # replaces the entry itself (never what a link there points to).
                tmp = f".{layout.HEADER}.v{version}"
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=root.fd)
                root.write_new(tmp, data)
                os.rename(tmp, layout.HEADER, src_dir_fd=root.fd, dst_dir_fd=root.fd)
                root.fsync()
                return
            with contextlib.suppress(FileExistsError):
                root.write_new(layout.HEADER, data)

    # --- listing and reading ---------------------------------------------------------------

    def devices(self) -> list[str]:
        """Names under log/ that are device ids (one listing). A name that is not a real folder
        is listed too: `list_files` refuses it, so the engine can report it."""
        return self._device_names(layout.LOG_DIR)

    def key_devices(self) -> list[str]:
        return self._device_names(layout.KEYS_DIR)

    def list_files(self, device: str, area: str = layout.LOG_DIR) -> list[Entry]:
        """Regular files in one device's folder (one listing, an lstat each): symlinks, FIFOs,
        devices and folders inside it are not files of the protocol and are never listed.
        FolderRefused if the device's folder is not a real folder or cannot be listed."""
        with self._folder(area, device) as folder:
            if folder is None:
                return []
            return [
                Entry(e.name, e.size, e.mtime_ns)
                for e in folder.list()
                if e.regular and not layout.is_ignored(e.name)
            ]

    def read(
        self, device: str, name: str, area: str = layout.LOG_DIR, *, expect_hash: str | None = None
    ) -> bytes:
        """A regular file's bytes, within the protocol's limit for `area`; Unreadable if not.
        With `expect_hash` (the hash a chain file's name carries), the file is first hashed
        as it streams by, and HashMismatch raised without holding it if it does not match."""
        try:
            with self._folder(area, device) as folder:
                if folder is None:
                    raise Unreadable("gone")
                limit = limit_for(area)
                if (
                    expect_hash is not None
                    and folder.digest(name, limit, layout.content_hasher()) != expect_hash
                ):
                    raise HashMismatch("hash does not match")
                return folder.read(name, limit)
        except RemoteError as exc:
            raise Unreadable(str(exc)) from None

    def digest(self, device: str, name: str) -> str:
        """The content hash of a log file, streamed (nothing held); Unreadable if not a file."""
        try:
            with self._folder(layout.LOG_DIR, device) as folder:
                if folder is None:
                    raise Unreadable("gone")
                return folder.digest(name, limit_for(layout.LOG_DIR), layout.content_hasher())
        except RemoteError as exc:
            raise Unreadable(str(exc)) from None

    def mtime_ns(self, device: str, name: str) -> int | None:
        """When a file of a device's log was last changed, as lstat says (None if gone)."""
        with self._folder(layout.LOG_DIR, device) as folder:
            st = folder.lstat(name) if folder is not None else None
        return st.st_mtime_ns if st is not None else None

    # --- writing (only ever under this device's own folders) ----------------------------------

    def write(self, device: str, name: str, data: bytes, area: str = layout.LOG_DIR) -> None:
        """Put a new immutable file in place. An identical file already there is success."""
        with self._folder(area, device, create=True) as folder:
            if folder is None:
                raise RemoteError(f"the sync folder {self.path} disappeared")
            try:
                folder.write_new(name, data)
            except FileExistsError:
                if folder.same_content(name, data):
                    return
                raise StorageError(
                    f"{folder.where}/{name} exists with other content (or is not a file)"
                ) from None
            folder.remove_stale_temporaries(STALE_TEMP_SECONDS)

    def delete(
        self,
        device: str,
        name: str,
        area: str = layout.LOG_DIR,
        *,
        check: Callable[[bytes], bool],
    ) -> str | None:
        """Delete one of this device's own files, only if its bytes pass `check` (they are
        what this device wrote). None when gone, else why it was left in place."""
        with self._folder(area, device) as folder:
            if folder is None:
                return None
            return folder.unlink_verified(name, limit_for(area), check)

    def restore(
        self, device: str, copy: str, name: str, *, good: Callable[[bytes], bool]
    ) -> str | None:
        """Put the verified bytes of `copy` back under `name` in this device's own log folder
        (see Dir.restore_from_copy). None when done, else why it was left as it is."""
        with self._folder(layout.LOG_DIR, device) as folder:
            if folder is None:
                return "the folder is gone"
            return folder.restore_from_copy(copy, name, limit_for(layout.LOG_DIR), good)

    # --- helpers -------------------------------------------------------------------------

    def _device_names(self, area: str) -> list[str]:
        with self._root() as root:
            top = root.sub(area)
            if top is None:
                return []
            with top:
                return [e.name for e in top.list(None) if layout.is_device_id(e.name)]
