"""The arguments of `vault backup ...`, `vault export markdown` and `vault import markdown`,
kept apart from their handlers (`vault.cli.backup_commands`) so building the parser imports no
backup machinery. Registered by `vault.cli.build_parser`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from vault.cli.common import lazy

HANDLERS = "vault.cli.backup_commands:"


def register(sub: Any, command: Callable[..., Any]) -> None:
    p = command(
        "backup",
        lazy(HANDLERS + "cmd_backup_list"),
        "make, check, restore and list encrypted backups",
    )
    bsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    q = bsub.add_parser(
        "create",
        help="write an encrypted backup file",
        description="Write one self-contained encrypted backup: key slots, every item and its "
        "history. Without FILE it goes to the backup folder (backup.dir).",
    )
    q.set_defaults(handler=lazy(HANDLERS + "cmd_backup_create"))
    q.add_argument("file", nargs="?", metavar="FILE", help="a file name, or a folder to put it in")
    q.add_argument("--no-history", action="store_true", help="only current versions")
    q.add_argument("--force", action="store_true", help="replace FILE if it exists")
    q.add_argument("--json", action="store_true", help="machine-readable output")

    q = bsub.add_parser(
        "verify",
        help="prove a backup is whole and every item opens",
        description="Check every part of a backup and open every item with the password (or "
        "the recovery key). Exits 0 only if all is well.",
    )
    q.set_defaults(handler=lazy(HANDLERS + "cmd_backup_verify"))
    q.add_argument("file", metavar="FILE")
    q.add_argument("--recovery", action="store_true", help="use the recovery key")
    q.add_argument("--json", action="store_true", help="machine-readable output")

    q = bsub.add_parser(
        "restore",
        help="restore a backup as a new vault, or merge it into this one",
        description="Restore into a new vault (a folder with no vault), or merge into the "
        "existing vault of the same id: versions it has are not duplicated and newer local "
        "versions stay current.",
    )
    q.set_defaults(handler=lazy(HANDLERS + "cmd_backup_restore"))
    q.add_argument("file", metavar="FILE")
    # SUPPRESS: without the option, the top-level --vault (or VAULT_DIR) still applies.
    q.add_argument("--vault", metavar="DIR", default=argparse.SUPPRESS, help="where to restore")
    q.add_argument(
        "--recovery",
        action="store_true",
        help="open the backup with its recovery key; into a new vault, also set a new password "
        "(VAULT_NEW_PASSWORD, or typed twice on a terminal)",
    )
    q.add_argument("--json", action="store_true", help="machine-readable output")

    q = bsub.add_parser("list", help="list backups in the backup folder (backup.dir)")
    q.set_defaults(handler=lazy(HANDLERS + "cmd_backup_list"))
    q.add_argument("--all", action="store_true", help="every vault's backups, not only this one's")
    q.add_argument("--json", action="store_true", help="machine-readable output")

    p = command("export", lazy(HANDLERS + "cmd_export"), "export notes as plaintext files")
    esub = p.add_subparsers(dest="format", required=True, metavar="FORMAT")
    q = esub.add_parser(
        "markdown",
        help="one .md file per note, notebooks as folders (UNENCRYPTED)",
        description="Write every note outside the trash as Markdown with YAML front matter "
        "into an empty or new folder. The files are NOT encrypted.",
    )
    q.add_argument("folder", metavar="DIR")
    q.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    p = command("import", lazy(HANDLERS + "cmd_import"), "import notes from plaintext files")
    isub = p.add_subparsers(dest="format", required=True, metavar="FORMAT")
    q = isub.add_parser(
        "markdown",
        help="a folder of .md files (Obsidian, other apps' exports)",
        description="Import .md and .markdown files: titles, tags and times from front matter, "
        "folders as notebooks. Files already imported (same notebook, title and text) are "
        "skipped, so running it twice adds nothing.",
    )
    q.add_argument("folder", metavar="DIR")
    q.add_argument("--notebook", metavar="NB", help="put everything under this notebook")
    q.add_argument("--inline-tags", action="store_true", help="also take #tags from the text")
    q.add_argument("--json", action="store_true", help="machine-readable output")
