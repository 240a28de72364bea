"""Talking to the unlocked-session agent (`vault.session.agent`, run as `-m vault.agent_main`):
finding its socket, starting it, asking it for the key, its status, or to lock.

Each vault has its own agent and socket, named by the vault's id and real path, in a private
folder: `$XDG_RUNTIME_DIR/vault` where the system gives one (a per-user tmpfs that a reboot
empties), otherwise `agent/` in the user's state folder (`~/.local/state/vault/agent`), which
no other user can create first, as they could `/tmp/vault-<uid>`. Only when that path is too
long for a socket is `<tmp>/vault-<uid>` used, and if someone else took it the error says what
to do. Each is created 0700; one that others can read is refused.
Anything wrong with a session (no agent, a stale socket left by a killed one, an agent that does
not answer, one run by another user) reads as "locked": the command asks for the password.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import socket
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vault.errors import AgentError
from vault.fsutil import make_private_dirs
from vault.session.agent import KEY_BYTES, MAX_TIMEOUT, MIN_TIMEOUT, peer_uid, receive, send

if TYPE_CHECKING:
    import subprocess

CONNECT_SECONDS = 2.0
START_SECONDS = 10.0
SOCKET_PATH_MAX = 100  # sockaddr_un holds 108 bytes on Linux, fewer elsewhere
# Only these reach the agent's environment: never VAULT_PASSWORD and its kin, which would sit
# readable in /proc/<pid>/environ for as long as the agent lives.
_ENV_KEPT = ("PATH", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "LANG", "LC_ALL", "LC_CTYPE")


@dataclass(frozen=True)
class SessionInfo:
    vault_id: str
    expires: float  # wall-clock time (seconds since the epoch) the session ends if left idle
    timeout: float  # the idle timeout, in seconds
    started: float
    pid: int
    key_locked_in_ram: bool

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> SessionInfo:
        return cls(
            vault_id=str(reply.get("vault_id", "")),
            expires=float(reply.get("expires", 0)),
            timeout=float(reply.get("timeout", 0)),
            started=float(reply.get("started", 0)),
            pid=int(reply.get("pid", 0)),
            key_locked_in_ram=bool(reply.get("key_locked_in_ram", False)),
        )


# --- where the sockets live ------------------------------------------------------------------


def _private_and_ours(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


_SOCKET_NAME_BYTES = len("agent-") + 20 + len(".sock")


def _candidates() -> list[Path]:
    """Where the session folder may be, best first (see the module's docstring)."""
    import tempfile

    import platformdirs

    found = []
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and _private_and_ours(Path(xdg)):
        found.append(Path(xdg) / "vault")
    state = platformdirs.user_state_path("vault", appauthor=False) / "agent"
    if len(os.fsencode(state)) + 1 + _SOCKET_NAME_BYTES <= SOCKET_PATH_MAX:
        found.append(state)
    found.append(Path(tempfile.gettempdir()) / f"vault-{os.getuid()}")
    return found


def runtime_dir(create: bool = True) -> Path:
    """The private folder of this user's session sockets (made with `create`)."""
    taken = []
    for folder in _candidates():
        try:
            st = os.lstat(folder)
        except FileNotFoundError:
            if not create:
                continue
            try:
                make_private_dirs(folder)
            except OSError as exc:
                raise AgentError(
                    f"cannot make the session folder {folder}: {exc.strerror}"
                ) from None
            st = os.lstat(folder)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            taken.append(folder)  # someone else's (made first, to refuse us): not usable
            continue
        if st.st_mode & 0o077:
            # Ours, but others may look in: a socket there could be swapped. Say so.
            raise AgentError(f"{folder} is not a private folder of yours; run chmod 700 on it")
        return folder
    if not create:
        return _candidates()[0]  # nothing yet: where it would be made
    where = ", ".join(str(f) for f in taken)
    raise AgentError(
        f"the session folder {where} belongs to another user; set XDG_RUNTIME_DIR to a "
        "private folder of yours (or have root remove it)"
    )


def socket_path(vault_path: Path, vault_id: str, *, create: bool = False) -> Path:
    real = os.path.realpath(vault_path)
    name = hashlib.blake2b(f"{vault_id}\0{real}".encode(), digest_size=10).hexdigest()
    path = runtime_dir(create) / f"agent-{name}.sock"
    if len(os.fsencode(path)) > SOCKET_PATH_MAX:
        raise AgentError(f"the session folder path is too long for a socket: {path.parent}")
    return path


# --- asking the agent -----------------------------------------------------------------------


def _ask(path: Path, message: dict[str, Any]) -> dict[str, Any] | None:
    """The agent's answer, or None when there is no working agent of ours at `path`. A socket
    nobody listens on (left by a killed agent) is removed on the way."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_SECONDS)
    try:
        sock.connect(str(path))
        if peer_uid(sock) != os.getuid():
            return None  # not our agent: never trust or feed it
        send(sock, message)
        return receive(sock)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except ConnectionRefusedError:
        _remove_stale(path)
        return None
    except OSError:
        return None  # an agent that hangs or went away mid-answer: treat as locked
    finally:
        sock.close()


def _remove_stale(path: Path) -> None:
    with contextlib.suppress(OSError):
        st = os.lstat(path)
        if stat.S_ISSOCK(st.st_mode) and st.st_uid == os.getuid():
            path.unlink()


def _existing_socket(vault_path: Path, vault_id: str) -> Path | None:
    try:
        path = socket_path(vault_path, vault_id)
    except AgentError:
        return None
    return path if os.path.lexists(path) else None


def _ask_vault(vault_path: Path, vault_id: str, message: dict[str, Any]) -> dict[str, Any] | None:
    """This vault's agent's answer when it says ok; None when the vault is locked."""
    path = _existing_socket(vault_path, vault_id)
    if path is None:
        return None
    reply = _ask(path, {**message, "vault_id": vault_id})
    return reply if reply and reply.get("ok") else None


def fetch_key(vault_path: Path, vault_id: str) -> bytes | None:
    """The master key from this vault's unlocked session (and its idle timer restarted), or
    None when the vault is locked."""
    reply = _ask_vault(vault_path, vault_id, {"op": "key"})
    if reply is None:
        return None
    try:
        key = base64.b64decode(reply["key"], validate=True)
    except (KeyError, TypeError, ValueError):
        return None
    return key if len(key) == KEY_BYTES else None


def status(vault_path: Path, vault_id: str) -> SessionInfo | None:
    reply = _ask_vault(vault_path, vault_id, {"op": "status"})
    return SessionInfo.from_reply(reply) if reply else None


def set_timeout(vault_path: Path, vault_id: str, seconds: float) -> SessionInfo | None:
    reply = _ask_vault(vault_path, vault_id, {"op": "timeout", "seconds": seconds})
    return SessionInfo.from_reply(reply) if reply else None


def lock(vault_path: Path, vault_id: str) -> bool:
    """End this vault's session; True if one was running."""
    path = _existing_socket(vault_path, vault_id)
    return path is not None and _lock_at(path)


def _lock_at(path: Path) -> bool:
    reply = _ask(path, {"op": "lock"})
    return bool(reply and reply.get("ok"))


def lock_all() -> int:
    """End every session of this user (every vault); returns how many were running. Every
    place a session folder may be is looked at: one started by an older version, or before
    $XDG_RUNTIME_DIR was set, is found too."""
    count = 0
    for folder in _candidates():
        if _private_and_ours(folder):
            count += sum(_lock_at(path) for path in sorted(folder.glob("agent-*.sock")))
    return count


def check_timeout(seconds: float) -> float:
    if not MIN_TIMEOUT <= seconds <= MAX_TIMEOUT:
        raise AgentError(
            f"the session timeout must be between {MIN_TIMEOUT:g} second and "
            f"{MAX_TIMEOUT / 86400:g} days"
        )
    return seconds


def start(
    vault_path: Path,
    vault_id: str,
    key: bytes,
    timeout: float,
    *,
    entry: str,
    preload: bool = False,
    foresee: dict[str, Any] | None = None,
) -> SessionInfo:
    """Start the agent for this vault with `key`, replacing any session it had, as
    `python -m <entry>`: the face that starts it names the process's entry point (vault.agent_main,
    which gives the agent's loop the command line's service; this layer knows neither).

    `preload` (`vault unlock`): the agent opens the vault for the commands it serves as soon
    as it has answered, rather than at the first of them, so the command a person types next
    finds it open (at 10,000 notes the first `vault ls` took 0.5-0.6 s, the next 0.03 s).
    `foresee`: a command's request (vault.session.thin.foreseen_listing) the agent runs once
    it has opened the vault, keeping its answer for when that command comes, as it keeps the
    last `vault ls` it answered (at 100,000 notes, laying the table out took 1.5-2.5 s)."""
    if not entry.isascii() or not all(part.isidentifier() for part in entry.split(".")):
        raise AgentError("the session agent's entry point is not a module name")
    check_timeout(timeout)
    path = socket_path(vault_path, vault_id, create=True)
    if os.path.lexists(path):
        _lock_at(path)  # a live one ends; a stale one is removed by the attempt
        _remove_stale(path)
    import subprocess  # here: every other command only talks to the agent

    env = {k: os.environ[k] for k in _ENV_KEPT if k in os.environ}
    request = {
        "socket": str(path),
        "vault_id": vault_id,
        "timeout": timeout,
        "key": base64.b64encode(key).decode("ascii"),
    }
    if preload:
        request["preload"] = os.path.realpath(vault_path)
        if foresee is not None:
            request["foresee"] = foresee
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", entry],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd="/",
            start_new_session=True,  # its own session: a closed terminal does not end it
            close_fds=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        proc.stdin.close()
        answer = _read_answer(proc)
    except OSError as exc:
        raise AgentError(f"cannot start the session agent: {exc.strerror}") from None
    finally:
        request.clear()
    if answer != "ready":
        reason = answer.removeprefix("error ").strip() or "it exited"
        raise AgentError(f"the session agent did not start: {reason}")
    info = status(vault_path, vault_id)
    if info is None:
        raise AgentError("the session agent started but does not answer")
    return info


def _read_answer(proc: subprocess.Popen[bytes]) -> str:
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(START_SECONDS):
            proc.kill()
            return "error it did not answer in time"
    line = proc.stdout.readline(200).decode("utf-8", "replace").strip()
    proc.stdout.close()
    return line
