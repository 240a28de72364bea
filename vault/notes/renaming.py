"""Renaming a note, and pointing the wikilinks to it at the new title.

Links name notes by title (`vault.notes.links`), so a rename would leave them missing. `rename_note`
rewrites each `[[Old title...]]` in the other notes (and the note itself) to the new title,
keeping its `#Heading` and `|shown text`, all in one transaction with the rename.

Links are left alone, and the result says why, when they cannot be meant for this note alone
(another note has the same old title) or the new title cannot be linked to (it holds `[[`,
`]]`, `|`, `#`). A linking note in an unsettled conflict is skipped: an edit would continue only
one of its versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vault.notes.links import link_index, linkable, rewrite_links
from vault.sealing.envelope import short

if TYPE_CHECKING:
    from vault.notes.model import Note
    from vault.notes.vault import Vault


@dataclass(frozen=True)
class RenameResult:
    note: Note
    notes_updated: int = 0  # other notes whose links were rewritten
    links_updated: int = 0
    skipped_conflicts: int = 0  # linking notes left alone because they are in conflict
    links_kept_because: str | None = None  # why links were not touched at all, if they were not


def rename_note(vault: Vault, note: Note, title: str, *, update_links: bool = True) -> RenameResult:
    """Give `note` a new title; with `update_links`, links to the old title follow it."""
    old_title = note.title
    if not update_links or old_title == title:
        return RenameResult(vault.update_note(note, title=title))
    reason = _why_not(vault, note, title)
    if reason is not None:
        return RenameResult(vault.update_note(note, title=title), links_kept_because=reason)
    index = link_index(vault)  # (made by `_why_not`)
    sources = {b.source.id for b in index.backlinks(note)} | {note.id}  # and its own links
    notes_updated = links_updated = skipped = 0
    with vault.batch():
        renamed = vault.update_note(note, title=title)
        for source_id in sorted(sources):
            source = renamed if source_id == note.id else vault.note(source_id)
            if source.conflict:
                skipped += 1
                continue
            body, count = rewrite_links(source.body, old_title, renamed.title)
            if count:
                written = vault.update_note(source, body=body)
                if source_id == note.id:
                    renamed = written
                else:
                    notes_updated += 1
                links_updated += count
    return RenameResult(renamed, notes_updated, links_updated, skipped)


def _why_not(vault: Vault, note: Note, title: str) -> str | None:
    if not linkable(title):
        return "the new title holds [[, ]], | or #, which a link cannot name"
    if link_index(vault).shares_title(note):
        return "another note has the old title, so the links may mean it"
    return None


def rename_message(result: RenameResult) -> str:
    """What a rename did, in one sentence for people (the CLI prints it, the app shows it)."""
    text = f"Renamed {short(result.note.id)}"
    if result.links_kept_because:
        return f"{text}; links to the old title were left as they are: {result.links_kept_because}."
    if result.links_updated:
        text += (
            f"; updated {result.links_updated} link(s) in {result.notes_updated} other note(s)"
            if result.notes_updated
            else f"; updated {result.links_updated} link(s) in the note itself"
        )
    if result.skipped_conflicts:
        text += f"; {result.skipped_conflicts} linking note(s) in conflict were left as they are"
    return text + "."
