"""Full-text search over decrypted notes, in memory only.

No plaintext index ever reaches the disk, so search works on the decrypted cache: folded
(case- and accent-insensitive) copies of titles and bodies, kept per note and refreshed when a
note's version changes. Ranking is BM25-like: rarer terms count more, repeats saturate, and a
hit in the title counts three times a hit in the body.

Query syntax: words must all match (AND); "a phrase" matches as written; -word excludes;
tag:name keeps notes carrying that tag.
"""

from __future__ import annotations

import heapq
import math
import operator
import re
import unicodedata
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress, repeat
from typing import NamedTuple

from vault.notes.mdtext import excerpt, plain_line
from vault.notes.model import Note, has_body

_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
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


# Reads the bodies of notes held without them (`SearchIndex`'s reader): by note id.
BodyReader = Callable[[list[Note]], dict[str, str]]


def note_fold(note: Note, body: str) -> tuple[str, str, str]:
    """A note's fold: its version, its folded title, and its folded title and body."""
    title = fold(note.title)
    return note.version, title, title + "\n" + fold(body)


class Hit(NamedTuple):
    """A matching note and its score (a tuple: a search may return one for every note)."""

    note: Note
    score: float


class SearchIndex:
    """Folded text of each note, keyed by note id and version so it is rebuilt only on change.

    Live filtering calls `filter` on every keystroke with the same list of notes (the app's
    current view), so the work per keystroke is kept to one containment test per note and
    term, run by C-level `map`s: the folded texts of the last lists searched are kept between
    calls (recognised by identity: a list must not be changed in place), with the matches of
    the last few queries; a query that can only match fewer notes than one of those (one more
    letter typed) looks only at those matches, and in each text only from where the shorter
    word first occurred. The answers of the last few queries are kept as shown: the same
    query again (a letter deleted) costs a copy of the list. Only notes that match are
    scored, and no object is made per match for the live filter (it gets the notes
    themselves).
    """

    # Terms this short match nearly everything; ranking them is noise, so they only filter.
    RANK_MIN_LENGTH = 3
    # Queries whose matches are kept, per list (two arrays of positions each, at most 800 KB
    # at 100,000 notes), and answers (a list of notes each, at most 800 KB): enough to
    # delete a long word back to its first letter. At most about 20 MB a list, 40 MB for the
    # two, at 100,000 notes (measured in review: 18 MiB a list for 12 queries matching 99%).
    RECENT = 12
    LISTS = 2  # lists whose folded texts are kept: the view, and its subset for a tag:

    def __init__(self, reader: BodyReader | None = None) -> None:
        self._docs: dict[str, tuple[str, str, str]] = {}  # id -> (version, title, title+body)
        self._corpora: list[_Corpus] = []  # newest first
        # The bodies of notes held without theirs (`has_body`) and not folded at their version
        # (`put`): by note id, those it can read (the others are folded by their titles alone,
        # and not kept). Called with the caller's lock held.
        self._reader = reader

    def forget(self, note_id: str) -> None:
        self._docs.pop(note_id, None)
        self._corpora = []

    def clear(self) -> None:
        self._docs.clear()
        self._corpora = []

    def drop_lists(self) -> None:
        """Let go of the lists' texts lined up so far (a list searched while some of its notes
        were folded by their titles alone), keeping each note's fold."""
        self._corpora = []

    def put(self, note: Note, body: str) -> None:
        """Fold `note`'s text with `body`, its body, for the searches to come: a note held
        without its body (`has_body`) is then searched as if it held it, at that version."""
        self._docs[note.id] = note_fold(note, body)

    def put_folds(self, folds: Iterable[tuple[str, tuple[str, str, str]]]) -> None:
        """Folds made beforehand (`note_fold`), by note id."""
        self._docs.update(folds)

    def _corpus_of(self, notes: list[Note]) -> _Corpus:
        for k, corpus in enumerate(self._corpora):
            # The same list, or a new list of the very same note objects in the same order
            # (`Vault.search` asks for a fresh list each time): the folded texts still fit,
            # position for position.
            if corpus.size == len(notes) and (
                corpus.notes is notes or all(map(operator.is_, corpus.notes, notes))
            ):
                if k:
                    self._corpora.insert(0, self._corpora.pop(k))
                return corpus
        docs = self._docs
        titles: list[str] = []
        texts: list[str] = []
        unread: list[int] = []  # positions of notes held without their bodies, not folded
        for note in notes:
            doc = docs.get(note.id)
            if doc is None or doc[0] != note.version or not note.version:
                if has_body(note):
                    doc = docs[note.id] = note_fold(note, note.body)
                else:  # by its title alone, not kept, unless the reader gives its body
                    unread.append(len(titles))
                    doc = note_fold(note, "")
            titles.append(doc[1])
            texts.append(doc[2])
        if unread and self._reader is not None:
            bodies = self._reader([notes[k] for k in unread])
            for k in unread:
                note = notes[k]
                body = bodies.get(note.id)
                if body is not None:
                    doc = docs[note.id] = note_fold(note, body)
                    titles[k], texts[k] = doc[1], doc[2]
        corpus = _Corpus(notes, len(notes), titles, texts, array("i", map(len, titles)))
        self._corpora = [corpus, *self._corpora[: self.LISTS - 1]]
        return corpus

    def search(
        self, notes: Iterable[Note], query: Query | str, *, rank_limit: int | None = None
    ) -> list[Hit]:
        """Notes matching every term, best first; an empty query keeps the given order.

        With `rank_limit`, a result larger than that is ordered cheaply (title matches first,
        then the given order) instead of scored: live filtering uses it so the first letters
        of a word, which match almost everything, stay instant; one more letter usually brings
        the matches under the limit and full ranking back."""
        found, scores = self._answer(notes, query, rank_limit)
        # tuple.__new__ through `map` builds each Hit in C (what NamedTuple._make does).
        return list(map(tuple.__new__, repeat(Hit), zip(found, scores, strict=False)))

    def prepare(self, notes: list[Note]) -> None:
        """Fold the texts of `notes` now, for the searches of that very list to come (the
        session agent, right after it opens the vault): they then only match."""
        self._corpus_of(notes)

    def filter(
        self, notes: Iterable[Note], query: Query | str, *, rank_limit: int | None = None
    ) -> list[Note]:
        """The notes `search` returns, in the same order, without their scores: what the
        list filter shows, with nothing allocated per match but the list itself (a copy of
        the kept answer: the same query again, a letter deleted, costs only that copy)."""
        found, _ = self._answer(notes, query, rank_limit)
        return list(found)

    def top(self, notes: Iterable[Note], query: Query | str, limit: int) -> tuple[list[Hit], int]:
        """The first `limit` hits `search` returns (the same notes, order and scores) and how
        many it returns in all: what `vault search` shows, without scoring every match.

        Each match's score is bounded from its title alone (a title hit and a title starting
        with a term are known exactly; a term's hits in the body add less than 2.2 times its
        weight, whatever their number): the matches are scored exactly in the order of those
        bounds, best first, until the next one's bound falls below the score of the
        `limit`-th best found, which no match left can reach. For a word in most notes, the
        notes whose titles hold it decide the first places, and the counting of the word in
        the bodies of all the others (most of the time of ranking them) is skipped."""
        if isinstance(query, str):
            query = parse_query(query)
        candidates = self._tagged(notes if isinstance(notes, list) else list(notes), query)
        if not query.terms and not query.excluded:
            return [Hit(note, 0.0) for note in candidates[:limit]], len(candidates)
        corpus = self._corpus_of(candidates)
        full = corpus.answers.get((query.terms, query.excluded, None))
        if full is not None:  # the whole answer is kept already: its first `limit`
            found, scores, _ = full
            shown = found[:limit]
            got = scores[:limit] if scores is not None else repeat(0.0)
            return list(map(Hit, shown, got)), len(found)
        key = (query.terms, query.excluded, limit)
        kept = corpus.tops.pop(key, None)
        if kept is None:
            kept = self._work_out_top(corpus, query, limit)
            while len(corpus.tops) >= self.RECENT:
                del corpus.tops[next(iter(corpus.tops))]
        corpus.tops[key] = kept  # the newest last
        shown, scores, total = kept
        return list(map(Hit, shown, scores)), total

    def _work_out_top(self, corpus: _Corpus, query: Query, limit: int) -> _Top:
        found = corpus.notes
        tested: _Tested = {}
        matched, _, _ = self._match(corpus, query, tested)
        ranked_terms = [t for t in query.terms if len(t) >= self.RANK_MIN_LENGTH]
        if not ranked_terms:
            shown = list(map(found.__getitem__, matched[:limit]))
            return shown, [0.0] * len(shown), len(matched)
        order, scores = self._rank_top(corpus, matched, ranked_terms, limit, tested)
        return list(map(found.__getitem__, order)), scores, len(matched)

    def _answer(
        self, notes: Iterable[Note], query: Query | str, rank_limit: int | None
    ) -> tuple[list[Note], Iterable[float]]:
        """The matches best first (a list the caller must not change: it may be kept) and
        their scores in that order."""
        if isinstance(query, str):
            query = parse_query(query)
        candidates = self._tagged(notes if isinstance(notes, list) else list(notes), query)
        if not query.terms and not query.excluded:
            return candidates, repeat(0.0)
        corpus = self._corpus_of(candidates)
        # The answers of the last queries on this list, as shown: a query asked again (a
        # letter deleted, or typed again) is not worked out again.
        key = (query.terms, query.excluded, rank_limit)
        answers = corpus.answers
        answer = answers.pop(key, None)
        if answer is None:
            answer = self._work_out(corpus, query, rank_limit)
            while len(answers) >= self.RECENT:
                del answers[next(iter(answers))]
        answers[key] = answer  # the newest last
        found, scores, first = answer
        if scores is None:
            return found, chain(repeat(1.0, first), repeat(0.0))
        return found, scores

    @staticmethod
    def _tagged(candidates: list[Note], query: Query) -> list[Note]:
        """The notes carrying every tag the query asks for (all of them, if none)."""
        if query.tags:
            # Each tag asked for: the names notes spell it with (folded alike), then one
            # C-level pass over the notes keeping those that carry one of them.
            get_tags = operator.attrgetter("tags")
            spelled = set(chain.from_iterable(map(get_tags, candidates)))
            for wanted in set(query.tags):
                names = {name for name in spelled if fold(name) == wanted}
                carrying = map(operator.not_, map(names.isdisjoint, map(get_tags, candidates)))
                candidates = list(compress(candidates, carrying))
        return candidates

    def _work_out(self, corpus: _Corpus, query: Query, rank_limit: int | None) -> _Answer:
        found = corpus.notes
        tested: _Tested = {}
        matched, last, firsts = self._match(corpus, query, tested)
        ranked_terms = [t for t in query.terms if len(t) >= self.RANK_MIN_LENGTH]
        if not ranked_terms:
            return _Answer(_pick(found, matched), None, 0)
        if rank_limit is not None and len(matched) > rank_limit:
            # Title matches first, then the rest, each in the given order: marks for the
            # matches, then two `compress`es split them. The term tested last was found in
            # each text at its first occurrence: the text starts with the title, so the title
            # holds the term exactly when that occurrence ends within it. Other terms: one
            # C-level pass each over the matches' titles.
            whole = len(matched) == corpus.size  # (then the lists as they are)
            marks: list[bool] | None = None
            if last is not None and last in ranked_terms:
                lengths = corpus.title_lengths
                of_lengths = lengths if whole else map(lengths.__getitem__, matched)
                ends = map(operator.add, firsts, repeat(len(last)))
                marks = list(map(operator.le, ends, of_lengths))
            others = [term for term in ranked_terms if term != last or marks is None]
            if others:
                titles = corpus.titles
                of_matches = titles if whole else list(map(titles.__getitem__, matched))
                for term in others:
                    holding = map(operator.contains, of_matches, repeat(term))
                    marks = list(holding if marks is None else map(operator.and_, marks, holding))
            assert marks is not None
            in_title = marks.count(True)
            listed = _pick(found, matched)
            if not in_title:
                return _Answer(listed, None, 0)
            ordered = list(compress(listed, marks))
            ordered += compress(listed, map(operator.not_, marks))
            return _Answer(ordered, None, in_title)
        order, scores = self._rank(corpus, matched, ranked_terms, tested)
        return _Answer(list(map(found.__getitem__, order)), scores, 0)

    def _match(
        self, corpus: _Corpus, query: Query, tested: _Tested | None = None
    ) -> tuple[Sequence[int], str | None, list[int]]:
        """Positions in the corpus of the notes holding every term and no excluded one, in
        the corpus's order; and the term tested last, if it was (else None), with where it
        first occurs in each matching text (for the title-first order: see `_work_out`).
        `tested` gets, for each term tested on some of the notes only, those notes and how
        many of them hold it (what `_idf` need not count again)."""
        terms, excluded = set(query.terms), set(query.excluded)
        # The narrowest kept result this query can only shrink: every match of the query
        # is among its matches (see _narrows); terms and exclusions it already applied are
        # not tested again.
        pool: Sequence[int] = range(corpus.size)
        done_terms: frozenset[str] = frozenset()
        done_excluded: frozenset[str] = frozenset()
        pool_last: str | None = None
        pool_firsts: Sequence[int] | None = None
        for old_terms, old_excluded, old_matched, old_last, old_firsts in corpus.recent:
            narrower = len(old_matched) < len(pool) or (
                len(old_matched) == len(pool) and isinstance(pool, range)
            )
            if narrower and _narrows(old_terms, old_excluded, terms, excluded):
                pool, done_terms, done_excluded = old_matched, old_terms, old_excluded
                pool_last, pool_firsts = old_last, old_firsts
        texts = corpus.texts
        matched: Sequence[int] = pool
        # One pass per term over what is still in, the rarest-looking (longest) term first:
        # each pass is C-level, and later passes see fewer notes. The last one (when no
        # exclusion is tested after it) notes where its term first occurs in each match.
        todo = sorted(terms - done_terms, key=len, reverse=True)
        # A term that goes on from the one the pool's query tested last (a letter typed)
        # goes first, and looks in each text only from where that one first occurred: it
        # cannot occur before (most of the text, for a term found late or not at all).
        resume = None
        if pool_last is not None:
            resume = next((t for t in todo if t.startswith(pool_last)), None)
            if resume is not None:
                todo.remove(resume)
                todo.insert(0, resume)
        last = todo[-1] if todo and not excluded - done_excluded else None
        if last is not None and len(last) < self.RANK_MIN_LENGTH:
            last = None  # a letter or two: found near the start of most texts, and not ranked
        firsts: list[int] = []
        for term in todo:
            whole = len(matched) == corpus.size
            at = firsts if term is last else None
            starts = pool_firsts if term is resume else None
            pool_of_term = matched
            matched = _keep(texts, matched, term, True, whole, at, starts)
            if whole:  # a pass over every note counts the notes holding the term, for ranking
                corpus.df[term] = len(matched)
            elif tested is not None:
                tested[term] = (pool_of_term, len(matched))
        for term in excluded - done_excluded:
            matched = _keep(texts, matched, term, False, False)
        if len(terms) == 1 and not excluded:
            corpus.df[next(iter(terms))] = len(matched)
        if matched is not pool:
            # Every note (the first letters of a word): a range, which costs nothing to keep.
            everything = len(matched) == corpus.size
            kept = (
                frozenset(terms),
                frozenset(excluded),
                range(corpus.size) if everything else array("i", matched),
                last,
                array("i", firsts) if last is not None else None,
            )
            corpus.recent[:] = [kept, *corpus.recent[: self.RECENT - 1]]
        return matched, last, firsts

    def _rank(
        self, corpus: _Corpus, matched: Sequence[int], terms: list[str], tested: _Tested
    ) -> tuple[list[int], list[float]]:
        """BM25-like scores: rarer terms weigh more, repeats saturate, title hits count triple.
        Returns the matches best first and their scores.

        The per-note counting runs as C-level `map`s over the matched texts, one term at a
        time; only the arithmetic is a Python loop."""
        texts, titles, found = corpus.texts, corpus.titles, corpus.notes
        idf = self._idf(corpus, matched, terms, tested)
        m_texts = [texts[i] for i in matched]
        m_titles = [titles[i] for i in matched]
        lengths = list(map(len, m_texts))
        avg_len = (sum(lengths) / len(matched)) if matched else 1.0
        scores = _scores(m_texts, m_titles, lengths, avg_len, terms, idf)
        # Best first, then the most recently modified, then as given: two stable sorts with
        # C-level keys.
        newest_first = [-found[i].modified for i in matched]
        order = sorted(range(len(matched)), key=newest_first.__getitem__)
        order.sort(key=[-score for score in scores].__getitem__)
        return list(map(matched.__getitem__, order)), list(map(scores.__getitem__, order))

    def _idf(
        self, corpus: _Corpus, matched: Sequence[int], terms: list[str], tested: _Tested
    ) -> list[float]:
        """Each term's weight: the rarer among the corpus's texts, the more. A term `_match`
        tested on some notes only is counted in the others alone."""
        n_docs = corpus.size
        if len(terms) == 1:
            df = [len(matched)]
        else:
            known, texts = corpus.df, corpus.texts
            for t in terms:
                if t in known:
                    continue
                if t in tested:
                    pool, holding = tested[t]
                    outside = bytearray(b"\x01") * n_docs  # 1 for each note outside the pool
                    deque(map(outside.__setitem__, pool, repeat(0)), maxlen=0)
                    others = compress(texts, outside)
                    known[t] = holding + sum(map(operator.contains, others, repeat(t)))
                else:
                    known[t] = sum(map(operator.contains, texts, repeat(t, n_docs)))
            df = [known[t] for t in terms]
        return [math.log(1 + (n_docs - d + 0.5) / (d + 0.5)) for d in df]

    def _rank_top(
        self, corpus: _Corpus, matched: Sequence[int], terms: list[str], limit: int, tested: _Tested
    ) -> tuple[list[int], list[float]]:
        """The first `limit` of what `_rank` returns, the same positions and scores, from
        exact scores of only the matches that bounds cannot rule out (see `top`).

        A score adds, per term, weight * (body part + title part + start bonus), in that
        order, as `_scores` computes it. The body part is 0 for no hit in the body and stays
        below 2.2 however many there are; the other two come from the title alone. The same
        sums with the body part at 0 and at 2.2 are a floor and a ceiling of the score as
        computed, not only as written: rounding is monotonic, so each step of the ceiling's
        sum is at least the score's. A match whose ceiling is below the `limit`-th best
        exact score found has a lower score than `limit` others and is never shown."""
        if limit < 1:
            return [], []
        texts, titles, found = corpus.texts, corpus.titles, corpus.notes
        idf = self._idf(corpus, matched, terms, tested)
        count = len(matched)
        whole = count == corpus.size  # then the corpus's own lists, in order
        m_titles = titles if whole else list(map(titles.__getitem__, matched))
        lengths = list(map(len, texts if whole else map(texts.__getitem__, matched)))
        avg_len = (sum(lengths) / count) if matched else 1.0
        # Matches whose title holds a ranked term (indexes into `matched`); every other one
        # has the same ceiling, `bare`, and a floor of 0.
        held: list[bool] | None = None
        for term in terms:
            holds = map(operator.contains, m_titles, repeat(term))
            held = list(holds if held is None else map(operator.or_, held, holds))
        assert held is not None
        titled = list(compress(range(count), held))
        h_titles = list(map(m_titles.__getitem__, titled))
        floors = [0.0] * len(titled)
        ceilings = [0.0] * len(titled)
        bare = 0.0
        for term, weight in zip(terms, idf, strict=True):
            in_titles = map(str.count, h_titles, repeat(term))
            parts = [TITLE_WEIGHT * in_title * 2.2 / (in_title + 1.2) for in_title in in_titles]
            bonus = [1.0 if start else 0.0 for start in map(str.startswith, h_titles, repeat(term))]
            # Summed as `_scores` sums, the body part first (0.0 + part is part exactly).
            floors = [
                low + weight * (part + start)
                for low, part, start in zip(floors, parts, bonus, strict=True)
            ]
            ceilings = [
                high + weight * (2.2 + part + start)
                for high, part, start in zip(ceilings, parts, bonus, strict=True)
            ]
            bare = bare + weight * (2.2 + 0.0 + 0.0)
        # The titled matches by ceiling, highest first, scored exactly in growing batches
        # until the next ceiling is below the `limit`-th best score so far (then so are all
        # the untitled ones: `bare` is no higher than any titled ceiling).
        by_ceiling = sorted(range(len(titled)), key=ceilings.__getitem__, reverse=True)
        scored: list[int] = []  # indexes into `matched`
        scores: list[float] = []
        bar = -math.inf  # the `limit`-th best exact score so far
        done = 0
        batch = 2 * limit  # doubling: few batches, few notes scored past the last place
        # The best floors tell, before any counting, how high the bar will be at least:
        # titled matches whose ceiling is below that are never scored.
        if len(titled) >= limit:
            bar = heapq.nlargest(limit, floors)[-1]
        while done < len(by_ceiling) and ceilings[by_ceiling[done]] >= bar:
            part = sorted(titled[k] for k in by_ceiling[done : done + batch])
            done += batch
            scored += part
            scores += self._exact(texts, m_titles, matched, lengths, avg_len, terms, idf, part)
            if len(scores) >= limit:
                bar = max(bar, heapq.nlargest(limit, scores)[-1])
            batch *= 2
        if len(scored) < limit or bare >= bar:  # the untitled matches may still be shown
            rest = list(compress(range(count), map(operator.not_, held)))
            rest += (titled[k] for k in by_ceiling[done:])
            scored += rest
            scores += self._exact(texts, m_titles, matched, lengths, avg_len, terms, idf, rest)
        # As `_rank` orders: best first, then the most recently modified, then as given.
        order = sorted(range(len(scored)), key=scored.__getitem__)
        newest_first = [-found[matched[i]].modified for i in scored]
        order.sort(key=newest_first.__getitem__)
        order.sort(key=[-score for score in scores].__getitem__)
        order = order[:limit]
        return [matched[scored[k]] for k in order], [scores[k] for k in order]

    @staticmethod
    def _exact(
        texts: list[str],
        m_titles: list[str],
        matched: Sequence[int],
        lengths: list[int],
        avg_len: float,
        terms: list[str],
        idf: list[float],
        part: list[int],
    ) -> list[float]:
        """`_scores` of the matches at `part` (indexes into `matched`)."""
        return _scores(
            [texts[matched[i]] for i in part],
            list(map(m_titles.__getitem__, part)),
            list(map(lengths.__getitem__, part)),
            avg_len,
            terms,
            idf,
        )


