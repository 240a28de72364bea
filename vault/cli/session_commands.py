"""`vault unlock` and `vault lock`: unlock once per login session (registered by
`vault.cli.build_parser`). The agent that holds the key is `vault.session.agent`, run as
`python -m vault.agent_main`; docs/SECURITY.md says what an unlocked session exposes, to whom."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from vault.cli.common import emit_json, info, session_json, session_line, vault_dir, with_password
from vault.config import Config
from vault.errors import InvalidInputError
from vault.notes.vault import Vault, inspect_vault
from vault.session import agent_client, thin

# The agent's process: a program started (`python -m`), never imported here; it sits above the
# faces and imports the command line's service itself (tests/test_architecture.py checks it).
AGENT_ENTRY = "vault.agent_main"


def timeout_seconds(args: argparse.Namespace, config: Config) -> float:
    minutes = args.timeout if args.timeout is not None else config.get("session.timeout_minutes")
    if minutes <= 0:
        raise InvalidInputError("the timeout must be a positive number of minutes")
    return agent_client.check_timeout(float(minutes) * 60)


def cmd_unlock(args: argparse.Namespace, config: Config) -> int:
    path = vault_dir(args, config)
    vi = inspect_vault(path)
    seconds = timeout_seconds(args, config)
    session = agent_client.status(path, vi.vault_id)
    if session is not None:
        # Already unlocked: no password needed to keep it so, only (maybe) a new timeout.
        if args.timeout is not None:
            session = agent_client.set_timeout(path, vi.vault_id, seconds) or session
        message = "Already unlocked"
    else:
        key = with_password(
            args,
            vi,
            lambda password, keyfile: Vault.unwrap_master_key(
                path, password=password, keyfile=keyfile
            ),
        )
        try:
            # Opened by the agent at once: the next command is a person's, seconds later.
            session = agent_client.start(
                path,
                vi.vault_id,
                key,
                seconds,
                entry=AGENT_ENTRY,
                preload=True,
                foresee=thin.foreseen_listing(
                    getattr(args, "command_line", []), "unlock", vi.vault_id
                ),
            )
        finally:
            del key
        message = "Unlocked"
    if args.json:
        emit_json(session_json(session))
    else:
        info(f"{message} {session_line(session).removeprefix('unlocked ')}")
    return 0


def cmd_lock(args: argparse.Namespace, config: Config) -> int:
    if args.all:
        count = agent_client.lock_all()
        info(f"Locked {count} unlocked session{'s' if count != 1 else ''}.")
        return 0
    path = vault_dir(args, config)
    vi = inspect_vault(path)
    if agent_client.lock(path, vi.vault_id):
        info("Locked: the next command asks for the password.")
    else:
        info("Already locked.")
    return 0


def register(sub: Any, command: Callable[..., Any]) -> None:
    p = command(
        "unlock",
        cmd_unlock,
        "unlock once: later commands need no password until `vault lock` or the idle timeout",
        json_flag=True,
    )
    p.add_argument(
        "--timeout",
        type=float,
        metavar="MINUTES",
        help="lock after this many idle minutes (default: session.timeout_minutes, 15)",
    )
    p = command("lock", cmd_lock, "end the unlocked session now")
    p.add_argument("--all", action="store_true", help="every unlocked vault of yours")
