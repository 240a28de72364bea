"""The unlocked-session agent: a small process that holds one vault's master key in memory after
`vault unlock`, so later commands skip the password and the key derivation (docs/SECURITY.md).

`vault unlock` starts it as `python -m vault.agent_main` (the process's entry point, in the faces'
layer: it hands this loop the command line's service) in a session of its own, so closing the
terminal does not end it; its idle timeout, `vault lock` or a reboot does. It reads one line from
stdin (socket path, vault id, timeout, key): nothing secret travels through argv or the
environment, which the user's other processes can read in /proc.

This module imports only the standard library (and `vault.hardening`, which does too), so the
agent stays small and starts fast, and the client (`vault.session.agent_client`) shares its wire
helpers.
The protocol is one JSON line each way over a Unix socket in a private folder (a command's reply
may carry its output after its line, as raw bytes: `send_reply`); the agent also checks each
caller's uid (SO_PEERCRED).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from vault import gcpause
from vault.hardening import harden, libc_call

MAX_LINE = 8192
# A command for the agent to run (vault.cli.served) carries its stdin (a note's body), and
# its answer everything the command printed: bounded, but far above a line.
MAX_MESSAGE = 256 * 1024 * 1024
KEY_BYTES = 32
CLIENT_SECONDS = 2.0  # a caller that says nothing for this long is dropped
WAKE_SECONDS = 30.0  # the loop wakes at least this often to check the deadline
# For this long after a command, the loop also wakes this often to let the service catch up
# with changes made elsewhere (`Service.idle`): the `vault edit` a person just ran in its own
# process is read before their next `vault ls`, not while it waits.
BUSY_SECONDS = 20.0
POLL_SECONDS = 0.02  # 20 µs (PRAGMA data_version) when nothing changed
MIN_TIMEOUT = 1.0
MAX_TIMEOUT = 7 * 24 * 3600.0


class Service(Protocol):
    """What runs the `vault` commands the agent serves (`vault ls`, ...): given by the process's
    entry point (vault.agent_main), which knows the command line; this layer does not."""

    def run(self, request: dict[str, Any], key: bytes) -> dict[str, Any]: ...

    def idle(self) -> None:
        """Called after a command's caller has its answer, and every POLL_SECONDS for a while
        after: work for the next command, done while nobody waits (cheap when there is none)."""

    def preload(self, vault_path: str, key: bytes, foresee: dict[str, Any] | None) -> None:
        """Open the vault at `vault_path` now, for the commands to come (`vault unlock`): on a
        thread of its own, while the loop answers; no command runs until it is done. Then
        `foresee`, a command's request (as `run` gets it), is run ahead, for its answer to be
        kept for when it comes (the `vault ls` a person types next)."""

    def close(self) -> None: ...

    answered_ahead: int  # commands whose answer was made before they came


# Makes the service for (socket path, vault id): for `preload`, or at the first command the
# agent is asked to run.
ServiceFactory = Callable[[str, str], Service]


def boot_clock() -> float:
    """Seconds since boot, counting time asleep: a laptop suspended past the timeout comes back
    locked, and changing the wall clock moves nothing."""
    return time.clock_gettime(getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC))


# --- the wire: one JSON object per line, each way --------------------------------------------


def send(conn: socket.socket, message: dict[str, Any]) -> None:
    conn.sendall(json.dumps(message, separators=(",", ":")).encode() + b"\n")


def send_reply(conn: socket.socket, reply: dict[str, Any]) -> None:
    """A command's reply: its line, then the bytes of its `payload`, if any, as they are (a
    framed reply: the line's `frames` say which stream each piece goes to, and its length)."""
    payload = reply.get("payload")
    if not isinstance(payload, bytes):
        send(conn, reply)
        return
    head = json.dumps({k: v for k, v in reply.items() if k != "payload"}, separators=(",", ":"))
    line = head.encode() + b"\n"
    if len(payload) < 1 << 16:
        conn.sendall(line + payload)  # a short answer in one write
    else:
        conn.sendall(line)
        conn.sendall(payload)  # not copied to join it to the line


def receive(conn: socket.socket, limit: int = MAX_LINE) -> dict[str, Any] | None:
    """One line from `conn`, parsed; None for silence, garbage or a line over `limit`."""
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = conn.recv(min(limit + 1, 1 << 20))
        if not chunk:
            return None
        data += chunk
        if len(data) > limit:
            return None
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # garbage, or nesting deep enough to exhaust the stack
        return None
    return value if isinstance(value, dict) else None


