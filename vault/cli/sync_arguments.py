"""The sync commands' arguments (`vault remote|sync|clone|conflicts|resolve`), kept apart from
their handlers (`vault.sync.commands`) and outside the `vault.sync` package, so that building
the parser imports no sync machinery and every `vault` command starts faster. Registered by
`vault.cli.build_parser`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from vault.cli.common import lazy

# The ways to settle a conflict (vault.sync.conflicts.CHOICES; a test keeps them equal).
CHOICES = ("mine", "theirs", "both")
HANDLERS = "vault.cli.sync_commands:"


def register(sub: Any, command: Callable[..., Any]) -> None:
    p = command(
        "remote", lazy(HANDLERS + "cmd_remote"), "the shared folder this vault syncs through"
    )
    rsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    rsub.add_parser("set", help="sync through DIR (a folder a sync app shares)").add_argument("dir")
    q = rsub.add_parser("show", help="where and how the vault syncs")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    rsub.add_parser("unset", help="stop syncing (the folder is left as it is)")

    p = command(
        "sync", lazy(HANDLERS + "cmd_sync"), "sync with the shared folder now", json_flag=True
    )
    p.epilog = (
        "Exit status: 0 synced; 4 synced, but conflicts wait (`vault conflicts`); 3 the folder "
        "went backwards (rollback); 1 on error."
    )
    p.add_argument(
        "--wait",
        type=float,
        default=60.0,
        metavar="S",
        help="wait this long for another sync of this vault to finish (default 60)",
    )

    p = command(
        "clone",
        lazy(HANDLERS + "cmd_clone"),
        "join a vault from a sync folder on this machine",
        json_flag=True,
    )
    p.add_argument("dir", help="the sync folder")
    p.add_argument(
        "--vault",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="where the local copy goes (default: the usual vault folder)",
    )
    p.add_argument(
        "--recovery",
        action="store_true",
        help="use the recovery key (VAULT_RECOVERY_KEY), then set a password for this copy",
    )
    p.add_argument("--insecure-test-kdf", action="store_true", help=argparse.SUPPRESS)

    p = command(
        "conflicts",
        lazy(HANDLERS + "cmd_conflicts"),
        "list items edited two ways, or show one",
        True,
    )
    p.add_argument("item", nargs="?", help="a conflict's id, id prefix or title")

    p = command(
        "resolve", lazy(HANDLERS + "cmd_resolve"), "settle a conflict: keep mine, theirs, or both"
    )
    p.add_argument("item", help="the conflict's id, id prefix or title")
    p.add_argument("choice", choices=CHOICES)
    p.add_argument("--version", metavar="V", help="which of theirs, when several devices differ")
