"""`vault attach`, `vault attachments` and `vault attachment get/rm` (registered by
`vault.cli.build_parser`), faces over `vault.notes.attachments`.

File names come from notes that may have arrived from another device: they are printed through
`textsafe.visible`, never raw; `--json` is exact. A file's bytes never reach a terminal raw
(`-o -` into a terminal is refused), and `get` writes a hidden temporary file next to the
target that takes the name only once every byte verified.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vault.cli.columns import Column, print_table
from vault.cli.common import NOTE_HELP, emit_json, info, open_vault, out
from vault.config import Config
from vault.errors import InvalidInputError
from vault.fsutil import replacing
from vault.notes import lookup
from vault.notes.vault import Vault
from vault.textsafe import visible
from vault.wording import plural

if TYPE_CHECKING:  # loaded when an attachment command runs, not for every command
    from vault.notes.attachments import Attachment

Progress = Callable[[int, int], None]
# A bar is drawn only for files at least this big (and only on a terminal, once slow).
PROGRESS_MIN_BYTES = 8 << 20


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"  # pragma: no cover


@contextlib.contextmanager
def _progress(description: str, size: int) -> Iterator[Progress | None]:
    if size < PROGRESS_MIN_BYTES:
        yield None
        return
    from vault.cli.backup_commands import progress_bar  # rich, only when a bar may be drawn

    with progress_bar(description) as bar:
        yield bar


def _note(vault: Vault, ref: str) -> Any:
    return lookup.find_note(vault, ref)


def _json(att: Attachment) -> dict[str, Any]:
    return {
        "name": att.name,
        "size": att.size,
        "type": att.media_type,
        "present": att.present,
    }


def cmd_attach(args: argparse.Namespace, config: Config) -> int:
    if args.name is not None and type(args.name) is not str:  # argparse (3.11): --name=--
        raise InvalidInputError("--name needs a name; a file named '--' keeps its own name")
    files = [Path(f) for f in args.files]
    if args.name is not None and len(files) != 1:
        raise InvalidInputError("--name names one file; attach the others separately")
    with open_vault(args, config) as vault:
        note = _note(vault, args.note)
        added = []
        for path in files:
            try:
                size = path.stat().st_size
            except OSError:
                size = 0
            with _progress(f"Attaching {visible(path.name)[:40]}", size) as bar:
                att = vault.attach(note.id, path, name=args.name, progress=bar)
            added.append(att)
            if not args.json:
                out(f"Attached {visible(att.name)} ({human_size(att.size)}) to {short(note)}.")
        if args.json:
            emit_json([_json(a) for a in added])
    return 0


def short(note: Any) -> str:
    return f"'{visible(note.title)}'"


def cmd_attachments(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        note = _note(vault, args.note)
        found = vault.attachments(note.id)
        if args.json:
            emit_json([_json(a) for a in found])
            return 0
        if not found:
            info("No attachments. `vault attach NOTE FILE` adds one.")
            return 0
        rows = [
            [
                a.name,
                human_size(a.size),
                a.media_type,
                "" if a.present else "not yet here",
            ]
            for a in found
        ]
        print_table(
            [Column("NAME", share=3), Column("SIZE"), Column("TYPE", share=1), Column("")], rows
        )
        waiting = sum(1 for a in found if not a.present)
        if waiting:
            info(
                f"{plural(waiting, 'attachment')} not here yet: `vault sync` fetches it from "
                "the device that added it."
            )
    return 0


def _find(vault: Vault, note_id: str, name: str) -> Attachment:
    if type(name) is not str:  # argparse (3.11) gives [] for a second "--": no name given
        raise InvalidInputError("say which attachment: `vault attachments NOTE` lists them")
    for att in vault.attachments(note_id):
        if att.name == name:
            return att
    # the domain names the error (and normalises the name) the same way
    from vault.notes.attachments import Attachment, find_entry

    entry = find_entry(vault, note_id, name)
    return Attachment(entry.name, entry.size, entry.media_type, entry.blob, False)


def cmd_attachment_get(args: argparse.Namespace, config: Config) -> int:
    # Bytes not on this device yet are fetched from the sync folder (it registers how).
    importlib.import_module("vault.sync.blob_sync")

    with open_vault(args, config) as vault:
        note = _note(vault, args.note)
        att = _find(vault, note.id, args.name)
        # Only -o says "-" (stdout) or a folder: the name is another device's text and, as the
        # default target, names a file in the current folder and nothing else.
        if args.output == "-":
            if sys.stdout is None:  # started with it closed (`>&-`)
                raise InvalidInputError("standard output is closed; use -o PATH")
            if sys.stdout.isatty():
                raise InvalidInputError(
                    "refusing to write a file's bytes to the terminal; pipe it, or use -o PATH"
                )
            sys.stdout.flush()
            stream = sys.stdout.buffer
            with _progress("Reading", att.size) as bar:
                vault.save_attachment(note.id, att.name, stream, bar)
            stream.flush()
            return 0
        path = Path(args.output if args.output is not None else att.name)
        if args.output is not None and path.is_dir():
            path = path / att.name
        if path.exists() and not args.force:
            raise InvalidInputError(f"{visible(str(path))} exists; choose another -o or --force")
        _save_to(vault, note.id, att, path)
        info(f"Saved {visible(att.name)} to {visible(str(path))} ({human_size(att.size)}).")
    return 0


def _save_to(vault: Vault, note_id: str, att: Attachment, path: Path) -> None:
    """Write to a hidden file next to `path` (0600), renamed over it once every byte verified;
    on any failure the partial file is removed."""
    with replacing(path, suffix=".part") as stream, _progress("Reading", att.size) as bar:
        vault.save_attachment(note_id, att.name, stream, bar, private=True)


def cmd_attachment_rm(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        note = _note(vault, args.note)
        att = _find(vault, note.id, args.name)
        vault.remove_attachment(note.id, att.name)
        out(f"Removed {visible(att.name)} from {short(note)}.")
    return 0


def cmd_attachment(args: argparse.Namespace, config: Config) -> int:
    action = getattr(args, "attachment_action", None)
    if action == "get":
        return cmd_attachment_get(args, config)
    if action == "rm":
        return cmd_attachment_rm(args, config)
    raise InvalidInputError("say what to do: `vault attachment get` or `vault attachment rm`")


def register(sub: Any, command: Callable[..., Any]) -> None:
    p = command("attach", cmd_attach, "keep files with a note (sealed)", json_flag=True)
    p.add_argument("note", help=NOTE_HELP)
    p.add_argument("files", nargs="+", metavar="FILE", help="the files to attach")
    p.add_argument("--name", help="keep the file under this name (one file only)")
    p = command("attachments", cmd_attachments, "list a note's attachments", json_flag=True)
    p.add_argument("note", help=NOTE_HELP)
    p = command("attachment", cmd_attachment, "save or remove one attachment of a note")
    actions = p.add_subparsers(dest="attachment_action", metavar="ACTION")
    g = actions.add_parser(
        "get", help="save an attachment's file", description="save an attachment's file"
    )
    g.epilog = (
        "Exit status: 0 saved; 5 its bytes are not on this device yet (`vault sync` fetches "
        "them from the device that added it); 1 on error."
    )
    g.add_argument("note", help=NOTE_HELP)
    g.add_argument("name", help="the attachment's name, as `vault attachments` lists it")
    g.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="where to save it (a folder keeps its name; '-' writes to stdout); default: "
        "its name in the current folder",
    )
    g.add_argument("--force", action="store_true", help="replace an existing file")
    r = actions.add_parser(
        "rm",
        help="remove an attachment from a note",
        description="remove an attachment from a note",
    )
    r.add_argument("note", help=NOTE_HELP)
    r.add_argument("name", help="the attachment's name, as `vault attachments` lists it")
