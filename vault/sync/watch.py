"""Noticing that other devices wrote to the sync folder, cheaply, so the app syncs within
seconds instead of at the next interval.

A look lists the other devices' log folders (names, sizes and modification times from the
directory entries) and reads no file: a new chain file from another device shows up as a new
name, a file still arriving as a size that moves. This device's own folder is left out, so a
sync made here does not wake the next one. A poll rather than a file-system notification
library: it needs no dependency, behaves the same on every platform and on network and FUSE
mounts (where inotify sees nothing of writes made elsewhere), and costs about 0.4 ms for a
folder of 60 files and 4 ms for 1,000 (measured on a busy two-core machine), every 2 s.

The folder is hostile: symlinks are never followed (a link shows as itself, unopened), nothing
is opened (so a FIFO cannot block), and a look stops after MAX_ENTRIES entries.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from vault.sync import layout

MAX_ENTRIES = 100_000  # far above a compacted folder; a bound, not a working size

Fingerprint = tuple[tuple[str, str, int, int], ...]


def fingerprint(remote: Path, own_device: str) -> Fingerprint:
    """What the other devices' log folders hold, by name, size and time: nothing is read."""
    log = Path(remote) / layout.LOG_DIR
    seen: list[tuple[str, str, int, int]] = []
    try:
        if not stat.S_ISDIR(os.lstat(log).st_mode):
            return ()
        with os.scandir(log) as devices:
            folders = [
                d for d in devices if d.name != own_device and d.is_dir(follow_symlinks=False)
            ]
    except OSError:
        return ()  # gone or unreadable: the sync run says why, this only watches
    for folder in sorted(folders, key=lambda d: d.name):
        seen.append((folder.name, "", 0, 0))  # a new device, even before its first file
        try:
            with os.scandir(folder.path) as files:
                for entry in files:
                    st = entry.stat(follow_symlinks=False)
                    seen.append((folder.name, entry.name, st.st_size, st.st_mtime_ns))
                    if len(seen) >= MAX_ENTRIES:
                        break
        except OSError:
            seen.append((folder.name, "", -1, -1))  # unreadable now: a change when it clears
        if len(seen) >= MAX_ENTRIES:
            break
    seen.sort()
    return tuple(seen)


class FolderWatch:
    """Tells whether other devices changed the sync folder since the last look."""

    def __init__(self, remote: Path, own_device: str) -> None:
        self.remote = Path(remote)
        self.own_device = own_device
        self._last: Fingerprint | None = None

    def rebase(self) -> None:
        """Take the folder as it is now as seen (a sync run is about to read it)."""
        self._last = fingerprint(self.remote, self.own_device)

    def changed(self) -> bool:
        """True when the listing differs from the last look (or the last `rebase`). A first
        look only takes the baseline."""
        now = fingerprint(self.remote, self.own_device)
        before, self._last = self._last, now
        return before is not None and now != before
