"""Full-text search over decrypted notes, in memory only.

No plaintext index ever reaches the disk, so search works on the decrypted cache: folded
(case- and accent-insensitive) copies of titles and bodies, kept per note and refreshed when a
note's version changes. Ranking is BM25-like: rarer terms count more, repeats saturate, and a
hit in the title counts three times a hit in the body.

Query syntax: words must all match (AND); "a phrase" matches as written; -word excludes;
tag:name keeps notes carrying that tag.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from vault.model import Note

_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_TOKEN = re.compile(r'(-?)(?:"([^"]*)"?|(\S+))')
TITLE_WEIGHT = 3.0


def fold(text: str) -> str:
    """Case- and accent-insensitive form: 'Café' and 'cafe' fold alike."""
    folded = text.casefold()
    if folded.isascii():
        return folded
    return _COMBINING.sub("", unicodedata.normalize("NFKD", folded))


@dataclass(frozen=True)
class Query:
    terms: tuple[str, ...] = ()  # folded words and phrases that must all appear
    excluded: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # folded tag names the note must carry
    raw: str = ""

    @property
    def empty(self) -> bool:
        return not (self.terms or self.excluded or self.tags)

    @property
    def highlight_terms(self) -> tuple[str, ...]:
        return self.terms


def parse_query(text: str) -> Query:
    terms: list[str] = []
    excluded: list[str] = []
    tags: list[str] = []
    for match in _TOKEN.finditer(text):
        negate, phrase, word = match.group(1), match.group(2), match.group(3)
        value = phrase if phrase is not None else word
        if not value or not value.strip():
            continue
        if phrase is None and value.lower().startswith("tag:") and len(value) > 4:
            tags.append(fold(value[4:].lstrip("#")))
            continue
        (excluded if negate else terms).append(fold(value.strip()))
    return Query(tuple(terms), tuple(excluded), tuple(tags), text)


@dataclass(frozen=True)
class Hit:
    note: Note
    score: float


class SearchIndex:
    """Folded text of each note, keyed by note id and version so it is rebuilt only on change."""

    def __init__(self) -> None:
        self._docs: dict[str, tuple[str, str, str]] = {}  # id -> (version, title, body)

    def _doc(self, note: Note) -> tuple[str, str]:
        doc = self._docs.get(note.id)
        if doc is None or doc[0] != note.version or not note.version:
            doc = (note.version, fold(note.title), fold(note.body))
            self._docs[note.id] = doc
        return doc[1], doc[2]

    def forget(self, note_id: str) -> None:
        self._docs.pop(note_id, None)

    def clear(self) -> None:
        self._docs.clear()

    def search(self, notes: Iterable[Note], query: Query | str) -> list[Hit]:
        """Notes matching every term, best first; an empty query keeps the given order."""
        if isinstance(query, str):
            query = parse_query(query)
        candidates = list(notes)
        if query.tags:
            wanted = set(query.tags)
            candidates = [n for n in candidates if wanted <= {fold(t) for t in n.tags}]
        if not query.terms and not query.excluded:
            return [Hit(n, 0.0) for n in candidates]

        counts: list[tuple[Note, list[tuple[int, int]]]] = []
        df = [0] * len(query.terms)
        total_len = 0
        for note in candidates:
            title, body = self._doc(note)
            if any(x in title or x in body for x in query.excluded):
                continue
            per_term = []
            for i, term in enumerate(query.terms):
                tf_title, tf_body = title.count(term), body.count(term)
                if tf_title or tf_body:
                    df[i] += 1
                per_term.append((tf_title, tf_body))
            if all(t or b for t, b in per_term):
                counts.append((note, per_term))
                total_len += len(body)
        if not query.terms:
            return [Hit(note, 0.0) for note, _ in counts]

        n_docs = max(len(candidates), 1)
        avg_len = total_len / max(len(counts), 1) or 1.0
        idf = [math.log(1 + (n_docs - d + 0.5) / (d + 0.5)) for d in df]
        hits = []
        for note, per_term in counts:
            title, body = self._doc(note)
            length_norm = 0.25 + 0.75 * len(body) / avg_len
            score = 0.0
            for i, (tf_title, tf_body) in enumerate(per_term):
                body_part = tf_body * 2.2 / (tf_body + 1.2 * length_norm)
                title_part = TITLE_WEIGHT * tf_title * 2.2 / (tf_title + 1.2)
                if title.startswith(query.terms[i]):
                    title_part += 1.0
                score += idf[i] * (body_part + title_part)
            hits.append(Hit(note, score))
        hits.sort(key=lambda h: (-h.score, -h.note.modified))
        return hits


def _fold_with_positions(text: str) -> tuple[str, list[int]]:
    """The folded text and, for each folded character, where it came from in `text`, so a
    match found accent-insensitively can be highlighted in the original."""
    folded = text.casefold()
    if text.isascii():
        return folded, list(range(len(text) + 1))
    parts: list[str] = []
    origin: list[int] = []
    for i, char in enumerate(text):
        piece = fold(char)
        parts.append(piece)
        origin.extend([i] * len(piece))
    origin.append(len(text))
    return "".join(parts), origin


def highlight_spans(text: str, query: Query) -> list[tuple[int, int]]:
    """Where the query's terms occur in `text` (ignoring case and accents), merged and sorted."""
    spans: list[tuple[int, int]] = []
    terms = [t for t in query.highlight_terms if t]
    if not terms:
        return []
    folded, origin = _fold_with_positions(text)
    for term in terms:
        start = folded.find(term)
        while start != -1:
            end = start + len(term)
            # extend to the end of the original character the last folded char came from
            last = origin[end - 1]
            spans.append((origin[start], last + 1))
            start = folded.find(term, end)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def match_snippet(body: str, query: Query, width: int = 80) -> str:
    """A line of the body around the first match, for search results."""
    spans = highlight_spans(body, query)
    if not spans:
        from vault.model import snippet

        return snippet(body, width)
    start = spans[0][0]
    line_start = body.rfind("\n", 0, start) + 1
    line_end = body.find("\n", start)
    line = body[line_start : line_end if line_end != -1 else len(body)]
    offset = start - line_start
    if len(line) > width:
        left = max(0, offset - width // 3)
        line = ("…" if left else "") + line[left : left + width - 1].rstrip() + "…"
    return line.strip()
