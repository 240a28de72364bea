"""The search index's ranking, written for speed (C-level maps, two stable sorts, the corpus and
document frequencies kept between calls), orders exactly as the plain BM25-like definition in
`reference` below, which is the loop it replaced."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from vault.notes.mdtext import excerpt, plain_line
from vault.notes.model import UNLOADED, Note, has_body, snippet, with_body
from vault.notes.search import (
    TITLE_WEIGHT,
    SearchIndex,
    _fold_with_positions,
    fold,
    highlight_spans,
    match_snippet,
    parse_query,
)

WORDS = ["alpha", "alp", "beta", "gamma", "café", "cafe", "delta", "al", "ma", "éta"]


def reference(notes: list[Note], text: str) -> list[tuple[str, float]]:
    query = parse_query(text)
    candidates = notes
    if query.tags:
        wanted = set(query.tags)
        candidates = [n for n in candidates if wanted <= {fold(t) for t in n.tags}]
    if not query.terms and not query.excluded:
        return [(n.id, 0.0) for n in candidates]
    titles = [fold(n.title) for n in candidates]
    texts = [t + "\n" + fold(n.body) for t, n in zip(titles, candidates, strict=True)]
    matched = [
        i
        for i, t in enumerate(texts)
        if all(term in t for term in query.terms) and not any(x in t for x in query.excluded)
    ]
    terms = [t for t in query.terms if len(t) >= SearchIndex.RANK_MIN_LENGTH]
    if not terms:
        return [(candidates[i].id, 0.0) for i in matched]
    n_docs = len(candidates)
    df = [len(matched)] if len(terms) == 1 else [sum(t in x for x in texts) for t in terms]
    idf = [math.log(1 + (n_docs - d + 0.5) / (d + 0.5)) for d in df]
    avg_len = sum(len(texts[i]) for i in matched) / len(matched) if matched else 1.0
    scored = []
    for i in matched:
        title, body = titles[i], texts[i]
        norm = 0.25 + 0.75 * len(body) / avg_len
        score = 0.0
        for term, weight in zip(terms, idf, strict=True):
            in_title = title.count(term)
            in_body = body.count(term) - in_title
            score += weight * (
                in_body * 2.2 / (in_body + 1.2 * norm)
                + TITLE_WEIGHT * in_title * 2.2 / (in_title + 1.2)
                + (1.0 if title.startswith(term) else 0.0)
            )
        scored.append((candidates[i], score))
    scored.sort(key=lambda pair: (-pair[1], -pair[0].modified))
    return [(note.id, score) for note, score in scored]


phrases = st.lists(st.sampled_from(WORDS), min_size=0, max_size=12).map(" ".join)
notes_strategy = st.lists(
    st.tuples(
        phrases, phrases, st.integers(0, 3), st.lists(st.sampled_from(["x", "y"]), max_size=2)
    ),
    min_size=0,
    max_size=25,
).map(
    lambda rows: [
        Note(f"{i:032x}", title, body, modified=mod, tags=tuple(tags), version=f"v{i}")
        for i, (title, body, mod, tags) in enumerate(rows)
    ]
)
query_strategy = st.lists(
    st.one_of(
        st.sampled_from(WORDS),
        st.sampled_from(WORDS).map(lambda w: "-" + w),
        st.sampled_from(["tag:x", "tag:y"]),
        st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS)).map(lambda p: f'"{p[0]} {p[1]}"'),
    ),
    min_size=1,
    max_size=3,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(notes_strategy, st.lists(query_strategy, min_size=1, max_size=4))
def test_ranking_matches_the_reference(notes: list[Note], queries: list[str]) -> None:
    index = SearchIndex()
    for text in queries:  # one index across queries: what it keeps between calls must not leak
        fresh_list = list(notes)  # as Vault.search passes: a new list of the same notes
        got = [(hit.note.id, hit.score) for hit in index.search(fresh_list, text)]
        assert got == reference(notes, text), text
        # and again on the very same list object (the app's live filter)
        got = [(hit.note.id, hit.score) for hit in index.search(fresh_list, text)]
        assert got == reference(notes, text), text


@settings(max_examples=100, deadline=None)
@given(notes_strategy, st.sampled_from(WORDS))
def test_typing_a_word_letter_by_letter_narrows_correctly(notes: list[Note], word: str) -> None:
    index = SearchIndex()
    for i in range(1, len(word) + 1):
        got = [hit.note.id for hit in index.search(notes, word[:i])]
        assert got == [note_id for note_id, _ in reference(notes, word[:i])]


def reference_live(notes: list[Note], text: str, rank_limit: int | None) -> list[tuple[str, float]]:
    """What the list filter shows: `reference`, except that more matches than `rank_limit` are
    not scored but ordered cheaply: those whose title holds every ranked term first (score 1),
    then the others (score 0), each group in the given order."""
    ranked = reference(notes, text)
    query = parse_query(text)
    terms = [t for t in query.terms if len(t) >= SearchIndex.RANK_MIN_LENGTH]
    if rank_limit is None or not terms or len(ranked) <= rank_limit:
        return ranked
    position = {n.id: i for i, n in enumerate(notes)}
    by_id = {n.id: n for n in notes}
    ids = sorted((note_id for note_id, _ in ranked), key=position.__getitem__)
    first = [i for i in ids if all(t in fold(by_id[i].title) for t in terms)]
    if not first:
        return [(i, 0.0) for i in ids]
    return [(i, 1.0) for i in first] + [(i, 0.0) for i in ids if i not in set(first)]


LIVE_WORDS = ["Café", "cafe", "CAFÉ", "alpha", "alp", "beta", "éta", "Éta", "gamma", "tag:x"]
KEYS = [
    *list('aAlphbetgmcfdéÉ x:-"'),
    "tag:x",
    "tag:y",
    "-beta",
    '"alpha be',
    "café al",
    "alpha",
    "eta",
    " gam",
]
BACKSPACE = "\b"
live_phrases = st.lists(st.sampled_from(LIVE_WORDS), min_size=0, max_size=10).map(" ".join)
live_notes = st.lists(
    st.tuples(
        live_phrases,
        live_phrases,
        st.integers(0, 3),
        st.lists(st.sampled_from(["x", "y", "X", "É", "e"]), max_size=2, unique=True),
    ),
    min_size=0,
    max_size=30,
).map(
    lambda rows: [
        Note(f"{i:032x}", title, body, modified=mod, tags=tuple(tags), version=f"v{i}")
        for i, (title, body, mod, tags) in enumerate(rows)
    ]
)


def typed_texts(keys: list[str]) -> list[str]:
    """The search box's text after each key: a letter or a pasted piece added, or one deleted."""
    texts, box = [], ""
    for key in keys:
        box = box[:-1] if key == BACKSPACE else box + key
        texts.append(box)
    return texts


