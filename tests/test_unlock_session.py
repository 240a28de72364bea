"""`vault unlock` / `vault lock`: unlock once, then commands run with no password and no KDF,
until `vault lock`, the idle timeout, or the agent's death. Everything through the real `vault`
command in subprocesses without a terminal, so a command that wanted a password fails at once."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CLI, PASSWORD
from vault.notes.vault import Vault, inspect_vault
from vault.sealing.crypto import TEST_KDF
from vault.session import agent_client, thin

NEEDS_PASSWORD = "no terminal to ask for the vault password"


def session(cli: CLI, **env: str | None) -> dict:
    result = cli("status", "--json", check=True, **{"VAULT_PASSWORD": None, **env})
    return json.loads(result.stdout)["session"]


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting for a parent that will never reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_for(condition: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def sockets() -> list[Path]:
    return sorted(agent_client.runtime_dir(create=False).glob("agent-*.sock"))


@pytest.fixture
def unlocked(cli: CLI) -> CLI:
    """A vault with two notes, unlocked, and a CLI that has no password to give."""
    cli.init()
    cli("new", "Groceries", input="milk and bread\n", check=True)
    cli("new", "Plans", "--tag", "work", input="ship the agent\n", check=True)
    result = cli("unlock", check=True)
    assert result.stderr.startswith("Unlocked until ")
    cli.password = None
    return cli


def test_commands_run_without_the_password_until_lock(unlocked: CLI) -> None:
    cli = unlocked
    listing = cli("ls", check=True).stdout
    assert "Groceries" in listing and "Plans" in listing
    assert "milk and bread" in cli("show", "Groceries", check=True).stdout
    assert "Plans" in cli("search", "agent", check=True).stdout
    cli("new", "Written while unlocked", input="no password typed\n", check=True)
    cli("edit", "Plans", "--tag", "later", check=True)
    assert "Written while unlocked" in cli("ls", check=True).stdout

    info = session(cli)
    assert info["unlocked"] and info["idle_timeout_minutes"] == 15
    assert "unlocked until" in cli("status", check=True).stdout

    locked = cli("lock", check=True)
    assert "Locked" in locked.stderr
    assert wait_for(lambda: not alive(info["pid"]))
    assert sockets() == []
    refused = cli("ls")
    assert refused.returncode != 0
    assert NEEDS_PASSWORD in refused.stderr and "vault unlock" in refused.stderr
    assert session(cli) == {"unlocked": False}
    assert "Already locked" in cli("lock", check=True).stderr
    # The password still works as ever.
    assert "Groceries" in cli("ls", check=True, VAULT_PASSWORD=PASSWORD).stdout


def test_wrong_password_starts_no_session(cli: CLI) -> None:
    cli.init()
    result = cli("unlock", VAULT_PASSWORD="not it")
    assert result.returncode != 0
    assert "wrong password" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sockets() == []
    assert session(cli) == {"unlocked": False}


def test_idle_timeout_locks_and_use_keeps_it_open(unlocked: CLI) -> None:
    cli = unlocked
    cli("unlock", "--timeout", "0.1", check=True)  # 6 seconds, for the test
    info = session(cli)
    assert info["idle_timeout_minutes"] == 0.1
    # Used every 2 seconds for 10 seconds: the idle timer restarts each time.
    for _ in range(5):
        time.sleep(2)
        cli("ls", check=True)
    assert session(cli)["unlocked"]
    # Left alone, it ends by itself, removes its socket, and the key goes with it.
    assert wait_for(lambda: not alive(info["pid"]), seconds=30)
    assert sockets() == []
    assert NEEDS_PASSWORD in cli("ls").stderr


def test_a_killed_agent_leaves_a_stale_socket_that_is_cleaned_up(unlocked: CLI) -> None:
    cli = unlocked
    pid = session(cli)["pid"]
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not alive(pid))
    assert len(sockets()) == 1  # nobody removed it: the agent had no chance
    refused = cli("ls")
    assert refused.returncode != 0 and NEEDS_PASSWORD in refused.stderr  # asks, never hangs
    assert sockets() == []
    assert session(cli) == {"unlocked": False}
    cli("unlock", check=True, VAULT_PASSWORD=PASSWORD)  # and a new session starts cleanly
    assert "Groceries" in cli("ls", check=True).stdout


def test_closing_the_terminal_does_not_end_it_and_no_secret_is_in_proc(unlocked: CLI) -> None:
    pid = session(unlocked)["pid"]
    assert os.getsid(pid) == pid  # a session of its own: the terminal's hangup never reaches it
    os.kill(pid, signal.SIGHUP)
    time.sleep(0.3)
    assert alive(pid)
    assert "Groceries" in unlocked("ls", check=True).stdout
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    for blob in (environ, cmdline):
        assert PASSWORD.encode() not in blob
        assert b"VAULT_PASSWORD" not in blob
    assert cmdline.split(b"\0")[1:3] == [b"-m", b"vault.agent_main"]


def test_two_vaults_have_separate_sessions(cli: CLI, tmp_path: Path) -> None:
    other = CLI(tmp_path / "other", cli.config)
    for c in (cli, other):
        c.init()
        c("new", f"Note in {c.vault_dir.name}", input="x\n", check=True)
    cli("unlock", check=True)
    cli.password = other.password = None
    assert "Note in vault" in cli("ls", check=True).stdout
    assert NEEDS_PASSWORD in other("ls").stderr  # one never unlocks another
    other("unlock", check=True, VAULT_PASSWORD=PASSWORD)
    assert len(sockets()) == 2
    cli("lock", check=True)
    assert NEEDS_PASSWORD in cli("ls").stderr
    assert "Note in other" in other("ls", check=True).stdout
    cli("unlock", check=True, VAULT_PASSWORD=PASSWORD)
    assert "2 unlocked sessions" in cli("lock", "--all", check=True).stderr
    assert NEEDS_PASSWORD in other("ls").stderr


def test_a_session_asks_no_password_of_the_agent_twice(unlocked: CLI) -> None:
    """`vault unlock` while unlocked asks nothing and may change the timeout."""
    result = unlocked("unlock", "--timeout", "60")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("Already unlocked until ")
    assert session(unlocked)["idle_timeout_minutes"] == 60
    assert unlocked("unlock", "--timeout", "0").returncode != 0


def test_rekey_ends_the_session(unlocked: CLI) -> None:
    result = unlocked("rekey", check=True, VAULT_PASSWORD=PASSWORD)
    assert "Locked the unlocked session" in result.stderr
    assert session(unlocked) == {"unlocked": False}


def test_a_session_with_an_old_key_is_ended_not_trusted(unlocked: CLI) -> None:
    """Rekeyed by another route (the app, a restored copy): the agent's key is stale."""
    with Vault.unlock(unlocked.vault_dir, password=PASSWORD) as vault:
        vault.rekey(PASSWORD, kdf=TEST_KDF)
    result = unlocked("ls")
    assert result.returncode != 0
    assert "old key; it is locked now" in result.stderr and NEEDS_PASSWORD in result.stderr
    assert session(unlocked) == {"unlocked": False}
    assert "Groceries" in unlocked("ls", check=True, VAULT_PASSWORD=PASSWORD).stdout