def _scores(
    m_texts: list[str],
    m_titles: list[str],
    lengths: list[int],
    avg_len: float,
    terms: list[str],
    idf: list[float],
) -> list[float]:
    """The score of each text (its title's, its length), as `SearchIndex._rank` defines it;
    `avg_len` is the matches' average length. One definition, for every note scored, so a
    score is the same float whichever way it is reached."""
    norms = [0.25 + 0.75 * length / avg_len for length in lengths]
    scores = [0.0] * len(m_texts)
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
    return scores


@dataclass(frozen=True, eq=False)
class _Corpus:
    """A list of notes with their folded titles and texts, position for position, and the
    matches of the last queries run on it (terms, excluded terms, positions), newest first."""

    notes: list[Note]
    size: int
    titles: list[str]
    texts: list[str]
    title_lengths: array[int]
    df: dict[str, int] = field(default_factory=dict)  # term -> how many texts hold it
    recent: list[_Kept] = field(default_factory=list)
    # (terms, excluded, rank limit) -> the answer as shown, the oldest first
    answers: dict[tuple[tuple[str, ...], tuple[str, ...], int | None], _Answer] = field(
        default_factory=dict
    )
    # (terms, excluded, limit) -> `SearchIndex.top`'s first matches, their scores, how many
    tops: dict[tuple[tuple[str, ...], tuple[str, ...], int], _Top] = field(default_factory=dict)


