"""Drive the installed `vault` in tmux as a person would, with the real default KDF.

First run (create the vault, note the recovery key), write a note, quit, reopen, unlock, and
see the note; then the same vault through `python -m vault`. Standard library only: it runs
before the test extras are installed. Usage: python3 .ci/drive_app.py VENV_BIN [EXTRA_VAULT...]
where each EXTRA_VAULT is another installed `vault` command (pipx's) that must open the app.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PASSWORD = "ci horse battery staple"
MARKER = "CIMARKER7Q"
SESSION = "vault-ci-000"  # never started: the first start kills nothing


def tmux(*args: str) -> str:
    # A server of its own (-L): no other tmux on the machine can end or confuse its sessions.
    done = subprocess.run(
        ["tmux", "-L", "vault-ci", *args], capture_output=True, text=True, check=False
    )
    return done.stdout


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def wait_for(text: str, timeout: float = 30.0) -> str:
    """Wait until `text` is on the screen; on a timeout print the screen and fail."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        shown = screen()
        if text in shown:
            return shown
        time.sleep(0.1)
    print(f"drive_app: {text!r} did not appear within {timeout:.0f} s; the screen was:")
    print(screen())
    sys.exit(1)


def keys(*names: str) -> None:
    tmux("send-keys", "-t", SESSION, *names)


def type_text(text: str) -> None:
    tmux("send-keys", "-t", SESSION, "-l", text)


def start(command: list[str], env: dict[str, str]) -> None:
    """Run `command` in a fresh tmux session. The new session starts before the old one is
    killed: killing the last session ends the tmux server, and a session asked of a server
    that is shutting down can be lost."""
    global SESSION
    old = SESSION
    SESSION = f"vault-ci-{int(old.rsplit('-', 1)[-1]) + 1:03d}"  # same width: no name a prefix
    assignments = [f"{k}={v}" for k, v in env.items()]
    shell = " ".join(["env", *assignments, *command]) + "; echo EXITED-$?; sleep 600"
    tmux("new-session", "-d", "-s", SESSION, "-x", "120", "-y", "40", shell)
    tmux("kill-session", "-t", f"={old}")  # "=": exact name, not a prefix of the new one


def main() -> int:
    bin_dir = Path(sys.argv[1]).resolve()
    extra = [Path(p) for p in sys.argv[2:]]
    home = Path(tempfile.mkdtemp(prefix="vault-ci-home-"))
    env = {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "TERM": "xterm-256color",
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
    }
    vault = str(bin_dir / "vault")
    try:
        # First run: the create screen, with the real default KDF (no test option).
        started = time.monotonic()
        start([vault], env)
        wait_for("Create your vault")
        # One burst, as a password manager types: every key must land where it was meant.
        type_text(PASSWORD)
        keys("Tab")
        type_text(PASSWORD)
        keys("Enter")
        wait_for("Write down your recovery key", timeout=180)
        print(f"drive_app: vault created in {time.monotonic() - started:.1f} s")
        keys("Space")  # tick "written down"; Enter then goes on
        time.sleep(0.3)
        keys("Enter")
        wait_for("Welcome to your vault")
        # A new note, its title and its first line typed without waiting for any screen.
        keys("C-n")
        type_text(f"Groceries {MARKER}")
        keys("Enter")
        type_text(f"milk and bread {MARKER}")
        wait_for(f"milk and bread {MARKER}")
        wait_for(f"─ Groceries {MARKER}")
        # A whole [[link]] typed in one go: `[[` opens the title picker, the keys after it
        # must reach the picker (none left in the note), `]]` closes it with what was typed.
        keys("Enter")
        type_text("see [[Welcome to your vault]] first")
        wait_for("see [[Welcome to your vault]] first")
        keys("C-s")
        time.sleep(1.0)
        keys("C-q")
        wait_for("EXITED-0", timeout=30)

        # Nothing of the note in clear on disk.
        for path in (home / "data").rglob("*"):
            if path.is_file() and MARKER.encode() in path.read_bytes():
                print(f"drive_app: the note's text is in clear in {path}")
                return 1

        # Reopen: the unlock screen, the password, and the note is there.
        start([vault], env)
        wait_for("Unlock your notes")
        type_text(PASSWORD)
        keys("Enter")
        wait_for(f"Groceries {MARKER}", timeout=120)
        wait_for(f"milk and bread {MARKER}")
        keys("C-q")
        wait_for("EXITED-0", timeout=30)

        # `python -m vault` and any other installed copy (pipx's) open the same app.
        for command in ([str(bin_dir / "python"), "-m", "vault"], *[[str(p)] for p in extra]):
            start(command, env)
            wait_for("Unlock your notes")
            keys("C-q")
            wait_for("EXITED-0", timeout=30)

        # The command line sees the note too.
        listed = subprocess.run(
            [vault, "ls"],
            env={**os.environ, **env, "VAULT_PASSWORD": PASSWORD},
            capture_output=True,
            text=True,
            check=False,
        )
        if listed.returncode != 0 or MARKER not in listed.stdout:
            print(f"drive_app: vault ls failed ({listed.returncode}): {listed.stderr.strip()}")
            return 1
        print("drive_app: the installed app created, saved, reopened and unlocked a vault")
        return 0
    finally:
        tmux("kill-session", "-t", f"={SESSION}")
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
