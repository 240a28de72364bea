"""Naming a note the way people name it: by id, by the short id `vault ls` prints, by its title
or by part of it.

One resolver for every command that takes a NOTE (and for conflicts, which are named the same
way). The levels are tried in order and the first that matches anything decides:

1. the exact id;
2. an id prefix of at least SHORT_ID characters (the short id `vault ls` prints);
3. the exact title (one written in the same case wins over others that differ only in case);
4. the start of the title ignoring case, or an id prefix of MIN_PREFIX to SHORT_ID - 1
   characters (a short prefix is too likely to match some id by chance to win over a title:
   with 10,000 notes, "2024" starts some id about one time in seven);
5. every word given starts a word of the title ("standup 06" finds "Standup 2024-06-03");
6. the title contains the text (at least MIN_SUBSTRING characters).

One match is the note; several at the best level are an `AmbiguousNameError` listing them, never
a guess. Among several matches, notes outside the trash are preferred when the caller did not
say which side of the trash it wants.

A short id is resolved from the store's index of ids, decrypting one note, so a vault opened
without its notes (`Vault(kinds=...)`) can name a note by id (`note_by_id`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from vault.errors import AmbiguousError, CorruptItemError, InvalidInputError, NotFoundError
from vault.sealing.envelope import short

if TYPE_CHECKING:
    from vault.notes.model import Note
    from vault.storage.store import Store


class Vault(Protocol):
    """What lookup reads of a `vault.notes.vault.Vault` (which imports this module: naming the
    class here would be an import circle)."""

    store: Store
    corrupt: dict[str, str]
    titled: list[Note] | None

    def all_notes(self) -> list[Note]: ...

    def notes_titled(self, title: str) -> tuple[list[Note], bool]: ...

    def read_note(self, note_id: str) -> Note | None: ...


SHORT_ID = 8  # what `vault ls` prints (vault.sealing.envelope.short)
MIN_PREFIX = 4
MIN_SUBSTRING = 3
MAX_LISTED = 10  # candidates an ambiguity lists

_HEX = re.compile(r"[0-9a-fA-F]+")
T = TypeVar("T")


@dataclass(frozen=True)
class Candidate:
    """One of several things a name matched, for the person to choose from."""

    id: str
    title: str
    modified: int | None = None  # ms; None when the thing has no time (a conflict)
    in_trash: bool = False


class AmbiguousNameError(AmbiguousError):
    """A name matches several notes (or conflicts) equally well. The message holds only the
    name given and short ids; the titles to choose from are in `candidates`, for a face to show
    (they are decrypted text and stay out of messages and logs)."""

    def __init__(self, ref: str, what: str, candidates: Sequence[Candidate]) -> None:
        self.ref = ref
        self.what = what
        self.candidates = tuple(candidates)
        ids = ", ".join(short(c.id) for c in self.candidates[:6])
        more = ", …" if len(self.candidates) > 6 else ""
        super().__init__(
            f"'{ref}' matches {len(self.candidates)} {what}s ({ids}{more}); name one by its id"
        )


def looks_like_id(ref: str) -> bool:
    """Whether `ref` can name a note by id alone (a full id or the short id `vault ls` prints)."""
    ref = ref.strip()
    return SHORT_ID <= len(ref) <= 32 and _HEX.fullmatch(ref) is not None


def _word_starts(words: list[str]) -> Callable[[str], bool]:
    patterns = [re.compile(r"(?<!\w)" + re.escape(w)) for w in words]
    return lambda title: all(p.search(title) for p in patterns)


def _levels(ref: str) -> list[Callable[[str, str, str], bool]]:
    """Predicates on (id, title, title.casefold()), best first."""
    folded = ref.casefold()
    hex_ref = ref.lower() if _HEX.fullmatch(ref) else None
    long_prefix = hex_ref if hex_ref and len(ref) >= SHORT_ID else None
    short_prefix = hex_ref if hex_ref and MIN_PREFIX <= len(ref) < SHORT_ID else None
    words = _word_starts(folded.split())
    return [
        lambda i, t, f: i == ref or (hex_ref is not None and i == hex_ref),
        lambda i, t, f: long_prefix is not None and i.startswith(long_prefix),
        lambda i, t, f: t == ref,
        lambda i, t, f: f == folded,
        lambda i, t, f: (
            f.startswith(folded) or (short_prefix is not None and i.startswith(short_prefix))
        ),
        lambda i, t, f: words(f),
        lambda i, t, f: len(folded) >= MIN_SUBSTRING and folded in f,
    ]


def pick(
    ref: str,
    things: Sequence[T],
    *,
    key: Callable[[T], tuple[str, str]],
    describe: Callable[[T], Candidate],
    what: str = "note",
    prefer: Callable[[T], bool] | None = None,
) -> T | None:
    """The one thing `ref` names among `things` (`key` gives its id and title), None if none
    matches; raises AmbiguousNameError (each match `describe`d) if several match equally well.
    `prefer` breaks a tie (the notes outside the trash) when it leaves some."""
    ref = ref.strip()
    if not ref:
        raise InvalidInputError(f"name a {what} by its id or title")
    named = [(thing, i, t, t.casefold()) for thing in things for i, t in (key(thing),)]
    for level in _levels(ref):
        found = [thing for thing, i, t, f in named if level(i, t, f)]
        if len(found) > 1 and prefer is not None:
            found = [thing for thing in found if prefer(thing)] or found
        if len(found) == 1:
            return found[0]
        if found:
            candidates = sorted(map(describe, found), key=lambda c: -(c.modified or 0))
            raise AmbiguousNameError(ref, what, candidates)
    return None


def note_candidate(note: Note) -> Candidate:
    return Candidate(note.id, note.title, note.modified, note.in_trash)


# Live notes whose id starts with a prefix. GLOB (not LIKE) is case-sensitive, so SQLite answers
# it from the primary-key index; the unary + keeps the planner off the (kind, deleted) index,
# with which it would scan every note (5,000 notes: 34 ms instead of 0.01).
ID_PREFIX_SQL = (
    "SELECT item_id FROM items WHERE item_id GLOB ? AND +kind = 'note' AND +deleted = 0 LIMIT 2"
)


def note_by_id(vault: Vault, ref: str, *, trashed: bool | None = None) -> Note | None:
    """The note `ref` names by its id or short id, found in the store's index of ids and
    decrypted alone; None if `ref` is no id or no note of that side of the trash has it.
    Works on a vault opened without its notes."""
    ref = ref.strip().lower()
    if not looks_like_id(ref):
        return None
    rows = vault.store.query(ID_PREFIX_SQL, (ref + "*",))
    if len(rows) != 1:
        return None  # none, or a short id two notes share: the full resolver lists them
    note = vault.read_note(rows[0][0])
    if note is None or (trashed is not None and note.in_trash != trashed):
        return None
    return note


def note_titled(vault: Vault, ref: str) -> Note | None:
    """The note `ref` names, read whole from the store, from the notes a vault opened with
    `titled=ref` found titled exactly so (`Vault.unlock`); None when it found none and holds
    every note instead (`find_note` then). Level 3 decides as it does among every note: no
    name but an id (levels 1 and 2, which `looks_like_id` sends elsewhere) can match before
    it, and the notes it matches are these. Several are an `AmbiguousNameError`, as always."""
    titled = vault.titled
    if titled is None or looks_like_id(ref):
        return None
    found = pick(
        ref,
        titled,
        key=lambda n: (n.id, n.title),
        describe=note_candidate,
        prefer=lambda n: not n.in_trash,
    )
    note = vault.read_note(found.id) if found is not None else None
    if note is None:
        raise NotFoundError(f"no note matches '{ref.strip()}'; `vault ls` lists them")
    return note


def find_note(vault: Vault, ref: str, *, trashed: bool | None = None) -> Note:
    """The note `ref` names (see the module's levels). `trashed` limits it to notes in (True)
    or out of (False) the trash; None prefers notes outside it when several match."""
    ref = ref.strip()
    if not ref:
        raise InvalidInputError("name a note by its id or title")
    if not _HEX.fullmatch(ref) and ref.lower() not in vault.corrupt:
        exact, is_id = vault.notes_titled(ref)  # from a map of titles, without a pass
        if trashed is not None:
            exact = [n for n in exact if n.in_trash == trashed]
        found = None if is_id else _exact_title(ref, exact, prefer_live=trashed is None)
        if found is not None:
            return found
    notes = vault.all_notes()
    if ref.lower() in vault.corrupt and not any(n.id == ref.lower() for n in notes):
        raise CorruptItemError(vault.corrupt[ref.lower()], item_id=ref.lower())
    if trashed is not None:
        notes = [n for n in notes if n.in_trash == trashed]
    found = pick(
        ref,
        notes,
        key=lambda n: (n.id, n.title),
        describe=note_candidate,
        prefer=(lambda n: not n.in_trash) if trashed is None else None,
    )
    if found is not None:
        return found
    _raise_if_corrupt(vault, ref)
    where = " in the trash" if trashed else ""
    raise NotFoundError(f"no note{where} matches '{ref}'; `vault ls` lists them")


def _exact_title(ref: str, notes: Sequence[Note], *, prefer_live: bool) -> Note | None:
    """What `pick` decides when `ref` is exactly one note's title and no id (what people type
    most), found without folding every title: the same note, a few times faster at 10,000."""
    if _HEX.fullmatch(ref) or any(n.id == ref for n in notes):
        return None  # the id levels come first: `pick` decides
    exact = [n for n in notes if n.title == ref]
    if len(exact) > 1 and prefer_live:
        exact = [n for n in exact if not n.in_trash] or exact
    return exact[0] if len(exact) == 1 else None


def _raise_if_corrupt(vault: Vault, ref: str) -> None:
    """A note that does not open is named by its id: say that it is damaged, not missing."""
    prefix = ref.lower()
    if len(prefix) >= MIN_PREFIX and _HEX.fullmatch(prefix):
        corrupt = [i for i in vault.corrupt if i.startswith(prefix)]
        if len(corrupt) == 1:
            raise CorruptItemError(vault.corrupt[corrupt[0]], item_id=corrupt[0])