def test_keyfile_vault_needs_neither_secret_while_unlocked(cli: CLI, tmp_path: Path) -> None:
    keyfile = tmp_path / "key.bin"
    keyfile.write_bytes(os.urandom(64))
    Vault.create(cli.vault_dir, PASSWORD, keyfile=keyfile, kdf=TEST_KDF, allow_weak_kdf=True)[
        0
    ].lock()
    cli("--keyfile", str(keyfile), "unlock", check=True)
    cli.password = None
    cli("new", "No keyfile needed now", input="x\n", check=True)
    assert "No keyfile needed now" in cli("ls", check=True).stdout


def test_the_thin_client_finds_the_socket_the_agent_listens_on(unlocked: CLI) -> None:
    """vault.session.thin derives the socket's place again with the standard library alone
    (importing agent_client would cost every command its start-up): both must agree, or every
    command would quietly run without the agent."""
    (sock,) = sockets()
    vault_id = inspect_vault(unlocked.vault_dir).vault_id
    found = thin._socket(str(unlocked.vault_dir))
    assert found == (str(sock), vault_id)
    assert agent_client.socket_path(unlocked.vault_dir, vault_id) == sock


def test_the_session_folder_is_private(unlocked: CLI) -> None:
    folder = agent_client.runtime_dir(create=False)
    assert folder.stat().st_mode & 0o777 == 0o700
    (sock,) = sockets()
    assert sock.stat().st_mode & 0o077 == 0
    # A folder someone else could read is refused, and the session reads as locked.
    folder.chmod(0o755)
    try:
        assert NEEDS_PASSWORD in unlocked("ls").stderr
        refused = unlocked("unlock", VAULT_PASSWORD=PASSWORD)
        assert refused.returncode != 0 and "not a private folder" in refused.stderr
    finally:
        folder.chmod(0o700)
    assert "Groceries" in unlocked("ls", check=True).stdout


