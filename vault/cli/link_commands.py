"""`vault links`, `vault backlinks`, `vault today` and `vault rename` (registered by
`vault.cli.build_parser`), faces over `vault.notes.links`, `vault.notes.templates` and
`vault.notes.renaming`.

Note text (titles, link lines) is printed through `textsafe.visible`; `--json` is exact.
Line numbers are 1-based, as editors count them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vault.cli.common import NOTE_HELP, edit_dir, editable, emit_json, info, open_vault, out
from vault.config import Config
from vault.errors import InvalidInputError
from vault.notes import lookup
from vault.notes.model import Note
from vault.notes.vault import Vault
from vault.sealing.envelope import short
from vault.textsafe import visible

# Links, renaming and templates load when their command runs: building the parser (every
# `vault` command does) imports none of them.
if TYPE_CHECKING:
    from vault.notes.links import OutgoingLink


def find_note(vault: Vault, ref: str) -> Note:
    """A NOTE argument, named as every other command names one (vault.notes.lookup). Links need
    every note's title, so the whole vault is open anyway."""
    return lookup.find_note(vault, ref)


def _outgoing_json(vault: Vault, item: OutgoingLink) -> dict[str, Any]:
    link, res = item.link, item.resolution
    target = vault.note(res.note_id) if res.note_id else None
    return {
        "target": link.target,
        "heading": link.heading,
        "shown": link.shown,
        "line": link.line + 1,
        "status": res.status,
        "id": res.note_id,
        "title": target.title if target else None,
        "candidates": list(res.note_ids) if res.status == "ambiguous" else [],
    }


def cmd_links(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        note = find_note(vault, args.note)
        from vault.notes.links import link_index

        found = link_index(vault).outgoing(note)
        if args.json:
            emit_json([_outgoing_json(vault, o) for o in found])
            return 0
        if not found:
            info("No links in this note. Write [[Title]] to link to another.")
        for item in found:
            link, res = item.link, item.resolution
            written = link.target + (f"#{link.heading}" if link.heading else "")
            if res.status in ("found", "self"):
                target = vault.note(res.note_id or "")
                where = f"{short(target.id)}  {visible(target.title)}"
            elif res.status == "ambiguous":
                ids = ", ".join(short(i) for i in res.note_ids[:6])
                where = f"ambiguous: {len(res.note_ids)} notes ({ids})"
            else:
                where = "missing"
            out(f"{link.line + 1:>5}  [[{visible(written)}]] -> {where}")
    return 0


def cmd_backlinks(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        note = find_note(vault, args.note)
        from vault.notes.links import link_index

        found = link_index(vault).backlinks(note)
        if args.json:
            emit_json(
                [
                    {
                        "id": b.source.id,
                        "title": b.source.title,
                        "line": b.link.line + 1,
                        "text": b.line_text,
                        "ambiguous": b.ambiguous,
                    }
                    for b in found
                ]
            )
            return 0
        if not found:
            info("No note links here.")
        for b in found:
            place = f"{short(b.source.id)}  {visible(b.source.title)}:{b.link.line + 1}"
            out(f"{place}  {visible(b.line_text.strip())}")
        if found and found[0].ambiguous:
            info("warning: other notes have this title too, so some links may mean them")
    return 0


def _interactive() -> bool:
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def cmd_today(args: argparse.Namespace, config: Config) -> int:
    from vault.notes.templates import NoteSettings, append_line, today

    settings = NoteSettings.from_config(config)
    with open_vault(args, config) as vault:
        daily = today(vault, settings)
        note = daily.note
        where = vault.notebook_path(note.notebook)
        if daily.created:
            info(f"Created today's note {visible(note.title)} in {visible(where) or 'the top'}")
        if args.append is not None or (_interactive() and not args.print):
            note = editable(vault, note)  # a note in real conflict is settled first
        if args.append is not None:
            if "\n" in args.append.strip("\n"):
                raise InvalidInputError("--append takes one line; pipe longer text to `vault edit`")
            append_line(vault, note, args.append)
            info(f"Added a line to {visible(note.title)} ({short(note.id)}).")
            return 0
        if _interactive() and not args.print:
            from vault.editor import edit_text

            body = edit_text(
                note.body, command=config.get("editor.command"), fallback=edit_dir(vault)
            )
            saved = vault.update_note(note, body=body)
            info("No changes." if saved.version == note.version else f"Saved {short(note.id)}.")
            return 0
        out(visible(note.title))
        body = visible(note.body, multiline=True)
        sys.stdout.write(body if body.endswith("\n") or not body else body + "\n")
    return 0


def cmd_rename(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        note = editable(vault, find_note(vault, args.note))
        from vault.notes.renaming import rename_message, rename_note

        result = rename_note(vault, note, args.title, update_links=not args.no_update_links)
        info(rename_message(result))
    return 0


def register(sub: Any, command: Callable[..., Any]) -> None:
    p = command("links", cmd_links, "list a note's [[links]] and where they lead", json_flag=True)
    p.add_argument("note", help=NOTE_HELP)
    p = command("backlinks", cmd_backlinks, "list the notes that link to a note", json_flag=True)
    p.add_argument("note", help=NOTE_HELP)
    p = command(
        "today",
        cmd_today,
        "open today's note in the journal (made from the Daily template); printed when not "
        "on a terminal",
    )
    p.add_argument("--append", metavar="TEXT", help="add TEXT as a new last line, and exit")
    p.add_argument("--print", action="store_true", help="print it, even on a terminal")
    p = command("rename", cmd_rename, "rename a note; links to it follow ([[Old]] becomes [[New]])")
    p.add_argument("note", help=NOTE_HELP)
    p.add_argument("title", help="the new title")
    add_no_update_links(p)


def add_no_update_links(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-update-links",
        action="store_true",
        help="leave [[links]] to the old title as they are",
    )
