"""Wikilinks between notes: `[[Title]]`, `[[Title|shown text]]`, `[[Title#Heading]]`.

A link names its target by title, compared ignoring case and runs of spaces; one note with that
title is the target, none makes the link *missing*, several make it *ambiguous* (never a guess).
When no note has the title, a note that lists it among its `aliases` (front matter kept by a
Markdown import, as Obsidian writes it) is the target.
Notes in the trash are neither sources nor targets. Links inside fenced code blocks and inline
code are not links. `[[#Heading]]` points into the same note. In a table cell Obsidian writes
`[[Title\\|shown]]`; the backslash is accepted.

Everything here is computed from the decrypted notes the unlocked vault holds in memory: which
note links to which is never written anywhere (no index file, no cache on disk). `LinkIndex`
keeps the parse of each note and the reverse map in memory, rebuilt only when the vault's items
changed (`Vault.generation`), which includes edits that arrived through sync; a note whose body
did not change is not parsed again.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple
from urllib.parse import quote, unquote

from vault.notes.markdown_scan import code_spans, in_spans, prose_lines
from vault.notes.model import has_body

if TYPE_CHECKING:
    from vault.notes.model import Note
    from vault.notes.vault import Vault

# `[[`, then anything but brackets and newlines, then `]]`.
_LINK = re.compile(r"\[\[([^\[\]\n]+)\]\]")
# Characters that would end or split a link if a title held them.
UNLINKABLE = ("[[", "]]", "|", "#", "\n")


@dataclass(frozen=True)
class Link:
    """One `[[...]]` in a note. Columns index the line; `line` is 0-based."""

    target: str  # the title as written, spaces around it removed; "" for [[#Heading]]
    heading: str | None
    shown: str | None  # the text after `|`
    line: int
    start: int  # column of `[[`
    end: int  # column after `]]`
    target_start: int  # columns of the target title as written, for a rename to replace
    target_end: int
    line_text: str = ""  # the whole line holding the link
    key: str = ""  # the target folded (vault.notes.links.fold), "" for [[#Heading]]

    @property
    def label(self) -> str:
        """What a reader sees: the shown text, else the target (and heading)."""
        if self.shown:
            return self.shown
        return self.target + (f" > {self.heading}" if self.heading else "")


def fold(title: str) -> str:
    """The form titles are compared in: case and runs of white space do not matter."""
    return " ".join(title.split()).casefold()


def parse_links(body: str) -> list[Link]:
    """Every wikilink in `body`, in order, outside code."""
    if "[[" not in body:
        return []
    links: list[Link] = []
    for number, line in prose_lines(body):
        if "[[" not in line:
            continue
        spans = code_spans(line)
        for match in _LINK.finditer(line):
            if spans and in_spans(match.start(), spans):
                continue
            link = _link(match, number, line)
            if link is not None:
                links.append(link)
    return links


def _link(match: re.Match[str], number: int, line: str) -> Link | None:
    inner = match.group(1)
    base = match.start(1)
    pipe = inner.find("|")
    shown: str | None = None
    if pipe >= 0:
        shown = inner[pipe + 1 :].strip()
        inner = inner[:pipe]
        if inner.endswith("\\"):  # `[[Title\|shown]]` inside a table
            inner = inner[:-1]
    hash_ = inner.find("#")
    heading: str | None = None
    if hash_ >= 0:
        heading = inner[hash_ + 1 :].strip()
        inner = inner[:hash_]
    target = inner.strip()
    if not target and not heading:
        return None
    lead = len(inner) - len(inner.lstrip())
    start = base + lead
    return Link(
        target=target,
        heading=heading or None,
        shown=shown or None,
        line=number,
        start=match.start(),
        end=match.end(),
        target_start=start,
        target_end=start + len(target),
        line_text=line,
        key=fold(target),
    )


# --- resolving -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    status: Literal["found", "missing", "ambiguous", "self"]
    note_ids: tuple[str, ...] = ()

    @property
    def note_id(self) -> str | None:
        return self.note_ids[0] if self.status in ("found", "self") else None


@dataclass(frozen=True)
class OutgoingLink:
    link: Link
    resolution: Resolution


class Backlink(NamedTuple):
    """A link to a note from another (a tuple: a hub note has thousands of these)."""

    source: Note
    link: Link
    line_text: str  # the whole line holding the link, as written (show it through textsafe)
    ambiguous: bool  # other notes have the same title, so the link may mean one of them


@dataclass
class _Entry:
    note: Note
    title: str  # folded
    links: list[Link]
    targets: set[str]  # folded targets
    aliases: tuple[str, ...] = ()  # folded


class LinkIndex:
    """Links of every note in an unlocked vault, and the notes that link to each title.

    Every query first checks the vault's change counter; when it moved, the notes that changed
    (by identity: the vault replaces a note object whenever it changes) are taken out of the
    maps and put back, so an edit costs a pass over the note list, not a rebuild. Thread-safe."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._lock = threading.RLock()
        self._generation = -1
        self._entries: dict[str, _Entry] = {}
        self._titles: dict[str, dict[str, None]] = {}  # folded title -> ids of live notes
        self._aliases: dict[str, dict[str, None]] = {}  # folded alias -> ids (Obsidian's aliases)
        self._incoming: dict[str, dict[str, list[Link]]] = {}  # folded target -> source -> links
        self._answers: dict[str, list[Backlink]] = {}  # note id -> its backlinks, until a change
        # The notes' bodies as the vault reads them after the list (bodies="later"): each
        # note parsed in that same pass, so the first refresh reads no body again.
        vault.add_body_sink(self._take)

    def refresh(self) -> None:
        # Bodies still being read (the app, right after unlocking) come to `_take` first,
        # from the snapshot, rather than each from its envelope below (as `all_notes` once
        # waited for them).
        self._vault.finish_bodies()
        generation = self._vault.generation
        with self._lock:
            if generation == self._generation:
                return
            # The notes as the vault holds them (perhaps without their bodies): a note is
            # known by identity, and the bodies of those to parse are read a slice at a time.
            self._update(self._vault.all_notes(bodies=False))
            self._answers = {}
            self._generation = generation

    def _take(self, read: list[tuple[Note, str]]) -> None:
        """Notes with their bodies, as the vault reads them: those not parsed yet are."""
        with self._lock:
            entries = self._entries
            for note, body in read:
                if note.trashed is None and note.id not in entries:
                    self._add(_parsed(note, parse_links(body)))
            self._answers = {}

    def _update(self, notes: Iterable[Note]) -> None:
        entries = self._entries
        current = {n.id: n for n in notes if n.trashed is None}
        for gone in entries.keys() - current.keys():
            self._remove(entries[gone])
        changed = [
            n for i, n in current.items() if (e := entries.get(i)) is None or e.note is not n
        ]
        unparsed: list[Note] = []
        for note in changed:
            entry = entries.get(note.id)
            if entry is not None:
                self._remove(entry)
            if entry is not None and _same_body(entry.note, note):
                self._add(_parsed(note, entry.links))
            else:
                unparsed.append(note)
        for note, body in self._vault.bodies_of(unparsed):
            self._add(_parsed(note, parse_links(body)))

    def _add(self, entry: _Entry) -> None:
        note_id = entry.note.id
        self._entries[note_id] = entry
        self._titles.setdefault(entry.title, {})[note_id] = None
        for alias in entry.aliases:
            self._aliases.setdefault(alias, {})[note_id] = None
        for link in entry.links:
            if link.key:
                self._incoming.setdefault(link.key, {}).setdefault(note_id, []).append(link)

    def _remove(self, entry: _Entry) -> None:
        note_id = entry.note.id
        del self._entries[note_id]
        for names, name in [(self._titles, entry.title)] + [
            (self._aliases, a) for a in entry.aliases
        ]:
            same = names.get(name)
            if same is not None:
                same.pop(note_id, None)
                if not same:
                    del names[name]
        for key in entry.targets:
            sources = self._incoming.get(key)
            if sources is not None:
                sources.pop(note_id, None)
                if not sources:
                    del self._incoming[key]

    def shares_title(self, note: Note) -> bool:
        """Whether another note outside the trash has `note`'s title, as links compare titles
        (`fold`): from the map of titles, not a pass over every note."""
        self.refresh()
        with self._lock:
            return any(i != note.id for i in self._titles.get(fold(note.title), ()))

    def resolve(self, target: str, source_id: str | None = None) -> Resolution:
        """The note a link's target names. An empty target is the source note itself."""
        self.refresh()
        if not target:
            return Resolution("self", (source_id,)) if source_id else Resolution("missing")
        key = fold(target)
        # By id: the same candidates in the same order however the index was made (a note
        # changed since is put back last in its title's map).
        ids = tuple(sorted(self._titles.get(key) or self._aliases.get(key) or ()))
        if not ids:
            return Resolution("missing")
        return Resolution("found" if len(ids) == 1 else "ambiguous", ids)

    def outgoing(self, note: Note) -> list[OutgoingLink]:
        """The links in `note` as it is given (perhaps being edited), each resolved."""
        self.refresh()
        entry = self._entries.get(note.id)
        if entry is not None and _same_body(entry.note, note):
            links = entry.links
        else:
            links = parse_links(self._vault.whole(note).body)
        return [OutgoingLink(link, self.resolve(link.target, note.id)) for link in links]

    def backlinks(self, note: Note) -> list[Backlink]:
        """The other notes that link to `note`, each link with its line, by source title."""
        self.refresh()
        folded = fold(note.title)
        with self._lock:
            known = self._entries.get(note.id)
            cacheable = known is not None and known.title == folded
            if cacheable and note.id in self._answers:
                return list(self._answers[note.id])
            ambiguous = len(self._titles.get(folded, ())) > 1
            sources = dict(self._incoming.get(folded, {}))
            # A link to one of its aliases is a link here, unless a note has that as its title.
            aliases = known.aliases if known is not None else ()
            for alias in aliases:
                if alias != folded and alias not in self._titles:
                    for source_id, links in self._incoming.get(alias, {}).items():
                        sources[source_id] = sorted(
                            [*sources.get(source_id, []), *links], key=lambda k: (k.line, k.start)
                        )
                    ambiguous = ambiguous or len(self._aliases.get(alias, ())) > 1
            sources.pop(note.id, None)
            entries = {i: self._entries[i] for i in sources}
            order = sorted(sources, key=lambda i: (entries[i].title, i))
            found = [
                Backlink(entries[i].note, k, k.line_text, ambiguous)
                for i in order
                for k in sources[i]
            ]
            if cacheable:
                self._answers[note.id] = found
            return list(found)

    def titles(self) -> list[str]:
        """Every live note's title, for completing `[[`."""
        self.refresh()
        with self._lock:
            return [e.note.title for e in self._entries.values()]

    def note(self, note_id: str) -> Note | None:
        self.refresh()
        entry = self._entries.get(note_id)
        return entry.note if entry is not None else None