@settings(max_examples=300, deadline=None)
@given(
    live_notes,
    st.lists(st.one_of(st.sampled_from(KEYS), st.just(BACKSPACE)), min_size=1, max_size=25),
    st.one_of(st.none(), st.integers(0, 6)),
)
def test_the_live_filter_matches_the_reference_while_typing(
    notes: list[Note], keys: list[str], rank_limit: int | None
) -> None:
    """Typing, deleting and pasting into the box, with one index kept throughout (the matches
    of earlier keystrokes reused), gives exactly what a search from scratch gives: the same
    notes in the same order, and the same scores from `search`."""
    index = SearchIndex()
    views = [notes, notes[::2], notes[1::3]]  # the app's list, and other views in between
    for k, text in enumerate(typed_texts(keys)):
        view = views[0] if k % 4 else views[k // 4 % 3]
        expected = reference_live(view, text, rank_limit)
        shown = index.filter(view, text, rank_limit=rank_limit)
        assert [n.id for n in shown] == [i for i, _ in expected], text
        hits = index.search(list(view), text, rank_limit=rank_limit)
        assert [(h.note.id, h.score) for h in hits] == expected, text


@settings(max_examples=300, deadline=None)
@given(
    live_notes,
    st.lists(st.one_of(st.sampled_from(KEYS), st.just(BACKSPACE)), min_size=1, max_size=25),
    st.one_of(st.none(), st.integers(0, 6)),
    st.lists(st.sampled_from(["whole", "folded", "read"]), min_size=30, max_size=30),
)
def test_notes_held_without_their_bodies_search_as_if_they_held_them(
    notes: list[Note], keys: list[str], rank_limit: int | None, held_as: list[str]
) -> None:
    """The app's vault lets go of each body once the index has folded it (`put`), and the
    index reads the body of a note held without it and not folded (its reader): every
    keystroke gives exactly the notes, order and scores the whole notes give, as `filter`,
    `search` and `top`; and a body is read once, not per keystroke."""
    whole = {n.id: n for n in notes}
    held = []
    index_reads: list[str] = []

    def reader(batch: list[Note]) -> dict[str, str]:
        index_reads.extend(n.id for n in batch)
        return {n.id: whole[n.id].body for n in batch}

    index = SearchIndex(reader=reader)
    for note, how in zip(notes, held_as, strict=False):
        if how == "whole":
            held.append(note)
            continue
        bodiless = with_body(note, UNLOADED)
        assert not has_body(bodiless)
        if how == "folded":
            index.put(bodiless, note.body)
        held.append(bodiless)
    views = [held, held[::2], held[1::3]]
    for k, text in enumerate(typed_texts(keys)):
        view = views[0] if k % 4 else views[k // 4 % 3]
        as_whole = [whole[n.id] for n in view]
        expected = reference_live(as_whole, text, rank_limit)
        shown = index.filter(view, text, rank_limit=rank_limit)
        assert [n.id for n in shown] == [i for i, _ in expected], text
        assert all(any(n is v for v in view) for n in shown)  # the view's own notes
        hits = index.search(list(view), text, rank_limit=rank_limit)
        assert [(h.note.id, h.score) for h in hits] == expected, text
        top, total = index.top(list(view), text, 3)
        ranked = reference(as_whole, text)
        assert [(h.note.id, h.score) for h in top] == ranked[:3] and total == len(ranked), text
    assert len(index_reads) == len(set(index_reads))  # each unfolded body read once
    assert set(index_reads) <= {
        n.id for n, how in zip(notes, held_as, strict=False) if how == "read"
    }


def test_the_filter_over_more_notes_than_one_pass_tests_at_once() -> None:
    """Passes test 8,192 notes per call (so the app's screen gets the GIL in between): with
    20,000 notes, matches on both sides of every boundary are kept, in order."""
    notes = [
        Note(f"{i:032x}", f"n{i % 7}", f"alpha{i % 5} beta{i % 3}", modified=i, version=f"v{i}")
        for i in range(20_000)
    ]
    index = SearchIndex()
    for text in ["a", "alpha", "alpha3", "alpha3 -beta1", "alpha", "beta2", "beta2 n4"]:
        shown = index.filter(notes, text, rank_limit=2000)
        assert [n.id for n in shown] == [i for i, _ in reference_live(notes, text, 2000)], text


def reference_fold_with_positions(text: str) -> tuple[str, list[int]]:
    """The folding the highlighter did first: every character folded on its own."""
    if text.isascii():
        return text.casefold(), list(range(len(text) + 1))
    parts: list[str] = []
    origin: list[int] = []
    for i, char in enumerate(text):
        piece = fold(char)
        parts.append(piece)
        origin.extend([i] * len(piece))
    origin.append(len(text))
    return "".join(parts), origin


def reference_snippet(body: str, query_text: str, width: int) -> str:
    """`match_snippet` as it was: every match found, the first one's line shown."""
    query = parse_query(query_text)
    spans = highlight_spans(body, query)
    if not spans:
        return snippet(body, width)
    start = spans[0][0]
    line_start = body.rfind("\n", 0, start) + 1
    line_end = body.find("\n", start)
    raw = body[line_start : line_end if line_end != -1 else len(body)]
    line = plain_line(raw) or raw.strip()
    found = highlight_spans(line, query)
    return excerpt(line, found[0][0] if found else 0, width)


FOLD_TEXT = st.text(
    alphabet=st.sampled_from(list("aAzZ \n-[]()*#é́Éßẞİıŉﬁ…★ǅ\u0301\u20dd\x07Ωω")), max_size=80
)


@settings(max_examples=400, deadline=None)
@given(FOLD_TEXT)
def test_folding_with_positions_matches_folding_each_character(text: str) -> None:
    folded, origin = _fold_with_positions(text)
    want_folded, want_origin = reference_fold_with_positions(text)
    assert folded == want_folded
    assert list(origin) == want_origin


@settings(max_examples=400, deadline=None)
@given(
    FOLD_TEXT,
    st.lists(st.sampled_from(["a", "é", "ss", "z a", "e", "-a", "[", "…", "ω"]), max_size=3),
    st.integers(5, 40),
)
def test_the_match_snippet_finds_the_first_match_as_before(
    body: str, words: list[str], width: int
) -> None:
    text = " ".join(f'"{w}"' if " " in w else w for w in words)
    assert match_snippet(body, parse_query(text), width) == reference_snippet(body, text, width)


def test_a_query_asked_again_is_answered_from_what_was_kept() -> None:
    """A letter deleted gives the answer kept for that text: the same notes in the same
    order, a fresh list each time (changing it changes nothing kept)."""
    notes = [Note(f"{i:032x}", f"alpha {i}", "beta" * (i % 3), version=f"v{i}") for i in range(50)]
    index = SearchIndex()
    first = index.filter(notes, "beta", rank_limit=10)
    index.filter(notes, "betab", rank_limit=10)
    again = index.filter(notes, "beta", rank_limit=10)
    assert [n.id for n in again] == [n.id for n in first]
    assert again is not first
    again.clear()
    assert [n.id for n in index.filter(notes, "beta", rank_limit=10)] == [n.id for n in first]
    hits = index.search(notes, "beta", rank_limit=10)
    assert [h.note.id for h in hits] == [i for i, _ in reference_live(notes, "beta", 10)]


def test_a_letter_typed_looks_on_from_where_the_word_so_far_first_occurs() -> None:
    """Typing on, each text is searched from where the shorter word first occurred (it
    cannot occur before): terms found late, twice, only in the title or not at all are all
    still found, in the reference's order, with and without the cheap title-first order."""
    bodies = ["ab x abc", "abc", "xx ab ab abcd", "a b c", "abcab abc", "ab", "", "zab abcde"]
    titles = ["abcd", "t", "ab", "abc", "x", "abcde", "abc abc", "tab"]
    notes = [
        Note(f"{i:032x}", title, body, modified=i % 3, version=f"v{i}")
        for i, (title, body) in enumerate(zip(titles, bodies, strict=True))
    ]
    for rank_limit in (None, 0, 2, 100):
        index = SearchIndex()
        for text in ["a", "ab", "abc", "abcd", "abcde", "abcd", "abc", "abc -x", "abc -xx"]:
            shown = index.filter(notes, text, rank_limit=rank_limit)
            expected = reference_live(notes, text, rank_limit)
            assert [n.id for n in shown] == [i for i, _ in expected], (text, rank_limit)
            hits = index.search(notes, text, rank_limit=rank_limit)
            assert [(h.note.id, h.score) for h in hits] == expected, (text, rank_limit)
