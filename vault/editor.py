"""Handing a note to an external editor without leaving plaintext behind.

The note is written to a private folder (0700, file 0600) on a memory-backed file system where
there is one ($XDG_RUNTIME_DIR, then /dev/shm), never the shared system temp folder. Afterwards
every file in that folder (the editor's swap and backup files too) is overwritten with zeros and
removed, and so is the folder. Where no memory-backed folder exists, a private folder inside the
vault folder is used, with the same clean-up; docs/FORMAT.md says so.

A closed terminal (SIGHUP) or a `kill` (SIGTERM) while the editor is open ends the editor, wipes
the folder and exits with 128 + the signal. What even that cannot cover (SIGKILL, a power cut on
a disk-backed fallback) is swept at the next start: the folder's name carries the pid of the
process that made it, `vault-edit-<pid>-<random>`, and folders of ours whose process is gone
are wiped.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from vault.errors import EditorError
from vault.fsutil import ensure_private_dir, sweep_stale_dirs, wipe_tree

NOTE_FILE = "note.md"  # generic on purpose: titles must not show up in editors' recent lists
PREFIX = "vault-edit-"
_OURS = re.compile(r"vault-edit-(?P<pid>\d{1,10})-[A-Za-z0-9_]+")
_CLEANUP_SIGNALS = (signal.SIGHUP, signal.SIGTERM)
EDITOR_GRACE_SECONDS = 2.0  # an editor told to end gets this long to do so before SIGKILL


def _memory_backed_bases() -> list[Path]:
    bases = []
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        bases.append(Path(runtime))
    bases.append(Path("/dev/shm"))
    return bases


def _usable(base: Path) -> bool:
    try:
        st = base.stat()
    except OSError:
        return False
    return (
        base.is_dir()
        and os.access(base, os.W_OK | os.X_OK)
        and (
            st.st_uid == os.getuid() or bool(st.st_mode & 0o1000)  # ours, or sticky like /dev/shm
        )
    )


def workspace_base(fallback: Path | None = None) -> Path:
    for base in _memory_backed_bases():
        if _usable(base):
            return base
    if fallback is not None:
        ensure_private_dir(fallback)
        return fallback
    raise EditorError("no private folder for the editor (no $XDG_RUNTIME_DIR or /dev/shm)")


def sweep_stale(base: Path) -> list[Path]:
    """Wipe the editor folders in `base` left by processes of this user that are gone (killed
    with SIGKILL, or a crash): they may hold a note's plaintext. Returns what was removed."""
    return sweep_stale_dirs(base, _OURS)


@contextlib.contextmanager
def private_workspace(fallback: Path | None = None) -> Iterator[Path]:
    """A fresh 0700 folder that is wiped and removed however the block ends."""
    base = workspace_base(fallback)
    sweep_stale(base)
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base))
    os.chmod(folder, 0o700)
    try:
        yield folder
    finally:
        wipe_tree(folder)


class _Stopped(BaseException):
    """A signal asked this process to end while the editor was open (not an Exception, so
    nothing on the way out mistakes it for an error to report or retry)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Turn SIGHUP and SIGTERM into `_Stopped` while the block runs, so the `finally` clauses
    on the way out (ending the editor, wiping the folder) run before the process ends. Signal
    handlers can only be set from the main thread; elsewhere the sweep at the next start is
    what cleans up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        for sig in _CLEANUP_SIGNALS:  # a second signal must not interrupt the wipe
            signal.signal(sig, signal.SIG_IGN)
        raise _Stopped(signum)

    previous = {sig: signal.signal(sig, stop) for sig in _CLEANUP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _end(proc: subprocess.Popen[bytes]) -> None:
    """End the editor before its folder is wiped, so it cannot write the note back after."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(OSError):
        proc.terminate()
    try:
        proc.wait(EDITOR_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(EDITOR_GRACE_SECONDS)


def _run_editor(argv: list[str], path: Path) -> int:
    try:
        proc = subprocess.Popen([*argv, str(path)])
    except FileNotFoundError:
        raise EditorError(f"editor '{argv[0]}' was not found; check $EDITOR") from None
    except OSError as exc:
        raise EditorError(f"editor '{argv[0]}' could not start: {exc.strerror}") from None
    try:
        return proc.wait()
    finally:
        _end(proc)


def editor_command(configured: str = "") -> list[str]:
    for value in (configured, os.environ.get("VISUAL", ""), os.environ.get("EDITOR", "")):
        if value.strip():
            return shlex.split(value)
    for name in ("vi", "nano"):
        if shutil.which(name):
            return [name]
    raise EditorError("no editor found: set $EDITOR (or editor.command in the config)")


def edit_text(text: str, *, command: str = "", fallback: Path | None = None) -> str:
    """Let the person edit `text` in their editor; returns the edited text.

    SIGHUP or SIGTERM meanwhile: the editor is ended, the folder wiped, and the process exits
    with 128 + the signal number (SystemExit), as a shell reports a process a signal ended."""
    argv = editor_command(command)
    try:
        with _stop_on_signals(), private_workspace(fallback) as folder:
            return _edit_in(folder, text, argv)
    except _Stopped as stopped:
        raise SystemExit(128 + stopped.signum) from None


def _edit_in(folder: Path, text: str, argv: list[str]) -> str:
    path = folder / NOTE_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    returncode = _run_editor(argv, path)
    if returncode != 0:
        raise EditorError(f"the editor exited with status {returncode}; the note was not changed")
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise EditorError("the editor removed the file; the note was not changed") from None
    except UnicodeDecodeError:
        raise EditorError("the edited file is not UTF-8 text; the note was not changed") from None
