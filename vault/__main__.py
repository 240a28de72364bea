"""The `vault` command (the console script and `python -m vault`): the session agent answers
what it serves (vault.session.thin, standard library only), and the command line runs the rest
(vault.cli, imported only then)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


def main() -> int:
    if sys.stderr is None:
        _quiet_stderr()
    argv = sys.argv[1:]
    # The app: the terminal stops echoing at once, not when the app puts it in raw mode (half
    # a second on): a password typed as `vault` starts was shown, and left in the scrollback.
    restore = _no_echo() if _opens_the_app(argv) else None
    try:
        return _main(argv)
    finally:
        if restore is not None:
            restore()


def _main(argv: list[str]) -> int:
    from vault.session import thin

    if argv == ["--version"]:  # argparse's answer, without loading the command line
        from vault import __version__

        sys.stdout.write(f"vault {__version__}\n")
        return 0
    code = thin.serve(argv)
    if code is not None:
        # Served: everything is written (straight to the file descriptors) and this process
        # holds nothing to clean up; ending here skips the interpreter's teardown (1-2 ms).
        thin.end(code)
        return code
    thin.replay_stdin()
    command, given = _plain_command(argv)
    if command in _UNLOCKING:
        import contextlib

        # Only a head start: whatever is wrong, the command below meets and reports it.
        with contextlib.suppress(Exception):
            _derive_ahead(given)
    from vault.cli import main as run_here

    code = run_here(argv)
    if command in _UNLOCKING and _only_daemons():
        # As a served command ends: the vault is closed and every write committed, and the
        # interpreter's teardown would only free the notes read (20-40 ms at 10,000 notes).
        thin.end(code)
    return code


def _quiet_stderr() -> None:
    """Standard error was closed when the command started (`2>&-`): its notices and errors go
    nowhere, as a served command's do, and the command's exit status still says how it went.
    Without this, the first notice (`vault notebook new`'s "Created ...") failed after the
    change was made and turned a success into an exit status of 1. Descriptor 2 becomes
    /dev/null, inherited by whatever this process starts: an editor that writes to its
    standard error would otherwise fail, and the edit with it. A descriptor that was closed
    below it (0 or 1) stays closed."""
    import os

    try:
        null = os.open(os.devnull, os.O_WRONLY)
        if null != 2:
            os.dup2(null, 2)
            os.close(null)
        os.set_inheritable(2, True)  # (os.open makes it close-on-exec: an editor would not get it)
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    except OSError:
        return  # (then the writes fail as before)


# Commands that begin by unlocking the vault (with its password when there is no session).
_UNLOCKING = frozenset(
    {
        "ls", "search", "show", "new", "edit", "rm", "restore", "revert", "history",
        "empty-trash", "notebook", "tag", "tags", "rename", "links", "backlinks", "attach",
        "attachment", "attachments",
    }
)  # fmt: skip


def _opens_the_app(argv: list[str]) -> bool:
    """Whether `argv` names no command (only `--vault DIR`, `--keyfile PATH`): the app."""
    i = 0
    while i < len(argv):
        if argv[i] in ("--vault", "--keyfile") and i + 1 < len(argv):
            i += 2
        elif argv[i].startswith(("--vault=", "--keyfile=")):
            i += 1
        else:
            return False
    return True


def _no_echo() -> Callable[[], None] | None:
    """Stop the terminal echoing what is typed (what is typed stays waiting for the app);
    returns what puts it back as it was, or None when standard input is no terminal."""
    try:
        import termios

        fd = sys.stdin.fileno()
        if not os.isatty(fd):
            return None
        saved = termios.tcgetattr(fd)
        quiet = list(saved)
        quiet[3] &= ~termios.ECHO  # (the local modes)
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except (ImportError, OSError, ValueError, AttributeError):
        return None

    def restore() -> None:
        import contextlib

        with contextlib.suppress(OSError, termios.error):  # (the terminal is gone)
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)

    return restore


def _plain_command(argv: list[str]) -> tuple[str | None, dict[str, str]]:
    """The command `argv` names and the `--vault DIR`, `--keyfile PATH` given before it, when
    the command line is plain: those two options spelled out before the command, none of them
    (nor `--`) after it. (None, {}) otherwise."""
    given: dict[str, str] = {}
    i = 0
    while i + 1 < len(argv) and argv[i] in ("--vault", "--keyfile"):
        given[argv[i]] = argv[i + 1]
        i += 2
    if i >= len(argv) or argv[i].startswith("-"):
        return None, {}
    if any(_names_a_vault_option(a) or a == "--" for a in argv[i + 1 :]):
        return None, {}
    return argv[i], given


def _names_a_vault_option(arg: str) -> bool:
    """Whether `arg` may be `--vault` or `--keyfile`: spelled out, with `=VALUE`, or cut short
    as argparse takes it (`--vau DIR`, `--key=PATH`)."""
    name = arg.partition("=")[0]
    return (
        len(name) > 2
        and name.startswith("--")
        and any(option.startswith(name) for option in ("--vault", "--keyfile"))
    )


def _derive_ahead(given: dict[str, str]) -> None:
    """With the password in VAULT_PASSWORD, start the KDF of the vault's password slot now
    (vault.notes.ahead): the command line's modules then load while Argon2 runs, not before
    it. Nothing is started for a vault that may have a session (the command then opens with
    its key) or that cannot be read; the command unlocks as it would have."""
    import os

    password = os.environ.get("VAULT_PASSWORD")
    if not password:
        return
    from vault.hardening import harden

    harden()  # before the thread holds anything derived from the password (as cli.main does)
    # Only what starting Argon2 needs loads before it starts (vault.notes.ahead): no pathlib,
    # no libsodium, no store; the rest loads while it runs.
    named = given.get("--vault") or os.environ.get("VAULT_DIR")
    if named:  # as vault.paths.resolve_vault_dir finds it (without loading what it needs else)
        folder = os.path.expanduser(named)
    else:
        from vault.config import Config
        from vault.errors import VaultError
        from vault.paths import resolve_vault_dir

        try:
            folder = str(resolve_vault_dir(None, Config.load().get("vault.path")))
        except VaultError:
            return
    from vault.notes import ahead
    from vault.session import thin

    vault_id = ahead.vault_id_of(folder)
    if vault_id is None:
        return
    if thin.may_have_session(folder, vault_id):
        return  # the command opens with the session's key, most likely: no KDF to start
    keyfile = "--keyfile" in given or bool(os.environ.get("VAULT_KEYFILE"))
    ahead.derive_ahead(folder, password, keyfile=keyfile)


def _only_daemons() -> bool:
    """Whether every thread but this one is a daemon (nothing a normal exit would wait for)."""
    import threading

    main_thread = threading.main_thread()
    return all(t.daemon or t is main_thread for t in threading.enumerate())


if __name__ == "__main__":
    raise SystemExit(main())
