"""Opening an attachment with the system's viewer through a private temporary copy.

A viewer outside the app can only read a file, so the attachment's bytes are written to a
fresh private folder (0700, the file 0600) on a memory-backed file system where there is one
($XDG_RUNTIME_DIR, then /dev/shm), else in a private folder of the system temp folder. The
folder is named `vault-view-<pid>-<random>`; it is wiped (overwritten with zeros, removed) when
the viewer's launcher exits, and in any case when the app locks or quits. `xdg-open` and `open`
often hand the file to a viewer that is already running and return at once, so a copy is kept
at least KEEP_SECONDS after it was opened. What a SIGKILL leaves is swept at the next opening,
as the editor's folders are (vault/editor.py). docs/SECURITY.md says this.

Imports nothing from Textual: the app calls it from a worker thread.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from vault.editor import workspace_base
from vault.errors import EditorError, VaultError
from vault.fsutil import sweep_stale_dirs, wipe_tree

PREFIX = "vault-view-"
_OURS = re.compile(r"vault-view-(?P<pid>\d{1,10})-[A-Za-z0-9_]+")
KEEP_SECONDS = 10.0
_SAFE_NAME = re.compile(r"[^\w.\- ()+,@]")

Write = Callable[[BinaryIO], None]


def opener_command() -> list[str]:
    """The platform's "open with the default application" command."""
    if sys.platform == "darwin":
        return ["open"]
    return ["xdg-open"]


def copy_base() -> Path:
    """Where private copies go: memory-backed if possible, else the system temp folder."""
    try:
        return workspace_base()
    except EditorError:
        return Path(tempfile.gettempdir())


def file_name(name: str) -> str:
    """A plain file name for the copy that keeps the extension (viewers choose by it). The
    attachment name is another device's text: only letters, digits and a few marks stay."""
    cleaned = _SAFE_NAME.sub("_", Path(name).name).strip(" .") or "attachment"
    return cleaned[-120:]


class ViewerCopies:
    """The private copies handed to viewers by this app, wiped when their viewer is done and
    all at once by `wipe_all` (locking, quitting)."""

    def __init__(self, command: list[str] | None = None, keep_seconds: float = KEEP_SECONDS):
        self._command = command
        self._keep = keep_seconds
        self._folders: set[Path] = set()
        self._lock = threading.Lock()

    @property
    def folders(self) -> set[Path]:
        with self._lock:
            return set(self._folders)

    def open(self, name: str, write: Write) -> Path:
        """Write a copy with `write` (it receives the open file) and start the viewer on it.
        Returns the copy's path. Raises VaultError when the viewer cannot be started; the
        copy is wiped then, and whenever `write` fails."""
        base = copy_base()
        sweep_stale_dirs(base, _OURS)
        folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base))
        os.chmod(folder, 0o700)
        with self._lock:
            self._folders.add(folder)
        path = folder / file_name(name)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                write(out)
            command = self._command if self._command is not None else opener_command()
            try:
                process = subprocess.Popen(
                    [*command, str(path)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,  # the terminal's ctrl+c is the app's, not the viewer's
                )
            except OSError as exc:
                raise VaultError(
                    f"cannot start {command[0]} to open the file ({exc.strerror}); "
                    "save it and open it yourself"
                ) from None
        except BaseException:
            self._wipe(folder)
            raise
        threading.Thread(
            target=self._wipe_after, args=(process, folder), name="viewer-copy", daemon=True
        ).start()
        return path

    def _wipe_after(self, process: subprocess.Popen[bytes], folder: Path) -> None:
        started = time.monotonic()
        with contextlib.suppress(Exception):
            process.wait()
        left = self._keep - (time.monotonic() - started)
        if left > 0:
            time.sleep(left)
        self._wipe(folder)

    def _wipe(self, folder: Path) -> None:
        with self._lock:
            if folder not in self._folders:
                return  # wiped already (the app locked meanwhile)
            self._folders.discard(folder)
        wipe_tree(folder)

    def wipe_all(self) -> None:
        """Wipe every copy now (the viewers may still show what they read)."""
        with self._lock:
            folders, self._folders = self._folders, set()
        for folder in folders:
            wipe_tree(folder)
