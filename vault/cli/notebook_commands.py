"""`vault notebooks|notebook` and `vault tags|tag` (their arguments are in `vault.cli.parser`)."""

from __future__ import annotations

import argparse

from vault.cli import output as cli_output
from vault.cli.common import confirm, emit_json, info, open_vault, out
from vault.config import Config
from vault.notes.counts import notes_per_notebook
from vault.wording import plural


def cmd_notebooks(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        notebooks = vault.notebooks()
        counts = notes_per_notebook(vault.all_notes(), notebooks)  # as the app's sidebar
        if args.json:
            emit_json(
                [
                    {
                        "id": nb.id,
                        "path": vault.notebook_path(nb.id),
                        "name": nb.name,
                        "notes": counts.get(nb.id, 0),
                    }
                    for nb in notebooks
                ]
            )
            return 0
        if not notebooks:
            info("No notebooks yet. `vault new TITLE --notebook NAME` makes one.")
            return 0
        for nb in notebooks:
            depth = vault.notebook_path(nb.id).count("/")
            out(f"{'  ' * depth}{cli_output.field(nb.name)}  ({counts.get(nb.id, 0)})")
    return 0


def cmd_notebook(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        if args.action == "new":
            nb, created = vault.ensure_notebook(args.path)
            info(f"{'Created' if created else 'Already there:'} {vault.notebook_path(nb.id)}")
        elif args.action == "rename":
            nb = vault.find_notebook(args.path)
            vault.rename_notebook(nb, args.name)
            info(f"Renamed to {vault.notebook_path(nb.id)}")
        elif args.action == "move":
            nb = vault.find_notebook(args.path)
            parent = vault.find_notebook(args.parent).id if args.parent else None
            vault.move_notebook(nb, parent)
            info(f"Moved to {vault.notebook_path(nb.id)}")
        elif args.action == "rm":
            nb = vault.find_notebook(args.path)
            if not args.yes and not confirm(
                f"Delete notebook {vault.notebook_path(nb.id)} and move its notes to the trash?"
            ):
                info("Nothing deleted.")
                return 1
            trashed = vault.delete_notebook(nb)
            info(f"Deleted the notebook; {plural(trashed, 'note')} moved to the trash.")
    return 0


def cmd_tags(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        tags = vault.tags()
        if args.json:
            emit_json([{"name": t.name, "notes": t.notes} for t in tags])
            return 0
        if not tags:
            info("No tags yet. `vault new TITLE --tag NAME` adds one.")
        for t in tags:
            out(f"{cli_output.field(t.name)}  ({t.notes})")
    return 0


def cmd_tag(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        if args.action == "rename":
            count = vault.rename_tag(args.name, args.new_name)
            info(f"Renamed the tag on {plural(count, 'note')}.")
        else:
            count = vault.delete_tag(args.name)
            info(f"Removed the tag from {plural(count, 'note')}.")
    return 0
