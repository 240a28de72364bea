"""The vault process itself: no core dumps, not dumpable, and no plaintext left in the editor
folder when the terminal closes (SIGHUP), on `kill` (SIGTERM) or after a SIGKILL.

Each test runs the real `vault` command with an $EDITOR script that blocks until told to go on,
and looks at the running process from outside.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from errno import EINVAL
from pathlib import Path

import pytest

from tests.conftest import CLI, vault_command

_PR_CAPBSET_DROP = 24

BLOCKING_EDITOR = r"""
import json, os, sys, time
path = sys.argv[-1]
log = os.environ["EDITOR_LOG"]
info = {"pid": os.getpid(), "vault_pid": os.getppid(), "path": path}
with open(log + ".tmp", "w") as fh:
    json.dump(info, fh)
os.replace(log + ".tmp", log)
deadline = time.time() + 60
while time.time() < deadline and not os.path.exists(log + ".go"):
    time.sleep(0.05)
"""


def start_edit(cli: CLI, title: str, script: Path, log: Path) -> subprocess.Popen[bytes]:
    """`vault edit` with a terminal on stdin, so it hands the note to the blocking editor. The
    terminal stays open until the test ends (a closed one would read as no terminal)."""
    master, slave = os.openpty()
    _terminals.append(master)
    try:
        return subprocess.Popen(
            [*vault_command(), "edit", title],
            stdin=slave,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=cli.env(EDITOR=f"{sys.executable} {script}", EDITOR_LOG=str(log)),
            start_new_session=True,
            preexec_fn=_without_capabilities,  # as root (CI): run as a user without powers
        )
    finally:
        os.close(slave)


_terminals: list[int] = []


@pytest.fixture(autouse=True)
def _close_terminals() -> Iterator[None]:
    yield
    while _terminals:
        os.close(_terminals.pop())


def _without_capabilities() -> None:
    """In the child before exec: give up every capability for good, so the child is what the
    user's other processes are. (Not root: there was nothing to give up.)"""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in range(64):
            if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != EINVAL:
                os._exit(99)


def same_user_can_read_environ(pid: int) -> bool:
    """Whether another process of the same user, without special powers, may read
    /proc/<pid>/environ: the kernel allows it exactly when the target is dumpable (both run
    without capabilities, so the capability rules of the kernel play no part)."""
    result = subprocess.run(
        ["cat", f"/proc/{pid}/environ"],
        capture_output=True,
        preexec_fn=_without_capabilities,
        timeout=30,
        check=False,
    )
    if result.returncode == 99:
        pytest.skip("cannot drop capabilities here")
    return result.returncode == 0


def wait_for(path: Path, seconds: float = 30.0) -> dict[str, object]:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def finish(proc: subprocess.Popen[bytes], log: Path) -> int:
    (log.parent / (log.name + ".go")).touch()
    try:
        code = proc.wait(30)
        assert proc.stderr is not None
        assert code == 0 or code > 128, proc.stderr.read().decode()
        return code
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.fixture
def edit_setup(cli: CLI, tmp_path: Path) -> tuple[Path, Path]:
    cli.init()
    cli("new", "Secret", input="the plaintext\n", check=True)
    script = tmp_path / "editor.py"
    script.write_text(BLOCKING_EDITOR)
    return script, tmp_path / "log.json"


def test_the_cli_makes_no_core_dump_and_is_not_dumpable(
    cli: CLI, edit_setup: tuple[Path, Path]
) -> None:
    script, log = edit_setup
    proc = start_edit(cli, "Secret", script, log)
    try:
        info = wait_for(log)
        pid = int(info["vault_pid"])  # type: ignore[arg-type]
        assert pid == proc.pid
        limits = Path(f"/proc/{pid}/limits").read_text()
        core = next(line for line in limits.splitlines() if line.startswith("Max core file size"))
        assert core.split()[4:6] == ["0", "0"], core
        # The editor it started is dumpable again (exec resets it): the control that shows
        # the check can tell the two apart.
        assert same_user_can_read_environ(int(info["pid"]))  # type: ignore[arg-type]
        assert not same_user_can_read_environ(pid)
    finally:
        assert finish(proc, log) == 0


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_a_signal_during_edit_wipes_the_editor_folder(
    cli: CLI, edit_setup: tuple[Path, Path], sig: signal.Signals
) -> None:
    script, log = edit_setup
    proc = start_edit(cli, "Secret", script, log)
    try:
        info = wait_for(log)
        note = Path(str(info["path"]))
        assert note.read_text() == "the plaintext\n"
        os.kill(proc.pid, sig)
        assert proc.wait(30) == 128 + sig
        assert not note.parent.exists()
        # the editor was ended too, so it cannot write the note back
        editor_pid = int(info["pid"])  # type: ignore[arg-type]
        for _ in range(100):
            if not Path(f"/proc/{editor_pid}").exists():
                break
            time.sleep(0.05)
        assert not Path(f"/proc/{editor_pid}").exists()
    finally:
        finish(proc, log)
    assert cli("show", "Secret", "--raw", check=True).stdout == "the plaintext\n"


def test_a_stale_editor_folder_is_swept_at_the_next_edit(
    cli: CLI, edit_setup: tuple[Path, Path]
) -> None:
    """What SIGKILL left behind (a folder named for a pid that is gone) is wiped next time."""
    script, log = edit_setup
    dead = subprocess.Popen(["true"])
    dead.wait()
    base = Path(os.environ["XDG_RUNTIME_DIR"])
    stale = base / f"vault-edit-{dead.pid}-abc123"
    stale.mkdir(mode=0o700)
    (stale / "note.md").write_text("left by a killed vault edit")
    live = base / f"vault-edit-{os.getpid()}-def456"  # a live process's: left alone
    live.mkdir(mode=0o700)
    not_ours = base / "vault-edit-notapid"
    not_ours.mkdir()
    proc = start_edit(cli, "Secret", script, log)
    try:
        info = wait_for(log)
        assert Path(str(info["path"])).parent.parent == base
        assert not stale.exists()
        assert live.exists() and not_ours.exists()
    finally:
        assert finish(proc, log) == 0
