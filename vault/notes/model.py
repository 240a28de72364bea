"""Domain values: notes, notebooks and tags, and how each maps to its sealed payload.

Everything here lives only inside ciphertext on disk. Fields a newer version of vault adds are
kept in `extra` and written back unchanged, so an older copy never strips them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from vault.notes.mdtext import excerpt, is_rule_or_fence, plain_line


def now_ms() -> int:
    return int(time.time() * 1000)


def _str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _extra(payload: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    if payload.keys() <= known:  # the usual case, checked in C
        return {}
    return {k: v for k, v in payload.items() if k not in known}


class _Unloaded(str):
    """The type of `UNLOADED` (an empty string to whoever only reads it)."""

    __slots__ = ()


# The body of a note read without it (a listing, or the app while the bodies are still being
# read: vault.notes.cache). It reads as "", but it is not a body: writing a version of such
# a note takes the body of the version it came from (`ItemCache._write`), never this.
UNLOADED: str = _Unloaded()


def has_body(note: Note) -> bool:
    """Whether `note` holds its body (not `UNLOADED`)."""
    return note.body is not UNLOADED


_NOTE_FIELDS = frozenset(
    {"kind", "title", "body", "notebook", "tags", "pinned", "created", "modified", "trashed"}
)


@dataclass(frozen=True)
class Note:
    id: str
    title: str
    body: str = ""
    notebook: str | None = None  # notebook id; None is the top level
    tags: tuple[str, ...] = ()
    pinned: bool = False
    created: int = 0  # milliseconds since the epoch, UTC
    modified: int = 0
    trashed: int | None = None  # when it went to the trash, or None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    # Store state, not part of the payload: the version this was read at, and whether other
    # versions compete with it (a conflict).
    version: str = field(default="", compare=False)
    conflict: bool = field(default=False, compare=False)

    @property
    def in_trash(self) -> bool:
        return self.trashed is not None

    def content_equal(self, other: Note) -> bool:
        return self.to_payload() == other.to_payload()

    def to_payload(self) -> dict[str, Any]:
        return {
            **self.extra,
            "kind": "note",
            "title": self.title,
            "body": self.body,
            "notebook": self.notebook,
            "tags": list(self.tags),
            "pinned": self.pinned,
            "created": self.created,
            "modified": self.modified,
            "trashed": self.trashed,
        }

    @staticmethod
    def from_payload(
        item_id: str, payload: dict[str, Any], version: str = "", conflict: bool = False
    ) -> Note:
        get = payload.get
        tags = get("tags")
        if type(tags) is list:
            tags = tuple(tags)
            if not all(type(t) is str for t in tags):
                tags = tuple(t for t in tags if type(t) is str)
        else:
            tags = ()
        title, body, notebook = get("title"), get("body"), get("notebook")
        created, modified, trashed = get("created"), get("modified"), get("trashed")
        # Every field is checked here (`type(x) is int` refuses a bool as _int does), inline: a
        # listing builds ten thousand. The frozen dataclass's __init__ (one
        # object.__setattr__ per field, a third of unlocking 10,000 notes) is skipped.
        note = object.__new__(Note)
        note.__dict__.update(
            id=item_id,
            title=title if type(title) is str else "",
            body=body if type(body) is str else "",
            notebook=notebook if type(notebook) is str and notebook else None,
            tags=tags,
            pinned=get("pinned") is True,
            created=created if type(created) is int else 0,
            modified=modified if type(modified) is int else 0,
            trashed=trashed if type(trashed) is int else None,
            extra=_extra(payload, _NOTE_FIELDS),
            version=version,
            conflict=conflict,
        )
        return note


_NOTEBOOK_FIELDS = frozenset({"kind", "name", "parent", "created", "modified"})


@dataclass(frozen=True)
class Notebook:
    id: str
    name: str
    parent: str | None = None  # parent notebook id; None is the top level
    created: int = 0
    modified: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    version: str = field(default="", compare=False)
    conflict: bool = field(default=False, compare=False)

    def to_payload(self) -> dict[str, Any]:
        return {
            **self.extra,
            "kind": "notebook",
            "name": self.name,
            "parent": self.parent,
            "created": self.created,
            "modified": self.modified,
        }

    @staticmethod
    def from_payload(
        item_id: str, payload: dict[str, Any], version: str = "", conflict: bool = False
    ) -> Notebook:
        return Notebook(
            id=item_id,
            name=_str(payload.get("name"), "Untitled"),
            parent=_opt_str(payload.get("parent")),
            created=_int(payload.get("created")),
            modified=_int(payload.get("modified")),
            extra=_extra(payload, _NOTEBOOK_FIELDS),
            version=version,
            conflict=conflict,
        )


_TAG_FIELDS = frozenset({"kind", "name", "created"})


@dataclass(frozen=True)
class Tag:
    """A tag's registry entry. Notes carry tag names; the id is a keyed hash of the folded name,
    so two devices that invent the same tag offline agree on its id."""

    id: str
    name: str
    created: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    version: str = field(default="", compare=False)

    def to_payload(self) -> dict[str, Any]:
        return {**self.extra, "kind": "tag", "name": self.name, "created": self.created}

    @staticmethod
    def from_payload(
        item_id: str, payload: dict[str, Any], version: str = "", conflict: bool = False
    ) -> Tag:
        return Tag(
            id=item_id,
            name=_str(payload.get("name")),
            created=_int(payload.get("created")),
            extra=_extra(payload, _TAG_FIELDS),
            version=version,
        )


@dataclass(frozen=True)
class TagCount:
    name: str
    notes: int


@dataclass(frozen=True)
class NoteVersion:
    """One saved version of a note, for revision history."""

    version: str
    note: Note | None  # None: a deletion, or content purged
    device: str
    seq: int


Item = Note | Notebook | Tag
KIND_TYPES: dict[str, type[Note] | type[Notebook] | type[Tag]] = {
    "note": Note,
    "notebook": Notebook,
    "tag": Tag,
}


def snippet(body: str, width: int = 80) -> str:
    """A one-line preview: the first line with words, as read (no Markdown marks), cut at a
    word with an ellipsis."""
    for line in body.splitlines():
        if is_rule_or_fence(line):
            continue
        text = plain_line(line)
        if text:
            return excerpt(text, 0, width)
    return ""