# `SearchIndex.top`'s answer: the first matches best first, their scores, how many match.
_Top = tuple[list[Note], list[float], int]

# Per term tested on some notes only (see `SearchIndex._match`): their positions, and how
# many of them hold it.
_Tested = dict[str, tuple[Sequence[int], int]]

# Terms, excluded terms, the positions of the matches; the term tested last (None if an
# exclusion was tested after it) and where it first occurs in each match's text.
_Kept = tuple[frozenset[str], frozenset[str], Sequence[int], str | None, Sequence[int] | None]


class _Answer(NamedTuple):
    """A query's matches best first, and their scores: the list given, or (None) 1.0 for the
    `first` ones (their titles hold every ranked term) and 0.0 for the others."""

    notes: list[Note]
    scores: list[float] | None
    first: int


def _pick(notes: list[Note], positions: Sequence[int]) -> list[Note]:
    """The notes at those positions, in that order."""
    if len(positions) == len(notes):  # every one (positions are in order, without repeats)
        return list(notes)
    return list(map(notes.__getitem__, positions))


# Positions tested per C-level call: between two, the GIL may pass to another thread (the
# app's screen, while its worker filters 100,000 notes), about every 10 ms.
_CHUNK = 8192


def _keep(
    texts: list[str],
    positions: Sequence[int],
    term: str,
    holding: bool,
    whole: bool,
    firsts: list[int] | None = None,
    starts: Sequence[int] | None = None,
) -> list[int]:
    """The positions whose text holds `term` (or, with `holding` false, lacks it), in order;
    `whole`: the positions are every text's, 0 to len(texts) - 1. With `holding`: `firsts`
    gets where the term first occurs in each of those texts; `starts`, one per position, is
    where to begin looking in each text (the term does not occur before)."""
    kept: list[int] = []
    for start in range(0, len(positions), _CHUNK):
        part = positions[start : start + _CHUNK]
        chunk = texts[start : start + _CHUNK] if whole else map(texts.__getitem__, part)
        if holding and (firsts is not None or starts is not None):
            if starts is None:
                at = list(map(str.find, chunk, repeat(term)))
            else:
                at = list(map(str.find, chunk, repeat(term), starts[start : start + _CHUNK]))
            found = list(map(operator.ne, at, repeat(-1)))
            kept.extend(compress(part, found))
            if firsts is not None:
                firsts.extend(compress(at, found))
            continue
        holds = map(operator.contains, chunk, repeat(term))
        kept.extend(compress(part, holds if holding else map(operator.not_, holds)))
    return kept


