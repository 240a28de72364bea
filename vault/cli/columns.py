"""Plain column output for long listings: `vault ls` of 10,000 notes in milliseconds.

rich lays out every cell of a table before printing, which takes seconds for thousands of rows;
a listing needs only padding and truncation. Colour is used only on a terminal, and never with
NO_COLOR set (https://no-color.org).
"""

from __future__ import annotations

import os
import shutil
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import add
from typing import Any

from vault.textsafe import is_clean, visible

STYLES = {"bold": "1", "dim": "2", "cyan": "36", "magenta": "35", "green": "32"}
GAP = "  "


@dataclass(frozen=True)
class Column:
    header: str
    style: str = ""
    share: int = 0  # >0: shrinks to fit the terminal, by this share of the space taken away


def cell_width(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def fit(text: str, width: int) -> str:
    """`text` cut to `width` terminal cells (with an ellipsis), padded to exactly `width`."""
    size = cell_width(text)
    if size > width:
        out, used = [], 0
        for ch in text:
            w = cell_width(ch)
            if used + w > width - 1:
                break
            out.append(ch)
            used += w
        text, size = "".join(out) + "…", used + 1
    return text + " " * (width - size)


def colour_on(stream: object = None) -> bool:
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ


def styled(text: str, style: str) -> str:
    """`text` in `style` on a terminal that wants colour; as it is anywhere else. `text` must
    already be safe to show (vault.cli.output.out_styled makes it so)."""
    return _colour(text, style) if colour_on() else text


def _colour(text: str, style: str) -> str:
    codes = _codes(style)
    return f"\x1b[{codes}m{text}\x1b[0m" if codes else text


def _codes(style: str) -> str:
    return ";".join(STYLES[s] for s in style.split() if s in STYLES)


def print_table(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> None:
    """Rows of cells, each shown on one line with its control characters visible: a cell may
    be a title or tag from another device. Colour codes are added after, on a terminal only.

    Worked column by column: a column of plain ASCII text (the common case) is checked, sized
    and padded by C-level string methods rather than cell by cell (10,000 rows: a few
    milliseconds)."""
    print_columns(columns, [[row[i] for row in rows] for i in range(len(columns))])


def print_columns(columns: Sequence[Column], cells_by_column: Sequence[list[str]]) -> None:
    """`print_table` of the cells given column by column (each column's cells, one per row)."""
    stream = sys.stdout
    cells, plain = [], []
    for col in cells_by_column:
        joined = "".join(col)  # one scan of them all when no cell needs `visible`
        shown = col if is_clean(joined) else [visible(cell) for cell in col]
        cells.append(shown)
        plain.append((joined if shown is col else "".join(shown)).isascii())
    colour = colour_on(stream)
    widths = [cell_width(c.header) for c in columns]
    for i, col in enumerate(cells):
        if col:
            widths[i] = max(widths[i], max(map(len if plain[i] else cell_width, col)))
    fit_to_terminal(columns, widths, stream)
    stream.write(header_line(columns, widths, colour))
    stream.write("".join(lines(columns, cells, widths, plain, colour)))


def fit_to_terminal(columns: Sequence[Column], widths: list[int], stream: Any) -> None:
    """Narrow `widths` (each column's widest cell, or its header) to the terminal's width on a
    terminal or with COLUMNS set; a pipe gets every cell whole."""
    if stream.isatty() or "COLUMNS" in os.environ:
        _shrink(columns, widths, shutil.get_terminal_size((100, 24)).columns)


def header_line(columns: Sequence[Column], widths: Sequence[int], colour: bool) -> str:
    last = len(columns) - 1

    def header(i: int, column: Column) -> str:
        text = fit(column.header, widths[i])
        text = text.rstrip() if i == last else text
        return _colour(text, "bold") if colour else text

    return GAP.join(header(i, c) for i, c in enumerate(columns)) + "\n"


def lines(
    columns: Sequence[Column],
    cells: Sequence[list[str]],
    widths: Sequence[int],
    plain: Sequence[bool],
    colour: bool,
) -> list[str]:
    """The table's lines (each ending in a newline) for `cells`, column by column, already
    visible (`print_columns` makes them so); `plain[i]`: column i is all ASCII."""
    last = len(columns) - 1
    if all(plain) and all(
        max(map(len, col), default=0) <= width for col, width in zip(cells, widths, strict=True)
    ):
        # Nothing to cut and one character a cell (the common case, and always into a pipe):
        # each line is one %-format in C, padding and colour in its pattern (the codes hold
        # no '%'); the last column's cells without their trailing blanks, as below.
        parts = []
        for i, column in enumerate(columns):
            spec = "%s" if i == last else f"%-{widths[i]}s"
            if colour and _codes(column.style):
                spec = _colour("\0", column.style).replace("\0", spec)
            parts.append(spec)
        pattern = GAP.join(parts) + "\n"
        rows = zip(*cells[:last], map(str.rstrip, cells[last]), strict=True)
        return list(map(pattern.__mod__, rows))
    shown: list[Iterable[str]] = []
    for i, (column, col) in enumerate(zip(columns, cells, strict=True)):
        fitted: Iterable[str]
        if i == last and plain[i] and not colour and max(map(len, col), default=0) <= widths[i]:
            fitted = map(str.rstrip, col)  # (what padding, then stripping, would leave)
        else:
            fitted = _fit_all(col, widths[i], plain[i])
            if i == last:
                fitted = map(str.rstrip, fitted)
            if colour and _codes(column.style):  # as `_colour` of each cell, in C
                before, after = _colour("\0", column.style).split("\0")
                fitted = map(add, map(add, repeat(before), fitted), repeat(after))
        shown.append(fitted)
    # Each row joined in C (map, zip): no Python step per row of 10,000.
    shown[last] = map(add, shown[last], repeat("\n"))
    return list(map(GAP.join, zip(*shown, strict=True)))


def _fit_all(cells: list[str], width: int, plain: bool) -> list[str]:
    """`fit` of every cell; for ASCII text, one character is one cell."""
    if not plain:
        return [fit(cell, width) for cell in cells]
    if max(map(len, cells), default=0) <= width:  # nothing to cut (always, into a pipe)
        return list(map(str.ljust, cells, repeat(width)))
    cut = width - 1
    return [cell.ljust(width) if len(cell) <= width else cell[:cut] + "…" for cell in cells]


def _shrink(columns: Sequence[Column], widths: list[int], total: int) -> None:
    """Narrow the shrinkable columns until the row fits: always the one widest for its share,
    so short columns keep their full text; none below its header or 8 cells."""
    excess = sum(widths) + len(GAP) * (len(widths) - 1) - total
    floors = [max(8, cell_width(c.header)) for c in columns]
    while excess > 0:
        candidates = [i for i, c in enumerate(columns) if c.share > 0 and widths[i] > floors[i]]
        if not candidates:
            return
        widest = max(candidates, key=lambda i: widths[i] / columns[i].share)
        widths[widest] -= 1
        excess -= 1