def _parsed(note: Note, links: list[Link]) -> _Entry:
    targets = {k.key for k in links if k.key}
    return _Entry(note, fold(note.title), links, targets, aliases_of(note))


def _same_body(known: Note, note: Note) -> bool:
    """Whether `note` holds the body `known` was parsed from: equal bodies, or, for a note
    held without its body, the same version (whose content never changes). A note given
    with its body (perhaps as it is being edited) is compared by its body."""
    if has_body(note):
        return has_body(known) and known.body == note.body
    return bool(note.version) and known.version == note.version


def aliases_of(note: Note) -> tuple[str, ...]:
    """The folded other names a note answers to: `aliases` (or `alias`) in the front matter an
    import kept (Obsidian's aliases), a list or one string; and, for a note imported from a
    Markdown file, that file's name and its path in the folder, without ".md" (Obsidian links
    by them: [[Plan]], [[Projects/Alpha/Plan]] name the note whose title is "The Alpha Plan")."""
    if not note.extra:
        return ()
    names: list[object] = []
    front = note.extra.get("front_matter")
    if isinstance(front, dict):
        value = front.get("aliases", front.get("alias"))
        names += [value] if isinstance(value, str) else value if isinstance(value, list) else []
    source = note.extra.get("imported_from")
    if isinstance(source, str) and "." in source.rsplit("/", 1)[-1]:
        path = source.rsplit(".", 1)[0]  # (Plan.md, Plan.markdown)
        names += [path, path.rsplit("/", 1)[-1]]
    return tuple(dict.fromkeys(fold(n) for n in names if isinstance(n, str) and fold(n)))


