"""Handing a note to an external editor without leaving plaintext behind.

The note is written to a private folder (0700, file 0600) on a memory-backed file system where
there is one ($XDG_RUNTIME_DIR, then /dev/shm), never the shared system temp folder. Afterwards
every file in that folder (the editor's swap and backup files too) is overwritten with zeros and
removed, and so is the folder. Where no memory-backed folder exists, a private folder inside the
vault folder is used, with the same clean-up; docs/FORMAT.md says so.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vault.errors import EditorError
from vault.fsutil import ensure_private_dir, wipe_file

NOTE_FILE = "note.md"  # generic on purpose: titles must not show up in editors' recent lists


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


def wipe_tree(folder: Path) -> None:
    """Overwrite every file below `folder` with zeros, then remove it all."""
    for root, dirs, files in os.walk(folder, topdown=False):
        for name in files:
            wipe_file(Path(root, name))
        for name in dirs:
            with contextlib.suppress(OSError):
                Path(root, name).rmdir()
    with contextlib.suppress(OSError):
        folder.rmdir()
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def private_workspace(fallback: Path | None = None) -> Iterator[Path]:
    """A fresh 0700 folder that is wiped and removed however the block ends."""
    folder = Path(tempfile.mkdtemp(prefix="vault-", dir=workspace_base(fallback)))
    os.chmod(folder, 0o700)
    try:
        yield folder
    finally:
        wipe_tree(folder)


def editor_command(configured: str = "") -> list[str]:
    for value in (configured, os.environ.get("VISUAL", ""), os.environ.get("EDITOR", "")):
        if value.strip():
            return shlex.split(value)
    for name in ("vi", "nano"):
        if shutil.which(name):
            return [name]
    raise EditorError("no editor found: set $EDITOR (or editor.command in the config)")


def edit_text(text: str, *, command: str = "", fallback: Path | None = None) -> str:
    """Let the person edit `text` in their editor; returns the edited text."""
    argv = editor_command(command)
    with private_workspace(fallback) as folder:
        path = folder / NOTE_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        try:
            result = subprocess.run([*argv, str(path)], check=False)
        except FileNotFoundError:
            raise EditorError(f"editor '{argv[0]}' was not found; check $EDITOR") from None
        except OSError as exc:
            raise EditorError(f"editor '{argv[0]}' could not start: {exc.strerror}") from None
        if result.returncode != 0:
            raise EditorError(
                f"the editor exited with status {result.returncode}; the note was not changed"
            )
        try:
            return path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise EditorError("the editor removed the file; the note was not changed") from None
        except UnicodeDecodeError:
            raise EditorError(
                "the edited file is not UTF-8 text; the note was not changed"
            ) from None
