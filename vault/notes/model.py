"""Domain values: notes, notebooks and tags, and how each maps to its sealed payload.

Everything here lives only inside ciphertext on disk. Fields a newer version of vault adds are
kept in `extra` and written back unchanged, so an older copy never strips them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from vault.notes.mdtext import excerpt, is_rule_or_fence, plain_line


def now_ms() -> int:
    return int(time.time() * 1000)


# What `datetime` raises for a time no calendar here can show: before year 1 or after 9999
# (a note another program, a future version or a broken clock wrote).
CALENDAR_ERRORS = (ValueError, OverflowError, OSError)


def datetime_of(ms: int, tz: tzinfo | None = None) -> datetime | None:
    """`ms` (milliseconds since the epoch) as a datetime in `tz` (None: local, naive); None
    for a time no calendar shows, which every face shows as no time rather than stopping."""
    try:
        return datetime.fromtimestamp(ms / 1000, tz)
    except CALENDAR_ERRORS:
        return None


def _str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# The `extra` of every note without fields of a newer version (nearly all): one dict, shared,
# as replaced copies already share theirs. Never changed in place (no note's `extra` is).
_NO_EXTRA: dict[str, Any] = {}


def _extra(payload: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    if payload.keys() <= known:  # the usual case, checked in C
        return _NO_EXTRA
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


# (slots: 100,000 notes held 46 MB of instance dicts; the slots take an eighth of that.)
@dataclass(frozen=True, slots=True)
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
        # Tag names and notebook ids recur across the notes: one string each, not one per
        # note (`_SHARED`; once full, only the names it has are shared).
        share = _share if len(_SHARED) < _SHARED_MAX else _SHARED.get
        tags = get("tags")
        if type(tags) is list:
            if not all(type(t) is str for t in tags):
                tags = [t for t in tags if type(t) is str]
            tags = tuple(map(share, tags, tags))
        else:
            tags = ()
        title, body, notebook = get("title"), get("body"), get("notebook")
        created, modified, trashed = get("created"), get("modified"), get("trashed")
        # Every field is checked here (`type(x) is int` refuses a bool as _int does), inline: a
        # listing builds ten thousand. The frozen dataclass's __init__ (one
        # object.__setattr__ per field, a third of unlocking 10,000 notes) is skipped: each
        # slot is set through its own descriptor (as fast as the instance dict once was).
        note = object.__new__(Note)
        _set_id(note, item_id)
        _set_title(note, title if type(title) is str else "")
        _set_body(note, body if type(body) is str else "")
        _set_notebook(
            note, share(notebook, notebook) if type(notebook) is str and notebook else None
        )
        _set_tags(note, tags)
        _set_pinned(note, get("pinned") is True)
        _set_created(note, created if type(created) is int else 0)
        _set_modified(note, modified if type(modified) is int else 0)
        _set_trashed(note, trashed if type(trashed) is int else None)
        _set_extra(note, _extra(payload, _NOTE_FIELDS))
        _set_version(note, version)
        _set_conflict(note, conflict)
        return note


(
    _set_id,
    _set_title,
    _set_body,
    _set_notebook,
    _set_tags,
    _set_pinned,
    _set_created,
    _set_modified,
    _set_trashed,
    _set_extra,
    _set_version,
    _set_conflict,
) = (Note.__dict__[name].__set__ for name in Note.__slots__)
# Tag names and notebook ids as the notes hold them, one string per value: at 100,000 notes
# 20 MB less. Not sys.intern: on Python 3.12 an interned string is never freed, and these
# are decrypted names; this table is emptied when a vault locks (`forget_shared`). Bounded:
# past that many names, notes keep their own strings.
_SHARED: dict[str, str] = {}
_SHARED_MAX = 65536
_share = _SHARED.setdefault


def forget_shared() -> None:
    """Let go of the decrypted names `from_payload` shares (a vault locks)."""
    _SHARED.clear()


def with_body(note: Note, body: str) -> Note:
    """`note` with `body` (a copy: notes are frozen and shared), built as `from_payload` does."""
    whole = object.__new__(Note)
    _set_id(whole, note.id)
    _set_title(whole, note.title)
    _set_body(whole, body)
    _set_notebook(whole, note.notebook)
    _set_tags(whole, note.tags)
    _set_pinned(whole, note.pinned)
    _set_created(whole, note.created)
    _set_modified(whole, note.modified)
    _set_trashed(whole, note.trashed)
    _set_extra(whole, note.extra)
    _set_version(whole, note.version)
    _set_conflict(whole, note.conflict)
    return whole


def set_unloaded(note: Note) -> None:
    """Mark a note just made by `from_payload`, not yet shared with anyone, as held without
    its body (`UNLOADED`): a listing's note (vault.notes.cache)."""
    _set_body(note, UNLOADED)


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
    note: Note | None  # None: a deletion, content purged, or (`damaged`) a version that fails
    device: str
    seq: int
    damaged: bool = False  # it does not open (tampered or corrupt)


Item = Note | Notebook | Tag
KIND_TYPES: dict[str, type[Note] | type[Notebook] | type[Tag]] = {
    "note": Note,
    "notebook": Notebook,
    "tag": Tag,
}


_SNIPPET_HEAD = 512  # characters of a body a snippet is looked for in first


def snippet(body: str, width: int = 80) -> str:
    """A one-line preview: the first line with words, as read (no Markdown marks), cut at a
    word with an ellipsis."""
    # The first lines only (a listing makes one per note): the whole lines of the body's
    # head, then, if none of them has words, every line. The lines before the head's last
    # are the body's own first lines (a line break the cut splits, "\r" | "\n", only ends
    # the last of them), so the first line with words among them is the body's.
    if len(body) > _SNIPPET_HEAD:
        found = _first_words(body[:_SNIPPET_HEAD].splitlines()[:-1], width)
        if found is not None:
            return found
    return _first_words(body.splitlines(), width) or ""


def _first_words(lines: list[str], width: int) -> str | None:
    for line in lines:
        if is_rule_or_fence(line):
            continue
        text = plain_line(line)
        if text:
            return excerpt(text, 0, width)
    return None
