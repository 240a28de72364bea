"""Templates and daily notes.

A template is any note in the templates notebook (`notes.templates_notebook`, "Templates" by
default, and its sub-notebooks). A note made from one gets the template's body with these
placeholders filled in (anything else between `{{` and `}}` is left as written):

    {{title}}     the new note's title
    {{date}}      today, YYYY-MM-DD
    {{time}}      now, HH:MM (24-hour)
    {{datetime}}  YYYY-MM-DD HH:MM

Times are local. The daily note is titled with today's date (`notes.daily_title_format`, a
strftime format, ISO `%Y-%m-%d` by default) in the journal notebook (`notes.journal_notebook`),
and starts from the template named by `notes.daily_template` ("Daily") if there is one, else
empty. Nothing here is stored apart from the notes themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from vault.errors import AmbiguousError, InvalidInputError, NotFoundError
from vault.notes.links import fold

if TYPE_CHECKING:
    from vault.config import Config
    from vault.notes.model import Note
    from vault.notes.vault import Vault

_PLACEHOLDER = re.compile(r"\{\{\s*(title|date|time|datetime)\s*\}\}")


@dataclass(frozen=True)
class NoteSettings:
    templates_notebook: str = "Templates"
    journal_notebook: str = "Journal"
    daily_title_format: str = "%Y-%m-%d"
    daily_template: str = "Daily"

    @staticmethod
    def from_config(config: Config) -> NoteSettings:
        return NoteSettings(
            templates_notebook=config.get("notes.templates_notebook"),
            journal_notebook=config.get("notes.journal_notebook"),
            daily_title_format=config.get("notes.daily_title_format"),
            daily_template=config.get("notes.daily_template"),
        )


def fill(text: str, title: str, now: datetime) -> str:
    """`text` with the placeholders replaced."""
    values = {
        "title": title,
        "date": now.strftime("%Y-%m-%d"),
        "time": now.strftime("%H:%M"),
        "datetime": now.strftime("%Y-%m-%d %H:%M"),
    }
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def _under(vault: Vault, notebook_id: str | None, path: str) -> bool:
    if notebook_id is None or not path.strip("/"):
        return False
    where = fold(vault.notebook_path(notebook_id))
    top = fold(path.strip("/"))
    return where == top or where.startswith(top + "/")


def templates(vault: Vault, settings: NoteSettings) -> list[Note]:
    """Every template, by title (each with its body: only these are read whole)."""
    found = [
        vault.whole(n)
        for n in vault.all_notes(bodies=False)
        if not n.in_trash and _under(vault, n.notebook, settings.templates_notebook)
    ]
    return sorted(found, key=lambda n: (fold(n.title), n.id))


def find_template(vault: Vault, settings: NoteSettings, name: str) -> Note:
    """The template titled `name` (ignoring case)."""
    matches = [t for t in templates(vault, settings) if fold(t.title) == fold(name)]
    if not matches:
        raise NotFoundError(
            f"no template named '{name}': templates are the notes in the notebook "
            f"'{settings.templates_notebook}' (setting notes.templates_notebook)"
        )
    if len(matches) > 1:
        raise AmbiguousError(f"{len(matches)} templates are named '{name}'; rename one")
    return matches[0]


def new_from_template(
    vault: Vault,
    template: Note,
    title: str,
    *,
    notebook: str | None = None,
    now: datetime | None = None,
) -> Note:
    """A new note titled `title` holding the template's body, placeholders filled."""
    body = fill(template.body, title, now or datetime.now())
    return vault.create_note(title, body, notebook=notebook)


def daily_title(settings: NoteSettings, now: datetime) -> str:
    try:
        title = now.strftime(settings.daily_title_format).strip()
    except ValueError:
        title = ""
    if not title:
        raise InvalidInputError(
            "notes.daily_title_format gives an empty title; set a strftime format such as %Y-%m-%d"
        )
    return title


@dataclass(frozen=True)
class Daily:
    note: Note
    created: bool


def today(vault: Vault, settings: NoteSettings, *, now: datetime | None = None) -> Daily:
    """Today's note in the journal notebook, created (from the daily template, if there is one)
    when it does not exist yet."""
    now = now or datetime.now()
    title = daily_title(settings, now)
    journal = settings.journal_notebook.strip("/")
    notebook_id = vault.ensure_notebook(journal)[0].id if journal else None
    folded = fold(title)
    found = [
        note
        for note in vault.all_notes(bodies=False)
        if not note.in_trash and note.notebook == notebook_id and fold(note.title) == folded
    ]
    if found:
        # Two devices that each made today's note before a sync hold two: always the first
        # made (then the smaller id), whatever order this process read the notes in.
        return Daily(vault.whole(min(found, key=_first_made)), False)
    body = ""
    name = settings.daily_template.strip()
    if name:
        matches = [t for t in templates(vault, settings) if fold(t.title) == fold(name)]
        if matches:
            body = fill(matches[0].body, title, now)  # (`templates` orders them by id)
    return Daily(vault.create_note(title, body, notebook=notebook_id), True)


def _first_made(note: Note) -> tuple[int, str]:
    return note.created, note.id


def append_line(vault: Vault, note: Note, text: str) -> Note:
    """`text` added as the last line of the note."""
    note = vault.whole(note)  # one held without its body (the app, early): never "" + text
    body = note.body
    if body and not body.endswith("\n"):
        body += "\n"
    return vault.update_note(note, body=body + text.rstrip("\n") + "\n")