def link_index(vault: Vault) -> LinkIndex:
    """The one LinkIndex of an unlocked vault; the vault drops it when it locks."""
    index: LinkIndex = vault.view("links", lambda: LinkIndex(vault))
    return index


# --- renaming --------------------------------------------------------------------------------


def rewrite_links(body: str, old_title: str, new_title: str) -> tuple[str, int]:
    """`body` with every link to `old_title` pointing to `new_title` instead, keeping each
    link's `#Heading` and `|shown text`; returns the new body and how many links changed."""
    folded = fold(old_title)
    targets = [link for link in parse_links(body) if link.target and fold(link.target) == folded]
    if not targets:
        return body, 0
    lines = body.split("\n")
    for link in sorted(targets, key=lambda k: (k.line, -k.target_start)):
        line = lines[link.line]
        lines[link.line] = line[: link.target_start] + new_title + line[link.target_end :]
    return "\n".join(lines), len(targets)


WIKILINK_SCHEME = "vault-note:"  # how the app's preview addresses a note by its link target


def as_markdown_links(body: str, scheme: str = WIKILINK_SCHEME) -> str:
    """`body` with each wikilink written as a Markdown link to `scheme` + the quoted target
    (and `#heading`), so a Markdown viewer can show and report it; code is left alone."""
    found = parse_links(body)
    if not found:
        return body
    lines = body.split("\n")
    for link in sorted(found, key=lambda k: (k.line, -k.start)):
        address = link.target + (f"#{link.heading}" if link.heading else "")
        label = link.label.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")
        line = lines[link.line]
        markdown = f"[{label}](<{scheme}{quote(address, safe='')}>)"
        lines[link.line] = line[: link.start] + markdown + line[link.end :]
    return "\n".join(lines)


def link_address(href: str, scheme: str = WIKILINK_SCHEME) -> tuple[str, str | None] | None:
    """(target, heading) of an address made by `as_markdown_links`, else None."""
    if not href.startswith(scheme):
        return None
    target, _, heading = unquote(href[len(scheme) :]).partition("#")
    return target, heading or None


def linkable(title: str) -> bool:
    """Whether `[[title]]` would name this title (no bracket pair, pipe, hash or newline)."""
    return not any(bad in title for bad in UNLINKABLE)