def _narrows(
    old_terms: frozenset[str], old_excluded: frozenset[str], terms: set[str], excluded: set[str]
) -> bool:
    """Whether every note matching (terms, excluded) also matches (old_terms, old_excluded):
    each old term lies inside a new one, and each old exclusion is still there."""
    if not old_excluded <= excluded:
        return False
    return all(any(old in new for new in terms) for old in old_terms)


def _fold_with_positions(text: str) -> tuple[str, Sequence[int]]:
    """The folded text and, for each folded character, where it came from in `text`, so a
    match found accent-insensitively can be highlighted in the original.

    Each character is folded on its own; the ASCII runs between the others (most of any
    text, and all of most) are folded whole, their origins a C-level range."""
    if text.isascii():
        return text.casefold(), range(len(text) + 1)
    parts: list[str] = []
    origin: list[int] = []
    done = 0
    for run in _NON_ASCII.finditer(text):
        start, end = run.span()
        if start > done:
            parts.append(text[done:start].casefold())
            origin.extend(range(done, start))
        for i in range(start, end):
            piece = fold(text[i])
            parts.append(piece)
            origin.extend(repeat(i, len(piece)))
        done = end
    if done < len(text):
        parts.append(text[done:].casefold())
        origin.extend(range(done, len(text)))
    origin.append(len(text))
    return "".join(parts), origin


def _first_match(text: str, query: Query) -> int | None:
    """Where in `text` the first match of any term starts (what `highlight_spans` would give
    first), or None: without finding every match."""
    terms = [t for t in query.highlight_terms if t]
    if not terms:
        return None
    folded, origin = _fold_with_positions(text)
    starts = [at for at in map(folded.find, terms) if at != -1]
    return origin[min(starts)] if starts else None


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
    start = _first_match(body, query)
    if start is None:
        from vault.notes.model import snippet

        return snippet(body, width)
    line_start = body.rfind("\n", 0, start) + 1
    line_end = body.find("\n", start)
    raw = body[line_start : line_end if line_end != -1 else len(body)]
    # As read, without Markdown marks; the match is found again in what is shown (it may
    # have been inside a link's address, which is not shown: then the line's start).
    line = plain_line(raw) or raw.strip()
    found = _first_match(line, query)
    return excerpt(line, found or 0, width)
