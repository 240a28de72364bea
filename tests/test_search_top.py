"""`SearchIndex.top` (what `vault search` shows: the first N of the ranking) scores only the
matches that bounds from their titles cannot rule out: it must give exactly the first N of
the full ranking, the same notes in the same order with the same scores, and the same count
of matches, for every query. Checked against `reference` (the plain BM25-like loop the
ranking is defined by) and against the index's own full ranking (`search`)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_search_rank import reference
from vault.notes.model import Note
from vault.notes.search import SearchIndex

# Few words, some inside others and some folding alike, so that titles often hold a term
# (once or more, or first), bodies hold it 0 to many times, and scores often tie.
WORDS = ["alpha", "alp", "beta", "gamma", "café", "cafe", "al", "éta", "x"]
texts = st.lists(st.sampled_from(WORDS), min_size=0, max_size=8).map(" ".join)
# A body: a word repeated 0-30 times among others, so that a note whose title holds a term
# less often can still rank above one holding it more (its body part is near 2.2).
bodies = st.tuples(
    st.sampled_from(WORDS),
    st.integers(0, 30),
    st.lists(st.sampled_from(WORDS), min_size=0, max_size=30),
).map(lambda b: " ".join([b[0]] * b[1] + b[2]))
corpora = st.lists(
    st.tuples(texts, bodies, st.integers(0, 2), st.lists(st.sampled_from(["x", "Y"]), max_size=2)),
    min_size=0,
    max_size=60,
).map(
    lambda rows: [
        Note(f"{i:032x}", title, body, modified=mod, tags=tuple(tags), version=f"v{i}")
        for i, (title, body, mod, tags) in enumerate(rows)
    ]
)
queries = st.lists(
    st.one_of(
        st.sampled_from(WORDS),
        st.sampled_from(WORDS).map(lambda w: "-" + w),
        st.sampled_from(["tag:x", "tag:y"]),
        st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS)).map(lambda p: f'"{p[0]} {p[1]}"'),
    ),
    min_size=1,
    max_size=3,
).map(" ".join)


@settings(max_examples=500, deadline=None)
@given(
    corpora,
    st.lists(
        st.tuples(queries, st.one_of(st.integers(0, 3), st.integers(1, 12))), min_size=1, max_size=4
    ),
)
def test_the_top_is_the_first_of_the_full_ranking(
    notes: list[Note], asked: list[tuple[str, int]]
) -> None:
    index = SearchIndex()  # one index across queries: what it keeps must not leak
    for text, limit in asked:
        expected = reference(notes, text)
        hits, total = index.top(list(notes), text, limit)
        assert [(h.note.id, h.score) for h in hits] == expected[:limit], (text, limit)
        assert total == len(expected)
        again, total = index.top(notes, text, limit)  # kept, and on the very same list
        assert [(h.note.id, h.score) for h in again] == expected[:limit], (text, limit)
        full = index.search(notes, text)
        assert [(h.note.id, h.score) for h in full] == expected, text
        hits, total = index.top(notes, text, limit)  # from the full answer now kept
        assert [(h.note.id, h.score) for h in hits] == expected[:limit], (text, limit)
        assert total == len(expected)


def test_a_word_in_most_notes_is_ranked_from_the_notes_holding_it_in_their_titles() -> None:
    """The case the bounds are for: a word in every note, in a few titles (once, twice, first
    or not), in the bodies 0 to 30 times, notes of many lengths, many ties of score and
    time. The first places are the same as the full ranking's, for small and large N."""
    notes = []
    for i in range(3000):
        title = ["note", f"n{i}"]
        if i % 37 == 0:
            title.insert(0, "word")
        if i % 101 == 0:
            title.append("word word")
        body = " ".join(["word"] * (i % 31) + ["filler"] * (i % 13) + ["x word"])
        notes.append(Note(f"{i:032x}", " ".join(title), body, modified=i % 4, version=f"v{i}"))
    for text in ["word", "word -n7", "word filler", '"x word"', "wor", "word n1"]:
        expected = reference(notes, text)
        for limit in (1, 3, 50, 81, 82, 2999, 3000, 5000):
            hits, total = SearchIndex().top(notes, text, limit)
            assert [(h.note.id, h.score) for h in hits] == expected[:limit], (text, limit)
            assert total == len(expected)
