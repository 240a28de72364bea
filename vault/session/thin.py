"""The `vault` command's first step (vault.__main__.main): with an unlocked session, the agent
answers.

The commands in `SERVED` (`vault ls`, `search`, `show`, `new`, `edit`, `rm`, `restore`,
`history`, `tags`, `notebooks`, `links`, `backlinks`, `rename`, `today`, `conflicts`,
`revert`, `tag`, `notebook`, `empty-trash`, `attachments`) are run by the session agent, which
keeps the vault open (vault.cli.served): this process only finds the agent's socket, sends the
command line with what the command would read of this process (working folder, environment,
whether each standard stream is a terminal, their encodings, the terminal's size, and stdin
for `vault new` and a `vault edit` of the body), and writes back what the agent's run of the
same code printed, with its exit status. It imports only the standard library, so it starts in a few
milliseconds instead of importing the whole CLI and opening the vault: not even `json` (whose
decoder imports `re`, 5-6 ms of a 25 ms command here), but the C parts `json` itself runs on
(`_json_dumps`, `_json_loads`).

Whenever anything is not as expected (no session, another command, a vault this session is not
for, an agent that declines or does not answer) the command runs here as before
(`vault.cli.main`, called by vault.__main__: this module imports no face).
`VAULT_AGENT_SERVE=0` always runs it here.

Where the socket is mirrors vault.session.agent_client (which imports more than this should):
on Linux only; elsewhere every command runs here.
"""

from __future__ import annotations

import os
import sys

SERVED = (
    "ls", "search", "show", "new", "edit", "rm", "restore", "history", "tags", "notebooks",
    "links", "backlinks", "rename", "today", "conflicts", "revert", "tag", "notebook",
    "empty-trash", "attachments",
)  # fmt: skip
# Those that may change the vault: once the agent has one, it is never run here again.
CHANGING = (
    "new", "edit", "rm", "restore", "rename", "today", "revert", "tag", "notebook", "empty-trash",
)  # fmt: skip
SECRET_VARS = ("VAULT_PASSWORD", "VAULT_NEW_PASSWORD", "VAULT_RECOVERY_KEY")
# Options that take a value and may come before the command (vault.cli._add_common_options).
VALUED = ("--vault", "--keyfile")
ANSWER_SECONDS = 600.0  # the first command opens the vault: seconds at 100,000 notes
HEADER_MAX = 64 * 1024
CONFIG_MAX = 1024 * 1024
REPLY_MAX = 256 * 1024 * 1024


_stdin: bytes | None = None  # what was read of stdin for the agent, if anything


def replay_stdin() -> None:
    """After an agent declined: the stdin read for it, for the command to read here."""
    if _stdin is not None:
        import io

        sys.stdin = io.TextIOWrapper(
            io.BytesIO(_stdin), encoding=sys.stdin.encoding, errors=sys.stdin.errors
        )


def serve(argv: list[str]) -> int | None:
    """The exit status of the command as the agent ran it, or None to run it here."""
    if os.environ.get("VAULT_AGENT_SERVE") == "0" or sys.platform != "linux":
        return None
    named = _command_vault(argv)
    if named is None:
        return None
    command, vault = named
    found = _socket(vault)
    if found is None:
        return None
    try:
        try:
            reply = _ask(*found, argv, command)
        except _Sent:
            # The agent took a command that may change the vault and did not answer: running
            # it again here could do it twice.
            sys.stderr.write(
                "vault: the session agent did not answer; check whether the change was made"
                " (`vault ls`, `vault history NOTE`, `vault notebooks`, `vault tags`) before"
                " running it again\n"
            )
            return 70
        if reply is None or reply.get("served") is not True:
            return None
        return _write(reply)
    except KeyboardInterrupt:
        # Said as the command line says it (vault.cli.parser.run), not with a traceback: the
        # agent finishes what it was given, and each change is atomic.
        sys.stderr.write("vault: interrupted; nothing half-saved (each change is atomic)\n")
        return 130


