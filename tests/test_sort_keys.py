"""The listing's keys made column by column (`sort_keys`) against the key of one note
(`sort_key`, the definition), and `sort_notes` against a sort by that key: any titles (case,
accents, scripts that fold to several letters), pins, times on either side of the epoch."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vault.notes.cache import sort_key, sort_keys
from vault.notes.editing import sort_notes
from vault.notes.model import Note

_TITLES = st.text(
    alphabet=st.sampled_from(list("aAbBzZ ßẞİıΣσς漢éÉ\u0301ﬀ0-_")), min_size=0, max_size=6
)
_TIMES = st.integers(min_value=-(2**45), max_value=2**45)


@st.composite
def _notes(draw: st.DrawFn) -> list[Note]:
    count = draw(st.integers(min_value=0, max_value=40))
    # Mostly ids as the vault writes them (lowercase hexadecimal of one length: `sort_notes`
    # packs those into its integer keys); sometimes others, which it sorts as tuples.
    alphabet = draw(st.sampled_from(["0123456789abcdef"] * 3 + ["0123456789abcdefABCDEF_ é"]))
    width = draw(st.sampled_from([(4, 4)] * 3 + [(1, 5)]))
    ids = draw(
        st.lists(
            st.text(alphabet, min_size=width[0], max_size=width[1]),
            min_size=count,
            max_size=count,
            unique=True,
        )
    )
    return [
        Note(
            id=note_id,
            title=draw(_TITLES),
            pinned=draw(st.booleans()),
            created=draw(_TIMES),
            modified=draw(st.sampled_from([0, 1, 60_000])) if draw(st.booleans()) else draw(_TIMES),
        )
        for note_id in ids
    ]


@settings(max_examples=300, deadline=None)
@given(_notes(), st.sampled_from(["modified", "created", "title"]))
def test_keys_in_columns_are_the_keys_of_each_note(notes: list[Note], sort: str) -> None:
    assert sort_keys(notes, sort) == list(map(sort_key(sort), notes))
    assert sort_notes(notes, sort) == sorted(notes, key=sort_key(sort))
    assert [n.id for n in sort_notes(notes, sort)] == [
        n.id for n in sorted(notes, key=sort_key(sort))
    ]


def test_an_unknown_order_is_refused_the_same_way() -> None:
    import pytest

    from vault.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="unknown sort order"):
        sort_keys([Note(id="a", title="t")], "size")
    with pytest.raises(InvalidInputError, match="unknown sort order"):
        sort_key("size")
