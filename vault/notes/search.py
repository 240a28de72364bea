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
import operator
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import repeat
from typing import NamedTuple

from vault.notes.mdtext import excerpt, plain_line
from vault.notes.model import Note

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


class Hit(NamedTuple):
    """A matching note and its score (a tuple: a search may return one for every note)."""

    note: Note
    score: float


class SearchIndex:
    """Folded text of each note, keyed by note id and version so it is rebuilt only on change.

    Live filtering calls `search` on every keystroke with the same list of notes (the app's
    current view), so the work per keystroke is kept to one containment test per note and
    term: the folded texts of that list are kept between calls (recognised by identity: the
    list must not be changed in place), a query that extends the previous one (one more letter
    typed) only looks at the previous matches, and only notes that match are scored.
    """

    # Terms this short match nearly everything; ranking them is noise, so they only filter.
    RANK_MIN_LENGTH = 3

    def __init__(self) -> None:
        self._docs: dict[str, tuple[str, str, str]] = {}  # id -> (version, title, title+body)
        self._corpus: _Corpus | None = None
        self._last: tuple[Query, _Corpus, list[int]] | None = None

    def forget(self, note_id: str) -> None:
        self._docs.pop(note_id, None)
        self._corpus = None
        self._last = None

    def clear(self) -> None:
        self._docs.clear()
        self._corpus = None
        self._last = None

    def _corpus_of(self, notes: list[Note]) -> _Corpus:
        corpus = self._corpus
        if corpus is not None and corpus.size == len(notes):
            if corpus.notes is notes:
                return corpus
            # A new list of the very same note objects in the same order (`Vault.search` asks
            # for a fresh list each time): the folded texts still fit, position for position.
            if all(map(operator.is_, corpus.notes, notes)):
                return corpus
        docs = self._docs
        titles: list[str] = []
        texts: list[str] = []
        for note in notes:
            doc = docs.get(note.id)
            if doc is None or doc[0] != note.version or not note.version:
                title = fold(note.title)
                doc = (note.version, title, title + "\n" + fold(note.body))
                docs[note.id] = doc
            titles.append(doc[1])
            texts.append(doc[2])
        corpus = _Corpus(notes, len(notes), titles, texts)
        self._corpus = corpus
        self._last = None
        return corpus

    def search(
        self, notes: Iterable[Note], query: Query | str, *, rank_limit: int | None = None
    ) -> list[Hit]:
        """Notes matching every term, best first; an empty query keeps the given order.

        With `rank_limit`, a result larger than that is ordered cheaply (title matches first,
        then the given order) instead of scored: live filtering uses it so the first letters
        of a word, which match almost everything, stay instant; one more letter usually brings
        the matches under the limit and full ranking back."""
        if isinstance(query, str):
            query = parse_query(query)
        candidates = notes if isinstance(notes, list) else list(notes)
        if query.tags:
            wanted = set(query.tags)
            candidates = [n for n in candidates if wanted <= {fold(t) for t in n.tags}]
        if not query.terms and not query.excluded:
            return [Hit(n, 0.0) for n in candidates]
        corpus = self._corpus_of(candidates)
        texts = corpus.texts
        pool: Iterable[int] = range(corpus.size)
        last = self._last
        if last is not None and last[1] is corpus and _narrows(last[0], query):
            pool = last[2]  # typing one more letter can only remove matches
        terms, excluded = query.terms, query.excluded
        matched = pool if isinstance(pool, list) else list(pool)
        # One pass per term over what is still in, the rarest-looking (longest) term first:
        # each pass is a tight comprehension, and later passes see fewer notes.
        whole = len(matched) == corpus.size
        for term in sorted(terms, key=len, reverse=True):
            matched = [i for i in matched if term in texts[i]]
            if whole:  # a pass over every note counts the notes holding the term, for ranking
                corpus.df[term] = len(matched)
                whole = False
        for term in excluded:
            matched = [i for i in matched if term not in texts[i]]
        self._last = (query, corpus, matched)
        ranked_terms = [t for t in terms if len(t) >= self.RANK_MIN_LENGTH]
        found = corpus.notes
        if not ranked_terms:
            return [Hit(found[i], 0.0) for i in matched]
        if rank_limit is not None and len(matched) > rank_limit:
            titles = corpus.titles
            if len(ranked_terms) == 1:
                (term,) = ranked_terms
                in_title = [i for i in matched if term in titles[i]]
            else:
                in_title = [i for i in matched if all(t in titles[i] for t in ranked_terms)]
            first = set(in_title)
            return [Hit(found[i], 1.0) for i in in_title] + [
                Hit(found[i], 0.0) for i in matched if i not in first
            ]
        return self._rank(corpus, matched, ranked_terms)

    def _rank(self, corpus: _Corpus, matched: list[int], terms: list[str]) -> list[Hit]:
        """BM25-like scores: rarer terms weigh more, repeats saturate, title hits count triple.

        The per-note counting runs as C-level `map`s over the matched texts, one term at a
        time; only the arithmetic is a Python loop."""
        n_docs = corpus.size
        texts, titles, found = corpus.texts, corpus.titles, corpus.notes
        if len(terms) == 1:
            df = [len(matched)]
        else:
            known = corpus.df
            for t in terms:
                if t not in known:
                    known[t] = sum(map(operator.contains, texts, repeat(t, n_docs)))
            df = [known[t] for t in terms]
        idf = [math.log(1 + (n_docs - d + 0.5) / (d + 0.5)) for d in df]
        m_texts = [texts[i] for i in matched]
        m_titles = [titles[i] for i in matched]
        lengths = list(map(len, m_texts))
        avg_len = (sum(lengths) / len(matched)) if matched else 1.0
        norms = [0.25 + 0.75 * length / avg_len for length in lengths]
        scores = [0.0] * len(matched)
        for term, weight in zip(terms, idf, strict=True):
            in_titles = list(map(str.count, m_titles, repeat(term)))
            in_texts = list(map(str.count, m_texts, repeat(term)))
            starts = list(map(str.startswith, m_titles, repeat(term)))
            scores = [
                score
                + weight
                * (
                    (in_text - in_title) * 2.2 / (in_text - in_title + 1.2 * norm)
                    + TITLE_WEIGHT * in_title * 2.2 / (in_title + 1.2)
                    + (1.0 if start else 0.0)
                )
                for score, in_title, in_text, start, norm in zip(
                    scores, in_titles, in_texts, starts, norms, strict=True
                )
            ]
        # Best first, then the most recently modified, then as given: two stable sorts with
        # C-level keys.
        newest_first = [-found[i].modified for i in matched]
        order = sorted(range(len(matched)), key=newest_first.__getitem__)
        order.sort(key=[-score for score in scores].__getitem__)
        return [Hit(found[matched[j]], scores[j]) for j in order]


@dataclass(frozen=True, eq=False)
class _Corpus:
    """A list of notes with their folded titles and texts, position for position."""

    notes: list[Note]
    size: int
    titles: list[str]
    texts: list[str]
    df: dict[str, int] = field(default_factory=dict)  # term -> how many texts hold it


def _narrows(previous: Query, current: Query) -> bool:
    """Whether every note matching `current` also matches `previous`."""
    if previous.tags != current.tags or not set(previous.excluded) <= set(current.excluded):
        return False
    return all(any(old in new for new in current.terms) for old in previous.terms)


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
        from vault.notes.model import snippet

        return snippet(body, width)
    start = spans[0][0]
    line_start = body.rfind("\n", 0, start) + 1
    line_end = body.find("\n", start)
    raw = body[line_start : line_end if line_end != -1 else len(body)]
    # As read, without Markdown marks; the match is found again in what is shown (it may
    # have been inside a link's address, which is not shown: then the line's start).
    line = plain_line(raw) or raw.strip()
    found = highlight_spans(line, query)
    return excerpt(line, found[0][0] if found else 0, width)