def end(code: int) -> None:
    """End this process now, after a served command (its streams flushed): the interpreter's
    teardown would only free what the process is about to give back anyway."""
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # closed when the command started (`2>&-`): nothing to flush
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            return  # let the normal exit report or ignore it
    os._exit(code & 0xFF)  # as sys.exit(code) would end it


# --- which vault ---------------------------------------------------------------------------


def _command_vault(argv: list[str]) -> tuple[str, str] | None:
    """A served command and the vault folder it names (as vault.paths.resolve_vault_dir would
    find it); None for a command the agent does not serve, or anything unusual. The agent
    parses the command line itself and declines one that names another vault."""
    command = None
    vault = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in VALUED:
            if i + 1 >= len(argv):
                return None
            if arg == "--vault":
                vault = argv[i + 1]
            i += 2
            continue
        if arg.startswith("--vault="):
            vault = arg.partition("=")[2]
        elif arg in ("-h", "--help", "--"):
            return None
        elif arg.startswith("-"):
            name = arg.partition("=")[0]
            if command is None or any(len(name) > 2 and v.startswith(name) for v in VALUED):
                return None  # an option before the command, or an abbreviation of ours
        elif command is None:
            command = arg
            if command not in SERVED:
                return None
        i += 1
    if command is None:
        return None
    for value in (vault, os.environ.get("VAULT_DIR"), _configured_vault()):
        if value:
            return command, os.path.expanduser(value)
    return command, os.path.join(_xdg("XDG_DATA_HOME", ".local/share"), "vault", "vault")


def _xdg(var: str, fallback: str) -> str:
    """As platformdirs reads an XDG variable: used as it is when it is an absolute path, else
    (unset, empty, relative, a literal `~`) the default under the home folder."""
    value = os.environ.get(var, "")
    return value if value.startswith("/") else os.path.join(os.path.expanduser("~"), fallback)


def _read_regular(path: str, limit: int) -> bytes | None:
    """The first `limit` bytes of `path` if it is a regular file; None for anything else. A
    FIFO or a device in its place is never waited on (O_NONBLOCK): the command itself then
    says what is wrong."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if os.fstat(fd).st_mode & 0o170000 != 0o100000:  # S_ISREG, without importing stat
            return None
        os.set_blocking(fd, True)
        return os.read(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)


def _configured_vault() -> str | None:
    config = os.environ.get("VAULT_CONFIG")
    path = (
        os.path.expanduser(config)
        if config
        else os.path.join(_xdg("XDG_CONFIG_HOME", ".config"), "vault", "config.toml")
    )
    raw = _read_regular(path, CONFIG_MAX)
    if raw is None or b"path" not in raw:
        return None
    import tomllib

    try:
        value = tomllib.loads(raw.decode("utf-8")).get("vault", {}).get("path")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _socket(vault: str) -> tuple[str, str] | None:
    """This vault's agent socket, if one is there (vault.session.agent_client.socket_path),
    and the vault's id."""
    real = os.path.realpath(vault)
    raw = _read_regular(os.path.join(real, "vault.json"), HEADER_MAX)
    try:
        vault_id = _json_loads(raw)["vault_id"] if raw is not None else None
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(vault_id, str):
        return None
    try:  # the C module itself: hashlib would set up OpenSSL first, for nothing here
        from _blake2 import blake2b
    except ImportError:
        from hashlib import blake2b

    digest = blake2b(f"{vault_id}\0{real}".encode(), digest_size=10).hexdigest()
    folder = _session_folder()
    if folder is None:
        return None
    path = os.path.join(folder, f"agent-{digest}.sock")
    return (path, vault_id) if os.path.exists(path) else None


