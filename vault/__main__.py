"""The `vault` command (the console script and `python -m vault`): the session agent answers
what it serves (vault.session.thin, standard library only), and the command line runs the rest
(vault.cli, imported only then)."""

from __future__ import annotations

import sys


def main() -> int:
    from vault.session import thin

    argv = sys.argv[1:]
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
    _derive_ahead(argv)
    from vault.cli import main as run_here

    return run_here(argv)


# Commands that begin by unlocking the vault (with its password when there is no session).
_UNLOCKING = frozenset(
    {
        "ls", "search", "show", "new", "edit", "rm", "restore", "revert", "history",
        "empty-trash", "notebook", "tag", "tags", "rename", "links", "backlinks", "attach",
        "attachment", "attachments",
    }
)  # fmt: skip


def _derive_ahead(argv: list[str]) -> None:
    """With the password in VAULT_PASSWORD and a command that unlocks, start the KDF of the
    vault's password slot now (vault.notes.unlocking.derive_ahead): the command line's
    modules then load while Argon2 runs, not before it. Only a plain command line is read
    (`--vault DIR`, `--keyfile PATH` before the command, none after it); anything else, or
    anything wrong with the vault, starts nothing, and the command unlocks as it would."""
    import os

    password = os.environ.get("VAULT_PASSWORD")
    if not password:
        return
    given: dict[str, str] = {}
    i = 0
    while i + 1 < len(argv) and argv[i] in ("--vault", "--keyfile"):
        given[argv[i]] = argv[i + 1]
        i += 2
    rest = argv[i + 1 :]
    if i >= len(argv) or argv[i] not in _UNLOCKING:
        return
    if any(a.startswith(("--vault", "--keyfile")) or a == "--" for a in rest):
        return
    from vault.hardening import harden

    harden()  # before the thread holds anything derived from the password (as cli.main does)
    from vault.config import Config
    from vault.errors import VaultError
    from vault.paths import resolve_vault_dir

    try:
        path = resolve_vault_dir(given.get("--vault"), Config.load().get("vault.path"))
    except VaultError:
        return
    keyfile = "--keyfile" in given or bool(os.environ.get("VAULT_KEYFILE"))
    from vault.notes.unlocking import derive_ahead

    derive_ahead(path, password, keyfile=keyfile)


if __name__ == "__main__":
    raise SystemExit(main())
