"""The thin client at the edges a review found: the session looked for where platformdirs puts
it, and served output to closed or full streams (real `vault` subprocesses, real vaults)."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import CLI, vault_command


def test_session_found_with_a_relative_xdg_state_home(cli: CLI) -> None:
    # No XDG_RUNTIME_DIR (ssh without logind, containers) and XDG_STATE_HOME="~/state" (a
    # literal tilde, not expanded): platformdirs ignores the relative value and the agent's
    # socket lives under ~/.local/state/vault/agent; thin.may_have_session looks only under
    # "~/state/vault/agent" (relative to the cwd) and concludes there is no session.
    import tempfile

    home = tempfile.mkdtemp(prefix="h", dir="/tmp")  # short: the socket fits under it
    env = {"XDG_RUNTIME_DIR": None, "XDG_STATE_HOME": "~/state", "HOME": home}
    cli.init()
    cli("new", "hello", "--no-edit", check=True, **env)
    cli("unlock", check=True, **env)
    try:
        cli.password = None
        result = cli("tags", **env)  # not served: opens the vault through the session key
        assert result.returncode == 0, result.stderr
        result = cli("ls", **env)  # served (or run here with the session key)
        assert result.returncode == 0, result.stderr
    finally:
        cli("lock", **env)


def _run_closed(cli: CLI, fd: int, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*vault_command(), *args],
        env=cli.env(VAULT_PASSWORD=None),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if fd != 1 else None,
        stderr=subprocess.PIPE if fd != 2 else None,
        preexec_fn=lambda: os.close(fd),
        timeout=60,
    )


def test_served_command_with_stderr_closed_keeps_its_exit_status(cli: CLI) -> None:
    cli.init()
    cli("new", "hello", "--no-edit", check=True)
    cli("unlock", check=True)
    assert cli("ls", VAULT_PASSWORD=None).returncode == 0
    result = _run_closed(cli, 2, "ls")  # `vault ls 2>&-`
    assert b"hello" in result.stdout
    assert result.returncode == 0  # thin.end: sys.stderr is None -> AttributeError -> 1


@pytest.mark.parametrize("served", [True, False])
def test_stderr_closed_costs_only_the_notices_served_or_not(cli: CLI, served: bool) -> None:
    """`vault notebook new X 2>&-`: the notebook is made, and the notice that says so goes
    nowhere. In its own process the notice failed after the change and the command exited 1
    (the session agent's answer exited 0); failures keep their status either way."""
    cli.init()
    if served:
        cli("unlock", check=True)
    env = cli.env(VAULT_PASSWORD=None) if served else cli.env()
    try:

        def closed(*args: str) -> subprocess.CompletedProcess[bytes]:
            return subprocess.run(
                [*vault_command(), *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                preexec_fn=lambda: os.close(2),
                timeout=60,
            )

        assert closed("notebook", "new", "Made").returncode == 0
        assert closed("show", "no such note").returncode == 1
        assert closed("notebook", "new").returncode == 2  # a usage error
        listed = json.loads(cli("notebooks", "--json", check=True).stdout)
        assert [n["path"] for n in listed] == ["Made"]
    finally:
        cli("lock")


def test_stderr_closed_reaches_the_editor_as_dev_null(cli: CLI, tmp_path: Path) -> None:
    """`vault edit NOTE 2>&-` on a terminal: the editor gets a descriptor 2 it can write to
    (/dev/null). The first fix left it closed-on-exec, so an editor that says anything on its
    standard error failed there, and the edit was lost without a word (found in review)."""
    import fcntl
    import pty
    import termios

    cli.init()
    cli("new", "Edited", "--no-edit", check=True)
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "from the editor\\n" > "$1"\necho wrote >&2\n')
    editor.chmod(0o755)
    master, slave = pty.openpty()

    def terminal_without_stderr() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        os.close(2)

    proc = subprocess.Popen(
        [*vault_command(), "edit", "Edited"],
        stdin=slave,
        stdout=slave,
        env=cli.env(EDITOR=str(editor), VISUAL=str(editor)),
        preexec_fn=terminal_without_stderr,
    )
    os.close(slave)
    try:
        while select.select([master], [], [], 60)[0]:
            try:
                if not os.read(master, 4096):
                    break
            except OSError:
                break  # the command ended and closed the terminal
    finally:
        os.close(master)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    assert cli("show", "Edited", "--raw", check=True).stdout == "from the editor\n"


def test_served_command_with_stdout_closed_prints_no_traceback(cli: CLI) -> None:
    cli.init()
    cli("unlock", check=True)
    result = _run_closed(cli, 1, "search", "nothing-matches")  # `vault search x >&-`
    assert b"Traceback" not in result.stderr, result.stderr.decode()


def test_served_output_to_a_full_disk_is_one_line_and_exit_70(cli: CLI) -> None:
    cli.init()
    cli("new", "hello", "--no-edit", check=True)
    cli("unlock", check=True)
    try:
        with open("/dev/full", "wb") as full:
            result = subprocess.run(
                [*vault_command(), "ls"],
                env=cli.env(VAULT_PASSWORD=None),
                stdin=subprocess.DEVNULL,
                stdout=full,
                stderr=subprocess.PIPE,
                timeout=60,
            )
        assert result.returncode == 70
        assert b"Traceback" not in result.stderr
        assert result.stderr.decode().count("\n") == 1, result.stderr
    finally:
        cli("lock")


@pytest.mark.parametrize("how", ["closed", "full disk"])
@pytest.mark.parametrize("served", [True, False])
def test_output_that_cannot_be_written_is_one_line_served_or_not(
    cli: CLI, how: str, served: bool
) -> None:
    """Standard output closed (`>&-`) or on a full disk: the command run by the session agent
    and the command run in its own process say the same line and exit 70, not an internal
    error (found by review: the own-process path asked to report a bug)."""
    cli.init()
    cli("new", "hello", "--no-edit", check=True)
    if served:
        cli("unlock", check=True)
    env = cli.env(VAULT_PASSWORD=None) if served else cli.env()
    try:
        if how == "closed":
            result = subprocess.run(
                [*vault_command(), "ls"],
                env=env,
                stdin=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                preexec_fn=lambda: os.close(1),
                timeout=60,
            )
            reason = "the stream is closed"
        else:
            with open("/dev/full", "wb") as full:
                result = subprocess.run(
                    [*vault_command(), "ls"],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=full,
                    stderr=subprocess.PIPE,
                    timeout=60,
                )
            reason = "No space left on device"
        assert result.returncode == 70
        assert result.stderr.decode() == f"vault: cannot write the output: {reason}\n"
    finally:
        cli("lock")


def test_edit_sends_stdin_only_when_the_body_is_all_it_changes() -> None:
    """The thin client reads stdin for `vault edit` only when no option but --allow-empty (or
    an abbreviation of it) follows the command: with any other, the command would not read it,
    and the agent declines an edit of the body it was given no stdin for."""
    from vault.cli.served import SERVED as AGENT_SERVES
    from vault.session.thin import SERVED, _only_body

    assert set(SERVED) == AGENT_SERVES  # both sides agree on what is served
    assert _only_body(["edit", "note"])
    assert _only_body(["--vault", "/v", "edit", "note", "--allow-empty"])
    assert _only_body(["edit", "--allow", "note"])
    assert _only_body(["edit", "note", "--a"])  # (argparse takes it for --allow-empty)
    for options in (
        ["--pin"],
        ["--title", "x"],
        ["--ti=x"],
        ["--un", "t"],
        ["--"],
        ["-h"],
    ):
        assert not _only_body(["edit", "note", *options]), options


def _refusing_agent(path: Path, reply: dict) -> threading.Thread:
    """An agent that answers every request as the real one does when its session has just
    expired (vault.session.agent.Agent.handle): a refusal, nothing run."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        with conn, server:
            data = b""
            while not data.endswith(b"\n"):
                data += conn.recv(65536)
            conn.sendall(json.dumps(reply).encode() + b"\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return thread


def test_a_change_the_agent_refused_runs_here(tmp_path: Path) -> None:
    """The agent refuses before running anything when its session has just expired or is for
    another vault (`{"ok": false, ...}`): a change (`edit`, `rm`, `restore`) then runs
    in this process, as any refused command does. Only a change sent with no answer at all is
    never run again here (it may have been made)."""
    from vault.session import thin

    for argv in (["edit", "note", "--pin"], ["rm", "note"], ["restore", "note"]):
        for error in ("expired", "this session is for another vault"):
            path = tmp_path / "agent.sock"
            path.unlink(missing_ok=True)
            thread = _refusing_agent(path, {"ok": False, "error": error})
            reply = thin._ask(str(path), "vault-id", argv, argv[0])
            thread.join(5)
            assert reply is None, argv  # None: the command runs in this process


def test_ctrl_c_while_the_agent_works_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) while a served command waits for the agent's answer: the one line the
    command line prints for it, and its exit status, as when the command runs here."""
    import signal
    import sys
    import textwrap
    import time

    script = textwrap.dedent(
        f"""
        import socket, sys, threading
        from vault.session import thin
        path = {str(tmp_path / "agent.sock")!r}
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(1)
        kept = []
        threading.Thread(target=lambda: kept.append(server.accept()), daemon=True).start()
        thin._socket = lambda vault: (path, "vault-id")  # an agent that never answers
        print("asking", flush=True)
        sys.exit(thin.serve(["ls"]))
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "VAULT_AGENT_SERVE": "1"},
    )
    assert proc.stdout is not None and proc.stdout.readline() == "asking\n"
    time.sleep(0.5)  # (waiting for the answer now)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err == "vault: interrupted; nothing half-saved (each change is atomic)\n"


def test_a_working_folder_removed_under_the_command_is_no_traceback(
    cli: CLI, tmp_path: Path
) -> None:
    """`cd x; rmdir ../x; vault links NOTE` with a session: the client cannot say where it is,
    so the command runs in its own process (which needs no working folder) and prints what it
    prints anywhere else; before, a traceback (found by review)."""
    cli.init()
    cli("new", "Note", input="[[Other]]\n", check=True)
    cli("unlock", check=True)
    try:
        cli.password = None
        expected = cli("links", "Note", check=True)
        gone = tmp_path / "gone"
        gone.mkdir()
        script = 'cd "$1" && rmdir "$1" && shift && exec "$@"'
        for args in (["links", "Note"], ["ls"]):
            ran = subprocess.run(
                ["sh", "-c", script, "sh", str(gone), *vault_command(), *args],
                env=cli.env(),
                capture_output=True,
                text=True,
            )
            assert ran.returncode == 0, ran.stderr
            assert "Traceback" not in ran.stderr
            if args[0] == "links":
                assert (ran.stdout, ran.stderr) == (expected.stdout, expected.stderr)
            gone.mkdir()
    finally:
        cli("lock")