def _session_folder() -> str | None:
    """The first private folder of ours among where sessions live (agent_client._candidates)."""
    candidates = []
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and _private_dir(xdg):
        candidates.append(os.path.join(xdg, "vault"))
    candidates.append(os.path.join(_xdg("XDG_STATE_HOME", ".local/state"), "vault", "agent"))
    tmp = next((os.environ[v] for v in ("TMPDIR", "TEMP", "TMP") if os.environ.get(v)), "/tmp")
    candidates.append(os.path.join(tmp, f"vault-{os.getuid()}"))
    for folder in candidates:
        if os.path.lexists(folder):
            return folder if _private_dir(folder) else None
    return None


def may_have_session(vault: str, vault_id: str) -> bool:
    """False only when this vault has no session socket anywhere vault.session.agent_client
    could look for one (each of its candidate folders, and every folder `tempfile` may pick):
    a command run without a session then skips importing and asking the client (socket,
    ctypes, tempfile: 4-6 ms). True elsewhere than on Linux, whose folders are not mirrored."""
    if sys.platform != "linux":
        return True
    real = os.path.realpath(vault)
    try:
        from _blake2 import blake2b
    except ImportError:
        from hashlib import blake2b
    digest = blake2b(f"{vault_id}\0{real}".encode(), digest_size=10).hexdigest()
    name = f"agent-{digest}.sock"
    # Where platformdirs puts the state folder, and its default too: a wrong guess here only
    # costs a look (another platformdirs might read the variable otherwise).
    folders = [
        os.path.join(_xdg("XDG_STATE_HOME", ".local/state"), "vault", "agent"),
        os.path.join(os.path.expanduser("~"), ".local/state", "vault", "agent"),
    ]
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        folders.append(os.path.join(xdg, "vault"))
    tmp = [os.environ.get(v) for v in ("TMPDIR", "TEMP", "TMP")]
    tmp += ["/tmp", "/var/tmp", "/usr/tmp"]
    try:
        tmp.append(os.getcwd())
    except OSError:  # a working folder since removed is none (no contextlib imported here)
        tmp.append(None)
    folders += [os.path.join(t, f"vault-{os.getuid()}") for t in tmp if t]
    return any(os.path.lexists(os.path.join(f, name)) for f in folders)


def _private_dir(path: str) -> bool:
    import stat

    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


# --- JSON without `json` ----------------------------------------------------------------