def peer_uid(conn: socket.socket) -> int:
    """The uid of the process at the other end, as the kernel vouches for it."""
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", raw)
    return uid


# --- the key, kept where it is hard to reach ------------------------------------------------


class KeyBox:
    """The master key in a fixed buffer: locked in RAM where the system lets us (so it is not
    written to swap) and zeroed when the agent ends."""

    def __init__(self, key: bytes) -> None:
        self._buf = ctypes.create_string_buffer(KEY_BYTES)
        self.locked_in_ram = _libc_call("mlock", ctypes.addressof(self._buf), KEY_BYTES)
        ctypes.memmove(self._buf, key, KEY_BYTES)

    def encoded(self) -> str:
        return base64.b64encode(self._buf.raw).decode("ascii")

    def wipe(self) -> None:
        ctypes.memset(self._buf, 0, KEY_BYTES)


def _libc_call(name: str, *args: Any) -> bool:
    return libc_call(name, *args) == 0


# --- the agent ------------------------------------------------------------------------------


@dataclass
class Agent:
    sock: socket.socket
    path: str
    inode: int
    vault_id: str
    key: KeyBox
    timeout: float
    deadline: float
    started: float
    make_service: ServiceFactory | None = None  # None: the agent serves no commands
    service: Service | None = None  # made at the first command served (or by `preload`)
    served: int = 0  # commands run here (vault.session.thin), for `status` and the tests
    preloading: threading.Thread | None = None  # `preload`, until a command waits for it

    def preload(self, vault_path: str, foresee: dict[str, Any] | None = None) -> None:
        """Make the service and open the vault on another thread, as `vault unlock` asks: the
        loop goes on answering (status, lock, the key) meanwhile, and a command to run waits
        for the opening (it would have paid for it anyway). A failure here only leaves the
        opening to the first command, as without a preload."""
        if self.make_service is None:
            return
        make = self.make_service

        def opening() -> None:
            try:
                service = make(self.path, self.vault_id)
                key = base64.b64decode(self.key.encoded())
                try:
                    service.preload(vault_path, key, foresee)
                finally:
                    del key
            except Exception:
                return
            self.service = service

        self.preloading = threading.Thread(target=opening, name="vault-preload")
        self.preloading.start()

    def _preloaded(self, wait: bool = True) -> bool:
        """Whether no preload is still running (waiting for it first, with `wait`)."""
        if self.preloading is not None:
            if not wait and self.preloading.is_alive():
                return False
            self.preloading.join()
            self.preloading = None
        return True

    def expired(self) -> bool:
        return boot_clock() >= self.deadline

    def expires_at(self) -> float:
        """The deadline as wall-clock time, for people to read."""
        return time.time() + max(0.0, self.deadline - boot_clock())

    def serve(self) -> None:
        busy = -BUSY_SECONDS  # when the last command came (boot clock)
        while not self.expired():
            wake = WAKE_SECONDS
            if self.service is not None and boot_clock() - busy < BUSY_SECONDS:
                wake = POLL_SECONDS  # a person at work: keep up with the vault meanwhile
            self.sock.settimeout(min(wake, max(0.01, self.deadline - boot_clock())))
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                if wake == POLL_SECONDS:
                    self._idle()
                continue
            with conn:
                try:
                    if not self.handle(conn):
                        return
                except OSError:
                    continue  # a caller that went away mid-answer changes nothing
            busy = boot_clock()
            self._idle()

    def _idle(self) -> None:
        if self._preloaded(wait=False) and self.service is not None:
            with contextlib.suppress(Exception):  # never the agent's end
                self.service.idle()

    def handle(self, conn: socket.socket) -> bool:
        """Answer one caller; False when the agent should end."""
        conn.settimeout(CLIENT_SECONDS)
        if peer_uid(conn) != os.getuid():
            return True  # another user: no answer at all
        request = receive(conn, MAX_MESSAGE)  # from a process of our own user only
        if request is None:
            return True
        if self.expired():
            send(conn, {"ok": False, "error": "expired"})
            return False
        op = request.get("op")
        if op == "lock":
            send(conn, {"ok": True})
            return False
        if request.get("vault_id") != self.vault_id:
            send(conn, {"ok": False, "error": "this session is for another vault"})
            return True
        if op == "key":
            self.deadline = boot_clock() + self.timeout  # the timeout counts idle time
            send(conn, {"ok": True, "key": self.key.encoded(), **self.status()})
        elif op == "run":
            self.deadline = boot_clock() + self.timeout
            # No cycle search until the answer is sent: a command makes up to hundreds of
            # thousands of objects that form none (100,000 rows of `vault ls`), and the
            # collection they trigger (80 ms there) can as well run after the caller has its
            # answer. Reference counting still frees them as it goes.
            with gcpause.paused():
                send_reply(conn, self.run(request))
        elif op == "status":
            send(conn, {"ok": True, **self.status()})
        elif op == "timeout":
            seconds = request.get("seconds")
            if not isinstance(seconds, (int, float)) or not MIN_TIMEOUT <= seconds <= MAX_TIMEOUT:
                send(conn, {"ok": False, "error": "bad timeout"})
                return True
            self.timeout = float(seconds)
            self.deadline = boot_clock() + self.timeout
            send(conn, {"ok": True, **self.status()})
        else:
            send(conn, {"ok": False, "error": "unknown request"})
        return True

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run a `vault` command here, on the vault kept open, through the service the entry point
        gave (made at the first command; without one the client runs the command itself)."""
        if self.make_service is None:
            return {"ok": True, "served": False}
        self._preloaded()
        if self.service is None:
            try:
                self.service = self.make_service(self.path, self.vault_id)
            except Exception:
                return {"ok": True, "served": False}
        key = base64.b64decode(self.key.encoded())
        try:
            reply = self.service.run(request, key)
        except Exception:  # never the agent's end; the client runs the command itself
            return {"ok": True, "served": False}
        finally:
            del key
        self.served += reply.get("served") is True
        return reply

    def status(self) -> dict[str, Any]:
        return {
            "vault_id": self.vault_id,
            "expires": self.expires_at(),
            "timeout": self.timeout,
            "started": self.started,
            "pid": os.getpid(),
            "key_locked_in_ram": self.key.locked_in_ram,
            "served": self.served,
            # Of those, how many had their answer made before they came (`Service.preload`'s
            # foreseen `vault ls`, or a repeat of the last with nothing changed).
            "answered_ahead": self.service.answered_ahead if self.service is not None else 0,
            # The vault is open for the commands (preloaded, or a command ran).
            "open": (self.preloading is None or not self.preloading.is_alive())
            and self.service is not None,
        }

    def close(self) -> None:
        self._preloaded()  # (a vault being opened is closed once it is, below)
        if self.service is not None:
            self.service.close()  # forgets every decrypted note
        self.key.wipe()
        self.sock.close()
        # Remove our socket only: a newer agent may already have bound a fresh one there.
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self.inode:
                os.unlink(self.path)


def _ignore_terminal_signals() -> None:
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_IGN)

    def stop(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)


def start(request: dict[str, Any], make_service: ServiceFactory | None = None) -> Agent:
    path = request["socket"]
    key = base64.b64decode(request["key"])
    timeout = float(request["timeout"])
    if len(key) != KEY_BYTES or not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT:
        raise ValueError("bad start request")
    os.umask(0o077)  # the socket file is the owner's only, inside a folder that is too
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(16)
    return Agent(
        sock=sock,
        path=path,
        inode=os.stat(path).st_ino,
        vault_id=str(request["vault_id"]),
        key=KeyBox(key),
        timeout=timeout,
        deadline=boot_clock() + timeout,
        started=time.time(),
        make_service=make_service,
    )


def main(make_service: ServiceFactory | None = None) -> int:
    """The agent process: `make_service` runs the commands it serves (vault.agent_main gives the
    command line's); without one it only keeps the key."""
    harden()
    _ignore_terminal_signals()
    os.chdir("/")
    out = sys.stdout
    try:
        request = json.loads(sys.stdin.buffer.readline(MAX_LINE))
        agent = start(request, make_service)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        out.write(f"error {reason}\n")
        out.flush()
        return 1
    preload, foresee = request.get("preload"), request.get("foresee")
    del request
    out.write("ready\n")
    out.flush()
    # From here on nobody reads what we print: point the standard streams at /dev/null.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    try:
        if isinstance(preload, str):
            agent.preload(preload, foresee if isinstance(foresee, dict) else None)
        agent.serve()
    finally:
        agent.close()
    return 0
