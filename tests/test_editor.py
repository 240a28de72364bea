"""The $EDITOR hand-off: a private, memory-backed folder that is wiped and removed afterwards,
exercised through the real `vault` command with a terminal on stdin."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.conftest import CLI, vault_command
from vault.editor import private_workspace, workspace_base

EDITOR = r"""
import json, os, stat, sys
path = sys.argv[-1]
folder = os.path.dirname(path)
with open(path, encoding="utf-8") as fh:
    before = fh.read()
info = {
    "path": path,
    "folder_mode": stat.S_IMODE(os.stat(folder).st_mode),
    "file_mode": stat.S_IMODE(os.stat(path).st_mode),
    "before": before,
}
with open(os.environ["EDITOR_LOG"], "w") as fh:
    json.dump(info, fh)
with open(os.path.join(folder, ".note.md.swp"), "w") as fh:  # like vim's swap file
    fh.write("swap copy: " + before)
with open(path, "a", encoding="utf-8") as fh:
    fh.write("typed in the editor\n")
sys.exit(int(os.environ.get("EDITOR_EXIT", "0")))
"""


def run_with_tty(cli: CLI, *args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    """Run `vault` with a pseudo-terminal on stdin, so it hands the note to $EDITOR."""
    master, slave = os.openpty()
    try:
        return subprocess.run(
            [*vault_command(), *args],
            stdin=slave,
            capture_output=True,
            env=cli.env(**env),
            start_new_session=True,
            timeout=60,
        )
    finally:
        os.close(master)
        os.close(slave)


def test_editor_round_trip_leaves_nothing_behind(cli: CLI, tmp_path: Path) -> None:
    cli.init()
    cli("new", "Edited", input="first line\n", check=True)
    script = tmp_path / "editor.py"
    script.write_text(EDITOR)
    log = tmp_path / "log.json"
    result = run_with_tty(
        cli, "edit", "Edited", EDITOR=f"{sys.executable} {script}", EDITOR_LOG=str(log)
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(log.read_text())
    assert info["before"] == "first line\n"
    assert info["folder_mode"] == 0o700 and info["file_mode"] == 0o600
    folder = Path(info["path"]).parent
    assert str(folder).startswith((os.environ.get("XDG_RUNTIME_DIR") or "/dev/shm", "/dev/shm"))
    assert not folder.exists()  # wiped and removed, swap file included
    assert Path(info["path"]).name == "note.md"  # the title never names a file
    shown = cli("show", "Edited", "--raw", check=True).stdout
    assert shown == "first line\ntyped in the editor\n"


def test_editor_failure_changes_nothing(cli: CLI, tmp_path: Path) -> None:
    cli.init()
    cli("new", "Stays", input="original", check=True)
    script = tmp_path / "editor.py"
    script.write_text(EDITOR)
    log = tmp_path / "log.json"
    result = run_with_tty(
        cli,
        "edit",
        "Stays",
        EDITOR=f"{sys.executable} {script}",
        EDITOR_LOG=str(log),
        EDITOR_EXIT="3",
    )
    assert result.returncode == 1
    assert b"exited with status 3" in result.stderr
    assert not Path(json.loads(log.read_text())["path"]).parent.exists()
    assert cli("show", "Stays", "--raw", check=True).stdout == "original"


def test_missing_editor_is_a_clear_error(cli: CLI) -> None:
    cli.init()
    cli("new", "X", input="x", check=True)
    result = run_with_tty(cli, "edit", "X", EDITOR="/nonexistent/editor")
    assert result.returncode == 1 and b"was not found" in result.stderr


def test_new_with_a_terminal_uses_the_editor(cli: CLI, tmp_path: Path) -> None:
    cli.init()
    script = tmp_path / "editor.py"
    script.write_text(EDITOR)
    result = run_with_tty(
        cli, "new", "Fresh", EDITOR=f"{sys.executable} {script}", EDITOR_LOG=str(tmp_path / "l")
    )
    assert result.returncode == 0, result.stderr
    assert cli("show", "Fresh", "--raw", check=True).stdout == "typed in the editor\n"


def test_workspace_falls_back_to_a_private_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))
    base = workspace_base(tmp_path / "fallback")
    assert base in (Path("/dev/shm"), tmp_path / "fallback")
    with private_workspace(tmp_path / "fallback") as folder:
        (folder / "note.md").write_text("secret")
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not folder.exists()