class _Parsing:
    """What `_json.make_scanner` reads off a decoder (json.JSONDecoder's defaults)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = None

    @staticmethod
    def parse_constant(name: str) -> float:
        raise ValueError(f"not JSON: {name}")  # NaN and Infinity, which json would take


def _json_loads(data: bytes | bytearray) -> object:
    """json.loads of one JSON value, through the C scanner `json` itself uses (not `json`,
    whose decoder imports `re`); raises ValueError for anything that is not one JSON value."""
    try:
        from _json import make_scanner
    except ImportError:  # an interpreter without the accelerator: the module, as before
        import json

        return json.loads(data)
    text = bytes(data).decode("utf-8")  # UnicodeDecodeError is a ValueError
    start = len(text) - len(text.lstrip(" \t\n\r"))
    try:
        value, end = make_scanner(_Parsing())(text, start)
    except (StopIteration, RecursionError) as exc:
        raise ValueError("not JSON") from exc
    if text[end:].strip(" \t\n\r"):
        raise ValueError("not JSON: more after the value")
    return value


def _json_dumps(value: object) -> str:
    """json.dumps(value, separators=(",", ":")), through the C encoder `json` itself uses."""
    try:
        from _json import encode_basestring_ascii, make_encoder
    except ImportError:
        import json

        return json.dumps(value, separators=(",", ":"))
    encode = make_encoder(
        {}, _unserialisable, encode_basestring_ascii, None, ":", ",", False, False, True
    )
    return "".join(encode(value, 0))


def _unserialisable(value: object) -> object:
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# --- asking --------------------------------------------------------------------------------


class _Sent(Exception):
    """A command that may change the vault reached the agent, and no answer came back."""


def _ask(path: str, vault_id: str, argv: list[str], command: str) -> dict | None:
    import _socket  # the C module: `socket` imports selectors, enum and more around it

    # The request (stdin included) is made before connecting: the agent answers one caller at
    # a time, and must not wait on this one's stdin, which may come from another command it
    # serves (`vault show --raw X | vault edit X`). Nothing is sent before the check below.
    message = _request(argv, vault_id, command)
    if message is None:
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sent = False
    try:
        sock.settimeout(2.0)
        sock.connect(path)
        raw = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)  # pid, uid, gid
        if int.from_bytes(raw[4:8], sys.byteorder, signed=True) != os.getuid():
            return None  # not our agent: never trust or feed it
        sock.sendall(_json_dumps(message).encode() + b"\n")
        sent = True
        sock.settimeout(ANSWER_SECONDS)
        data = bytearray()
        end = -1
        while end < 0 and len(data) <= REPLY_MAX:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            end = chunk.find(b"\n")
            if end >= 0:
                end += len(data)
            data += chunk
        reply = _json_loads(data[:end]) if end >= 0 else None
        if isinstance(reply, dict) and "frames" in reply:
            reply["payload"] = _payload(sock, reply["frames"], memoryview(data)[end + 1 :])
    except (OSError, ValueError):
        reply = None
    finally:
        sock.close()
    if not isinstance(reply, dict) or reply.get("ok") is not True:
        # A refusal (`ok` false: the session expired, another vault) is an answer: the agent
        # ran nothing, and the command runs here. Only no answer at all may hide a change.
        if sent and command in CHANGING and not isinstance(reply, dict):
            raise _Sent
        return None
    return reply


def _payload(sock: object, frames: object, start: memoryview) -> bytearray:
    """The output after a framed reply's line: as many bytes as its frames add up to, the
    first of them already read (`start`)."""
    if not (isinstance(frames, list) and all(_frame(f) for f in frames)):
        raise ValueError("bad frames")
    size = sum(f[1] for f in frames)
    if size > REPLY_MAX or len(start) > size:
        raise ValueError("bad frames")
    payload = bytearray(size)
    payload[: len(start)] = start
    view = memoryview(payload)[len(start) :]
    while view:
        got = sock.recv_into(view)  # type: ignore[attr-defined]
        if not got:
            raise ValueError("the reply ended early")
        view = view[got:]
    return payload


def _frame(frame: object) -> bool:
    return (
        isinstance(frame, list)
        and len(frame) == 2
        and frame[0] in (1, 2)
        and type(frame[1]) is int
        and frame[1] >= 0
    )


def _positive(value: str | None) -> bool:
    try:
        return value is not None and int(value) > 0
    except ValueError:
        return False


def _request(argv: list[str], vault_id: str, command: str) -> dict | None:
    try:
        cwd = os.getcwd()
    except OSError:
        return None  # the working folder was removed: the command says so in its own process
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    tty = [_isatty(0), _isatty(1), _isatty(2)]
    # The agent's own streams are not the caller's terminal: it gets the size the command
    # would see (shutil.get_terminal_size takes COLUMNS and LINES only when they are positive
    # numbers, else asks the terminal; an empty or "0" COLUMNS used to give 100 columns).
    if tty[1] and not (_positive(env.get("COLUMNS")) and _positive(env.get("LINES"))):
        try:
            size = os.get_terminal_size(1)
        except OSError:
            pass
        else:
            if not _positive(env.get("COLUMNS")):
                env["COLUMNS"] = str(size.columns)
            if not _positive(env.get("LINES")):
                env["LINES"] = str(size.lines)
    message = {
        "op": "run",
        "vault_id": vault_id,
        "argv": argv,
        "cwd": cwd,
        "env": env,
        "tty": tty,
        "encodings": [_encoding(sys.stdout), _encoding(sys.stderr)],
        "framed": True,  # the output as raw bytes after the reply's line
    }
    # `vault new` reads its body from stdin unless told otherwise (--no-edit, --template, or
    # their abbreviations: then stdin is left alone, as the command itself would); `vault
    # edit` when it changes nothing else (no option but --allow-empty: with any other, stdin
    # is left alone, and the agent declines an edit of the body it has no stdin for).
    if not tty[0] and (
        (command == "new" and not any(map(_no_body_option, argv)))
        or (command == "edit" and _only_body(argv))
    ):
        import binascii

        global _stdin
        try:
            data = _stdin = sys.stdin.buffer.read()
            message["stdin"] = binascii.b2a_base64(data, newline=False).decode("ascii")
        except (OSError, AttributeError, ValueError):
            return None
    return message


def foreseen_listing(argv: list[str], command: str, vault_id: str) -> dict | None:
    """The request `vault ls` would send from here, for `argv` (this process's command line,
    which runs `command`, e.g. `vault --vault DIR unlock`): the same vault options before it,
    then `ls`, with this process's folder, environment and streams. The agent lays that
    listing out as soon as it has opened the vault (`vault unlock`), so the `vault ls` a
    person types next in the same terminal is answered from it. None when the command line
    is not plain (only `--vault DIR` and `--keyfile PATH` before the command)."""
    i = 0
    while i + 1 < len(argv) and argv[i] in ("--vault", "--keyfile"):
        i += 2
    if i >= len(argv) or argv[i] != command:
        return None
    return _request([*argv[:i], "ls"], vault_id, "ls")


def _no_body_option(arg: str) -> bool:
    name = arg.partition("=")[0]
    return (len(name) >= 5 and "--no-edit".startswith(name)) or (
        len(name) >= 4 and "--template".startswith(name)
    )


def _only_body(argv: list[str]) -> bool:
    """Whether `vault edit`'s arguments (after the vault options) name nothing to change but
    the body: no option after the command but --allow-empty (or an abbreviation of it)."""
    after = argv[argv.index("edit") + 1 :] if "edit" in argv else ["-"]
    return not any(
        arg.startswith("-") and not (len(arg) >= 3 and "--allow-empty".startswith(arg))
        for arg in after
    )


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _encoding(stream: object) -> list[str]:
    return [
        getattr(stream, "encoding", None) or "utf-8",
        getattr(stream, "errors", None) or "strict",
    ]


def _write(reply: dict) -> int:
    """What the agent's run of the command wrote, to the same streams here, in order."""
    code = reply.get("code")
    if "frames" in reply:
        pieces = []
        view = memoryview(reply["payload"])
        for fd, size in reply["frames"]:
            pieces.append((fd, view[:size]))
            view = view[size:]
    else:  # an agent started before framed replies: base64 in the line
        import binascii

        pieces = [(fd, memoryview(binascii.a2b_base64(data))) for fd, data in reply.get("out", [])]
    try:
        for fd, view in pieces:
            stream = sys.stdout if fd == 1 else sys.stderr
            if stream is None:  # closed when the command started (`>&-`, `2>&-`)
                if fd == 1 and len(view):  # output with nowhere to go: said as run here
                    raise ValueError("standard output is closed")
                continue  # (messages on a closed stderr are dropped; the status is kept)
            stream.flush()
            while view:
                view = view[os.write(stream.fileno(), view) :]
    except BrokenPipeError:
        # as vault.cli.main: the reader went away; stdout to /dev/null for the final flush
        import contextlib

        with contextlib.suppress(OSError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, ValueError) as exc:  # a full disk, a stream closed under us
        if sys.stderr is not None:
            import contextlib

            reason = getattr(exc, "strerror", None) or "the stream is closed"
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(f"vault: cannot write the output: {reason}\n")
        return 70
    return code if isinstance(code, int) else 70