_CONNECT_AS_OTHER_USER = """
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
except OSError as exc:
    print("refused:", type(exc).__name__)
    raise SystemExit(0)
try:
    s.sendall(b'{"op":"key","vault_id":"' + sys.argv[2].encode() + b'"}\\n')
    print("answer:", s.recv(4096).decode() or "none")
except OSError:
    print("answer: none")  # hung up on at once
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="making a process with another uid needs root")
def test_another_users_process_is_refused(unlocked: CLI) -> None:
    (sock,) = sockets()
    vault_id = inspect_vault(unlocked.vault_dir).vault_id

    def as_nobody() -> str:
        # Our interpreter may sit in a folder only root can enter; the system's will do.
        for python in ("/usr/bin/python3", sys.executable):
            try:
                result = subprocess.run(
                    [python, "-I", "-c", _CONNECT_AS_OTHER_USER, str(sock), vault_id],
                    capture_output=True,
                    text=True,
                    user=65534,
                    group=65534,
                    extra_groups=[],
                    cwd="/",
                    timeout=30,
                )
            except OSError:
                continue
            if result.returncode == 0:
                return result.stdout.strip()
        pytest.skip("no Python that another user may run")

    # The folder is the first wall: another user cannot even reach the socket.
    assert as_nobody() == "refused: PermissionError"
    # The agent is the second: even with folder and socket opened up by mistake, it checks the
    # caller's uid (SO_PEERCRED) and says nothing to anyone else.
    folders = (sock.parent, sock.parent.parent)  # ours, and XDG_RUNTIME_DIR above it
    for folder in folders:
        folder.chmod(0o711)
    sock.chmod(0o777)
    try:
        assert as_nobody() == "answer: none"
    finally:
        for folder in folders:
            folder.chmod(0o700)
        sock.chmod(0o600)
    assert "Groceries" in unlocked("ls", check=True).stdout  # and it still serves its owner


def test_changing_the_password_still_needs_the_current_one(unlocked: CLI) -> None:
    refused = unlocked("passwd", VAULT_NEW_PASSWORD="another password")
    assert refused.returncode != 0 and NEEDS_PASSWORD in refused.stderr
    unlocked("passwd", check=True, VAULT_PASSWORD=PASSWORD, VAULT_NEW_PASSWORD="another one")
    # The master key is the same, so the session goes on.
    assert "Groceries" in unlocked("ls", check=True).stdout


# --- without $XDG_RUNTIME_DIR: nobody can take the session folder first (issue 12 §3) ------------

SQUATTER = 4242  # another user's uid (the folder is chown'ed to it; no such account is needed)


@pytest.fixture
def squatted(tmp_path: Path) -> Iterator[dict[str, str | None]]:
    """An environment without $XDG_RUNTIME_DIR whose temp folder holds a `vault-<uid>` made
    by another user before ours (root makes it theirs with chown)."""
    tmp = tmp_path / "t"
    tmp.mkdir(mode=0o1777)
    squat = tmp / f"vault-{os.getuid()}"
    squat.mkdir(mode=0o700)
    os.chown(squat, SQUATTER, SQUATTER)
    state = Path(tempfile.mkdtemp(prefix="vs", dir="/tmp"))  # short: socket paths are limited
    yield {"XDG_RUNTIME_DIR": None, "TMPDIR": str(tmp), "XDG_STATE_HOME": str(state)}
    shutil.rmtree(state, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another uid needs root")
def test_a_folder_squatted_in_tmp_does_not_refuse_unlock(
    cli: CLI, squatted: dict[str, str | None]
) -> None:
    env = squatted
    cli.init()
    cli("new", "Groceries", input="milk\n", check=True)
    try:
        result = cli("unlock", **env)
        assert result.returncode == 0, result.stderr
        assert session(cli, **env)["unlocked"] is True
        folder = Path(str(env["XDG_STATE_HOME"])) / "vault" / "agent"
        assert folder.stat().st_mode & 0o777 == 0o700 and folder.stat().st_uid == os.getuid()
        assert list(folder.glob("agent-*.sock"))
        assert "Groceries" in cli("ls", VAULT_PASSWORD=None, **env).stdout
    finally:
        cli("lock", "--all", **env)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another uid needs root")
def test_when_no_folder_is_left_the_error_says_what_to_do(
    cli: CLI, tmp_path: Path, squatted: dict[str, str | None]
) -> None:
    env = dict(squatted)
    env["XDG_STATE_HOME"] = str(tmp_path / ("long-" * 20))  # too long for a socket path
    cli.init()
    result = cli("unlock", **env)
    assert result.returncode != 0
    assert "belongs to another user" in result.stderr and "XDG_RUNTIME_DIR" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


GARBAGE = {
    "deep list": b"[" * 200_000 + b"\n",
    "deep object": b'{"a":' * 5000 + b"\n",
    "not UTF-8": b"\xff\xfe garbage\n",
    "not an object": b"[1, 2]\n",
    "empty": b"\n",
}


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_garbage_on_the_socket_does_not_end_the_session(unlocked: CLI, kind: str) -> None:
    """Any line a process of this user sends (nesting deep enough to exhaust the parser's
    stack included) is refused; the agent keeps the session and answers the next command."""
    import socket

    (sock,) = sockets()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(str(sock))
        conn.sendall(GARBAGE[kind])
        with contextlib.suppress(OSError):
            conn.recv(1 << 16)
    assert unlocked("ls", check=True).returncode == 0
    assert sockets() == [sock]


def test_a_session_in_the_temp_folder_is_found_by_commands_run_here(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command run in its own process skips asking for a session when no socket can be
    there (vault.session.thin.may_have_session); it must not miss one in the last folder
    sessions fall back to (no $XDG_RUNTIME_DIR, a state folder too long for a socket)."""
    tmp = Path(tempfile.mkdtemp(prefix="vt", dir="/tmp"))  # short: socket paths are limited
    env: dict[str, str | None] = {
        "XDG_RUNTIME_DIR": None,
        "TMPDIR": str(tmp),
        "XDG_STATE_HOME": str(tmp_path / ("long-" * 20)),
    }
    cli.init()
    cli("new", "Groceries", input="milk\n", check=True)
    vault_id = inspect_vault(cli.vault_dir).vault_id
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setenv("XDG_STATE_HOME", str(env["XDG_STATE_HOME"]))
    assert not thin.may_have_session(str(cli.vault_dir), vault_id)
    try:
        cli("unlock", check=True, **env)
        assert list((tmp / f"vault-{os.getuid()}").glob("agent-*.sock"))
        assert thin.may_have_session(str(cli.vault_dir), vault_id)
        for args in (["tags"], ["ls"]):
            result = cli(*args, VAULT_PASSWORD=None, VAULT_AGENT_SERVE="0", **env)
            assert result.returncode == 0, result.stderr
        assert "Groceries" in result.stdout
    finally:
        cli("lock", "--all", **env)
    assert not thin.may_have_session(str(cli.vault_dir), vault_id)
    shutil.rmtree(tmp, ignore_errors=True)


def test_a_backups_password_is_asked_for_without_pointing_at_the_session(
    unlocked: CLI, tmp_path: Path
) -> None:
    """`vault backup verify FILE` with a session and no terminal said "run `vault unlock`",
    in an unlocked session: a backup's password is the backup's, which no session replaces
    (found by a first-hour test). Opening the vault itself still points at the session."""
    cli = unlocked
    out = tmp_path / "b.vaultbackup"
    cli("backup", "create", str(out), check=True)
    refused = cli("backup", "verify", str(out))
    assert refused.returncode != 0
    assert refused.stderr == (
        "vault: no terminal to ask for the backup password; set VAULT_PASSWORD\n"
    )
    cli("lock", check=True)
    assert "or run `vault unlock` in a terminal first" in cli("ls").stderr
