"""`vault ls`'s table (vault.cli.columns): laid out column by column in C, it prints exactly
what a cell-by-cell layout prints, for any cells (hostile, wide, long), widths and colour."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vault.cli import columns
from vault.cli.columns import GAP, Column, _colour, fit
from vault.textsafe import visible

COLUMNS = (Column("ID", "cyan"), Column("Title", share=3), Column("Tags", "green", share=1))


def reference(
    cells: list[list[str]], widths: list[int], plain: list[bool], colour: bool
) -> list[str]:
    """One cell at a time, as `lines` did before it worked in C."""
    last = len(COLUMNS) - 1
    shown = []
    for i, (column, col) in enumerate(zip(COLUMNS, cells, strict=True)):
        fitted = [fit(cell, widths[i]) for cell in col]
        if i == last:
            fitted = [text.rstrip() for text in fitted]
        if colour:
            fitted = [_colour(text, column.style) for text in fitted]
        shown.append(fitted)
    return [GAP.join(parts) + "\n" for parts in zip(*shown, strict=True)]


cell = st.text(st.sampled_from("ab \t\x1b\u00e9\u4e2d\u0301z…"), max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.tuples(cell, cell, cell), max_size=6),
    narrow=st.lists(st.integers(0, 6), min_size=3, max_size=3),
    colour=st.booleans(),
)
def test_lines_are_those_of_a_cell_by_cell_layout(
    rows: list[tuple[str, str, str]], narrow: list[int], colour: bool
) -> None:
    cells = [[visible(row[i]) for row in rows] for i in range(3)]
    plain = ["".join(col).isascii() for col in cells]
    widths = [
        max(max(map(columns.cell_width, col), default=0) - n, 2)
        for col, n in zip(cells, narrow, strict=True)
    ]
    assert columns.lines(COLUMNS, cells, widths, plain, colour) == reference(
        cells, widths, plain, colour
    )


ascii_cell = st.text(st.sampled_from("ab %s%%()\\ \t\x1bz"), max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.tuples(ascii_cell, ascii_cell, ascii_cell), min_size=1, max_size=6),
    wider=st.lists(st.integers(0, 3), min_size=3, max_size=3),
    colour=st.booleans(),
)
def test_plain_lines_made_by_one_format_each_are_the_same(
    rows: list[tuple[str, str, str]], wider: list[int], colour: bool
) -> None:
    """The common case (every cell ASCII, nothing to cut) is laid out by one %-format per
    line: the same lines, '%' in a cell included."""
    cells = [[visible(row[i]) for row in rows] for i in range(3)]
    plain = ["".join(col).isascii() for col in cells]
    assert all(plain)
    widths = [max(map(len, col)) + n for col, n in zip(cells, wider, strict=True)]
    assert columns.lines(COLUMNS, cells, widths, plain, colour) == reference(
        cells, widths, plain, colour
    )
