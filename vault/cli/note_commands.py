"""The note commands: `vault new|ls|show|edit|rm|restore|empty-trash|search|history|revert`
(their arguments are in `vault.cli.parser`)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any

from vault import gcpause
from vault.cli import output as cli_output
from vault.cli.common import (
    confirm,
    edit_dir,
    editable,
    emit_json,
    fmt_time,
    info,
    iso_time,
    note_json,
    open_vault,
    opened_note,
    out,
    stdin_is_terminal,
)
from vault.config import Config
from vault.errors import InvalidInputError
from vault.notes.filing import closest_name
from vault.notes.model import Note
from vault.notes.search import match_snippet, parse_query
from vault.notes.vault import Vault
from vault.sealing.envelope import short
from vault.wording import plural


def cmd_new(args: argparse.Namespace, config: Config) -> int:
    # Adding a note needs the notebooks and tags, not every note decrypted (a template does).
    kinds = None if args.template else frozenset({"notebook", "tag"})
    with open_vault(args, config, kinds=kinds) as vault:
        notebook = _notebook_id(vault, args.notebook, create=True)
        if args.template:
            from vault.notes.templates import NoteSettings, fill, find_template

            template = find_template(vault, NoteSettings.from_config(config), args.template)
            body = fill(template.body, args.title, datetime.now())
        elif args.no_edit:
            body = ""
        elif not stdin_is_terminal():
            body = _read_stdin()
        else:
            from vault.editor import edit_text

            body = edit_text("", command=config.get("editor.command"), fallback=edit_dir(vault))
        note = vault.create_note(
            args.title, body, notebook=notebook, tags=args.tag or [], pinned=args.pin
        )
        if args.json:
            emit_json(note_json(vault, note, body=False))
        else:
            out(f"Created note {short(note.id)}")
    return 0


def _notebook_id(vault: Vault, ref: str | None, *, create: bool) -> str | None:
    if ref is None:
        return None
    if create:
        nb, created = vault.ensure_notebook(ref)
        if created:
            info(f"Created notebook {vault.notebook_path(nb.id)}")
        return nb.id
    return vault.find_notebook(ref).id


def _read_stdin() -> str:
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError("stdin is not UTF-8 text; nothing was saved") from None


def cmd_ls(args: argparse.Namespace, config: Config) -> int:
    # It reads only (no scheduled backup), and a table needs no body (JSON has snippets).
    # Thousands of rows and no cycles among them: the cyclic GC waits (vault.gcpause).
    _load_table()
    with (
        gcpause.paused(),
        open_vault(args, config, scheduled_backup=False, bodies=args.json) as vault,
    ):
        notes = listed_notes(vault, args)
        _warn_corrupt(vault)
        if args.json:
            emit_json([note_json(vault, n, body=False) for n in notes])
            return 0
        if not notes:
            info(_nothing_listed(vault, args))
            return 0
        _note_table(vault, notes)
    return 0


def _nothing_listed(vault: Vault, args: argparse.Namespace) -> str:
    """What an empty `vault ls` says: which notes there are none of, when it was asked for some
    (a tag nothing carries is no reason to suggest adding a first note)."""
    kind = "pinned notes" if args.pinned else "notes"
    where = [" in the trash"] if args.trash else []
    if args.notebook is not None:
        where.append(f" in {vault.notebook_path(_notebook_id(vault, args.notebook, create=False))}")
    if args.tag is not None:
        where.append(f" tagged '{args.tag}'")
    if where or args.pinned:
        said = f"No {kind}{''.join(where)}."
        names = [t.name for t in vault.tags()] if args.tag is not None else []
        if args.tag is not None and args.tag.casefold() not in map(str.casefold, names):
            close = closest_name(args.tag, names)  # no tag by that name at all: a typo?
            said += f" Did you mean '{close}'?" if close is not None else ""
        return said
    return "No notes here. Add one with `vault new TITLE`."


def listed_notes(vault: Vault, args: argparse.Namespace) -> list[Note]:
    """The notes `vault ls` lists, in its order (the session agent's `ls --json` too)."""
    notes = vault.notes(
        notebook=_notebook_id(vault, args.notebook, create=False),
        tag=args.tag,
        trashed=args.trash,
        pinned=True if args.pinned else None,
        sort=args.sort,  # newest first unless asked: the app's sort is the app's
    )
    if args.reverse:  # pinned notes stay on top
        notes = [n for n in notes if n.pinned][::-1] + [n for n in notes if not n.pinned][::-1]
    return notes


def _load_table() -> None:
    """Load the table's modules now, before the vault is opened: with the password in
    VAULT_PASSWORD, while the KDF runs (vault.__main__), not after it."""
    import vault.cli.listing  # noqa: F401  (and vault.cli.columns, which it imports)


def _note_table(vault: Vault, notes: Sequence[Note], query: Any = None) -> None:
    from vault.cli.columns import Column, print_columns
    from vault.cli.listing import NOTE_COLUMNS  # the session agent's `ls` too

    columns = list(NOTE_COLUMNS)
    if sys.modules.get("vault.cli.served") is None:  # one command, then the process ends
        cells = _note_columns(vault, notes)
    else:
        cells = _kept_note_columns(vault, notes)
    if query is not None:
        columns.append(Column("Match", "dim", share=3))
        cells.append([match_snippet(note.body, query, 60) for note in notes])
    print_columns(columns, cells)


def _note_columns(vault: Vault, notes: Sequence[Note]) -> list[list[str]]:
    """The table's cells (listing.note_cells of each note), column by column
    (`listing.note_columns`: 10,000 notes at each `vault ls`)."""
    from vault.cli.listing import note_columns

    notebooks = list(map(attrgetter("notebook"), notes))
    paths = {nb: vault.notebook_path(nb) for nb in set(notebooks)}  # a few notebooks
    return note_columns(notes, list(map(paths.__getitem__, notebooks)))


def _kept_note_columns(vault: Vault, notes: Sequence[Note]) -> list[list[str]]:
    """As `_note_columns`, with each note's cells kept with the vault while it stays open (the
    session agent answers many commands with one vault): a note changed is a new object, so
    it misses."""
    from vault.cli.listing import WHOLE_MINUTE_OFFSETS_MS, title_cell

    ids: list[str] = []
    titles: list[str] = []
    paths_col: list[str] = []
    tags_col: list[str] = []
    modified: list[str] = []
    paths: dict[str | None, str] = {}  # thousands of notes share a few notebooks
    minutes: dict[int | None, str] = {}  # and many a minute (an import, a sync)
    cells = vault.view("cli.note_cells", dict)
    zone = (os.environ.get("TZ"), time.timezone, time.altzone)
    if len(cells) > 4 * max(len(notes), 10_000):
        cells.clear()  # old versions of edited notes
    for note in notes:
        hit = cells.get(id(note))
        if hit is None or hit[0] is not note or hit[1] != zone:
            title = title_cell(note)
            if note.modified and note.modified >= WHOLE_MINUTE_OFFSETS_MS:
                minute = note.modified // 60_000
                when = minutes.get(minute)
                if when is None:
                    when = minutes[minute] = fmt_time(note.modified)
            else:  # one UTC minute can span two local ones when the offset has seconds
                when = fmt_time(note.modified)
            hit = cells[id(note)] = (
                note,
                zone,
                (short(note.id), title, ", ".join(note.tags), when),
            )
        path = paths.get(note.notebook)
        if path is None:
            path = paths[note.notebook] = vault.notebook_path(note.notebook)
        ident, title, tags, when = hit[2]
        ids.append(ident)
        titles.append(title)
        paths_col.append(path)
        tags_col.append(tags)
        modified.append(when)
    return [ids, titles, paths_col, tags_col, modified]


def _warn_corrupt(vault: Vault) -> None:
    if vault.corrupt:
        ids = ", ".join(short(i) for i in sorted(vault.corrupt)[:5])
        info(
            f"warning: {plural(len(vault.corrupt), 'item')} could not be opened ({ids}): "
            "tampered or corrupt; `vault check` tells more, and `vault history ID` lists a "
            "note's versions that open (`vault revert ID VERSION` brings one back)"
        )


def cmd_show(args: argparse.Namespace, config: Config) -> int:
    with gcpause.paused(), opened_note(args, config, args.note, read_only=True) as (vault, note):
        if args.version:
            note = _version_of(vault, note, args.version)
        _show(args, vault, note)
    return 0


def _show(args: argparse.Namespace, vault: Vault, note: Note) -> None:
    if args.json:
        emit_json(note_json(vault, note))
    elif args.raw:
        cli_output.write_body(note.body, exact=True)
    else:
        _print_note(vault, note)


def _print_note(vault: Vault, note: Note) -> None:
    field = cli_output.field
    cli_output.out_styled(field(note.title), "bold")
    meta = [f"id {short(note.id)}", f"modified {fmt_time(note.modified)}"]
    if note.notebook:
        meta.append(f"in {field(vault.notebook_path(note.notebook))}")
    if note.tags:
        meta.append("tags " + ", ".join(field(t) for t in note.tags))
    if note.pinned:
        meta.append("pinned")
    if note.in_trash:
        meta.append("in the trash")
    if note.conflict:
        meta.append("CONFLICT: another version exists")
    cli_output.out_styled(" · ".join(meta), "dim")
    out()
    cli_output.write_body(note.body)


def _version_of(vault: Vault, note: Note, version: str) -> Note:
    matches = [v for v in vault.note_history(note) if v.version.startswith(version)]
    if len(matches) != 1:
        raise InvalidInputError(
            f"no single version of this note starts with '{version}'; `vault history` lists them"
        )
    if matches[0].note is None:
        raise InvalidInputError("that version holds no content (a deletion, or purged)")
    return matches[0].note


def cmd_edit(args: argparse.Namespace, config: Config) -> int:
    with opened_note(args, config, args.note, every_note=args.title is not None) as (vault, note):
        note = editable(vault, note)
        changes: dict[str, Any] = {}
        renamed = None
        if args.title is not None and args.title == note.title:
            changes["title"] = args.title
        elif args.title is not None:
            from vault.notes.renaming import rename_message, rename_note

            renamed = rename_note(vault, note, args.title, update_links=not args.no_update_links)
            note = renamed.note
        if args.notebook is not None:
            changes["notebook"] = (
                None
                if args.notebook in ("", "/")
                else _notebook_id(vault, args.notebook, create=True)
            )
        if args.tag or args.untag:
            drop = {t.casefold().lstrip("#") for t in args.untag or []}
            tags = [t for t in note.tags if t.casefold() not in drop]
            changes["tags"] = tags + list(args.tag or [])
        if args.pin:
            changes["pinned"] = True
        if args.unpin:
            changes["pinned"] = False
        if renamed is not None and not changes:
            info(rename_message(renamed))
            return 0
        if not changes:
            # Only the body: from stdin in a pipe, else the editor.
            if not stdin_is_terminal():
                body = _read_stdin()
                if not body and not args.allow_empty:
                    raise InvalidInputError(
                        "stdin was empty; the note was not changed (--allow-empty clears it)"
                    )
            else:
                from vault.editor import edit_text

                body = edit_text(
                    note.body, command=config.get("editor.command"), fallback=edit_dir(vault)
                )
            changes["body"] = body
        updated = vault.update_note(note, **changes)
        if updated.version == note.version:
            info("No changes.")
        elif updated.conflict:
            info(
                f"Saved {short(note.id)}, but another version was saved meanwhile: both are kept "
                "(see `vault history`)."
            )
        else:
            info(f"Saved {short(note.id)}.")
        if renamed is not None:
            info(rename_message(renamed))
    return 0


def cmd_rm(args: argparse.Namespace, config: Config) -> int:
    with opened_note(args, config, args.note) as (vault, note):
        if args.purge:
            if not args.yes and not confirm(f"Delete '{note.title}' for good?"):
                info("Nothing deleted.")
                return 1
            vault.purge_note(note)
            info(f"Deleted {short(note.id)} for good.")
        elif note.in_trash:
            info(
                f"{short(note.id)} is already in the trash (`vault rm {short(note.id)} --purge` "
                f"deletes it for good, `vault restore {short(note.id)}` brings it back)."
            )
        else:
            vault.trash_note(note)
            info(f"Moved {short(note.id)} to the trash (`vault restore {short(note.id)}` undoes).")
    return 0


def cmd_restore(args: argparse.Namespace, config: Config) -> int:
    with opened_note(args, config, args.note, trashed=True) as (vault, note):
        vault.restore_note(note)
        info(f"Restored {short(note.id)}.")
    return 0


def cmd_empty_trash(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        count = len(vault.notes(trashed=True))
        if (
            count
            and not args.yes
            and not confirm(f"Delete {plural(count, 'note')} in the trash for good?")
        ):
            info("Nothing deleted.")
            return 1
        info(f"Deleted {plural(vault.empty_trash(), 'note')} for good.")
    return 0


def cmd_search(args: argparse.Namespace, config: Config) -> int:
    _load_table()
    with gcpause.paused(), open_vault(args, config, scheduled_backup=False) as vault:  # reads
        query = parse_query(" ".join(args.query))  # (the words as typed, one query)
        if query.empty:
            raise InvalidInputError("search for at least one word")
        if args.all:
            hits = vault.search(query, trashed=args.trash)
            total = len(hits)
        else:  # only the first N are ranked in full (the same ones, in the same order)
            hits, total = vault.search_top(query, args.limit, trashed=args.trash)
        _warn_corrupt(vault)
        if len(hits) < total:  # on stderr: stdout stays the results alone
            info(f"showing {len(hits)} of {total:,}; --limit N or --all for more")
        if args.json:
            emit_json(
                [
                    {
                        **note_json(vault, h.note, body=False),
                        "score": round(h.score, 3),
                        "match": match_snippet(h.note.body, query),
                    }
                    for h in hits
                ]
            )
            return 0 if hits else 1
        if not hits:
            info("No notes match.")
            return 1  # as grep does, so scripts can test for a match
        _note_table(vault, [h.note for h in hits], query)
    return 0


def cmd_history(args: argparse.Namespace, config: Config) -> int:
    with opened_note(args, config, args.note, read_only=True, damaged_ok=True) as (vault, note):
        versions = vault.note_history(note)
        if args.json:
            emit_json(
                [
                    {
                        "version": v.version,
                        "device": v.device,
                        "modified": iso_time(v.note.modified) if v.note else None,
                        "title": v.note.title if v.note else None,
                        "deleted": v.note is None and not v.damaged,
                        "damaged": v.damaged,
                        "current": v.version == note.version,
                    }
                    for v in versions
                ]
            )
            return 0
        for v in versions:
            mark = "*" if v.version == note.version else " "
            if v.damaged:
                out(f"{mark} {v.version[:12]}  (does not open: tampered or corrupt)")
            elif v.note is None:
                out(f"{mark} {v.version[:12]}  (no content: deleted or purged)")
            else:
                size = len(v.note.body.encode("utf-8"))
                when = fmt_time(v.note.modified)
                title = cli_output.field(v.note.title)
                out(f"{mark} {v.version[:12]}  {when}  {size:>7} bytes  {title}")
    return 0


def cmd_revert(args: argparse.Namespace, config: Config) -> int:
    with opened_note(args, config, args.note, damaged_ok=True) as (vault, note):
        note = editable(vault, note)
        old = _version_of(vault, note, args.version)
        if note.id in vault.corrupt:  # its newest version does not open: written over it
            vault.write_over_damaged(note, old)
        else:
            vault.update_note(
                note, title=old.title, body=old.body, tags=old.tags, pinned=old.pinned
            )
        info(f"Restored the content of version {args.version} as the newest version.")
    return 0
