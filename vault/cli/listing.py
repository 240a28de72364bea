"""`vault ls`'s table, kept up to date by the session agent between commands.

The agent (vault.cli.served) answers `vault ls` many times on one open vault, and between two
listings usually one note changed (the one just added or edited). Laying out 10,000 rows again
each time costs far more than the rest of the command, so the agent keeps a `Listing`: each
note's row (its visible cells, their widths, its place in the order and its laid-out line),
keyed by everything the row depends on (the note, which is a new object whenever it changes,
and its notebook's path). An update compares the notes with the rows (one pass over them, by
identity), lays out only the rows of notes that changed, and moves them in the order by
insertion; the column widths are the widest cell of each column, counted per width, so a change
re-lays out every row only when a column's width moves.

The output is the command's own by construction: the same cells (`note_cells`, which
`vault.cli.note_commands` uses too), the same column code (`vault.cli.columns.lines`: control
characters shown visibly, cut and padded the same way, coloured the same way) and the same
order (`vault.notes.editing.sort_key`); tests/test_served.py compares the two byte for byte
after every kind of change.

The rows are decrypted text (titles, notebook paths, tags) the agent already holds in its open
vault; they are kept only in the agent's memory and forgotten with the vault (docs/SECURITY.md).
"""

from __future__ import annotations

import sys
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import repeat
from operator import attrgetter, floordiv, itemgetter
from typing import Any

from vault.cli.columns import Column, cell_width, fit_to_terminal, header_line, lines
from vault.cli.common import fmt_time
from vault.notes.cache import sort_key, sort_keys
from vault.notes.model import Note
from vault.sealing.envelope import short
from vault.textsafe import is_clean, visible

NOTE_COLUMNS = (
    Column("ID", "cyan"),
    Column("Title", share=3),
    Column("Notebook", "magenta", share=1),
    Column("Tags", "green", share=1),
    Column("Modified", "dim"),
)
# Past this many changed rows, the order is sorted again rather than changed row by row.
RESORT = 256


def title_cell(note: Note) -> str:
    return ("★ " if note.pinned else "") + note.title + (" ⚠" if note.conflict else "")


def note_cells(note: Note, path: str) -> tuple[str, str, str, str, str]:
    """A note's cells in `vault ls` (as stored: not yet made visible)."""
    return short(note.id), title_cell(note), path, ", ".join(note.tags), fmt_time(note.modified)


# A row: the note, its notebook's path, its key in the order, its visible cells and their
# widths. A plain tuple, so a whole listing's rows are made in C (zip), not one object each.
_NOTE, _PATH, _KEY, _CELLS, _WIDTHS = range(5)
Row = tuple[Note, str, tuple[Any, ...], tuple[str, ...], tuple[int, ...]]


def _row(note: Note, path: str, key: tuple[Any, ...]) -> Row:
    cells = tuple(visible(cell) for cell in note_cells(note, path))
    return note, path, key, cells, tuple(map(cell_width, cells))


# Local times are formatted once per UTC minute only from 1973 on: every zone's offset has been
# whole minutes since (Liberia's -0:44:30 ended in 1972; local mean times had seconds).
WHOLE_MINUTE_OFFSETS_MS = 94_694_400_000  # 1973-01-01T00:00:00Z
# `short` of an id, in C (a slice), as vault.sealing.envelope.short (tests/test_served.py
# compares `vault ls`'s table with the session agent's, made with `short`, byte for byte).
_SHORT = itemgetter(slice(None, 8))


def note_columns(notes: Sequence[Note], paths: Sequence[str]) -> list[list[str]]:
    """`note_cells` of each note (its notebook's path in `paths`, in the same order), column
    by column: one pass per column, with C-level maps where they serve."""
    stamps = list(map(attrgetter("modified"), notes))
    if stamps and min(stamps) >= WHOLE_MINUTE_OFFSETS_MS:
        # Formatted once per minute: many notes share one (an import, a sync).
        minutes = list(map(floordiv, stamps, repeat(60_000)))
        when = {minute: fmt_time(minute * 60_000) for minute in set(minutes)}
        modified = list(map(when.__getitem__, minutes))
    else:  # one UTC minute can span two local ones when the offset has seconds
        modified = list(map(fmt_time, stamps))
    marked = any(map(attrgetter("pinned"), notes)) or any(map(attrgetter("conflict"), notes))
    return [
        list(map(_SHORT, map(attrgetter("id"), notes))),
        list(map(title_cell if marked else attrgetter("title"), notes)),
        list(paths),
        list(map(", ".join, map(attrgetter("tags"), notes))),
        modified,
    ]


def _cells_of(
    notes: list[Note], paths: list[str]
) -> tuple[list[list[str]], list[list[int]], list[bool]]:
    """The cells of many notes at once, as `_row` makes each's: made visible and measured
    column by column, one scan of a column when none of its cells needs `visible` or a wide
    character (100,000 rows: most of the first `vault ls` the agent answers). Returns the
    cells, their widths and whether each column is all ASCII, column by column."""
    cells: list[list[str]] = []
    widths: list[list[int]] = []
    plain: list[bool] = []
    for column in note_columns(notes, paths):
        joined = "".join(column)
        # (printable text is clean: what `visible` shows is never printable; one C scan)
        clean = joined.isprintable() or is_clean(joined)
        shown = column if clean else [visible(cell) for cell in column]
        cells.append(shown)
        plain.append((joined if clean else "".join(shown)).isascii())
        widths.append(list(map(len if plain[-1] else cell_width, shown)))
    return cells, widths, plain


def _rows_of(
    notes: list[Note],
    paths: list[str],
    keys: list[tuple[Any, ...]],
    cells: list[list[str]],
    widths: list[list[int]],
) -> list[Row]:
    """The rows of `_cells_of`'s cells, made in C."""
    return list(
        zip(notes, paths, keys, zip(*cells, strict=True), zip(*widths, strict=True), strict=True)
    )


class Listing:
    """The rows of one `vault ls` (one query, one way of showing it), kept between commands:
    its keeper updates it only for a command shown the same way (the same command line,
    environment, time zone, terminal, vault object: vault.cli.served)."""

    def __init__(self, sort: str, colour: bool) -> None:
        self._sort = sort
        self._key = sort_key(sort)
        self._colour = colour
        self._rows: dict[str, Row] = {}  # by note id
        self._keys: list[tuple[Any, ...]] = []  # the rows' keys, in order
        self._lines: list[str] = []  # their lines, in the same order
        self._counts = [Counter[int]() for _ in NOTE_COLUMNS]  # cell widths, per column
        self._widths: list[int] | None = None  # the widths the lines were laid out at
        # A first listing's rows, not made yet (`settle`): its answer needs only the lines.
        self._pending: tuple[Any, ...] | None = None

    @property
    def pending(self) -> bool:
        """Whether a first listing's rows are still to be made (`settle`)."""
        return self._pending is not None

    def settle(self) -> None:
        """Make the rows a first listing left to make (the session agent calls this once the
        answer is sent; anything that reads the rows calls it first): 100,000 rows and their
        width counts, a fifth of laying the listing out, not on the caller's clock."""
        if self._pending is None:
            return
        notes, paths, keys, cells, widths = self._pending
        self._pending = None
        for count, column in zip(self._counts, widths, strict=True):
            count.update(column)
        rows = _rows_of(notes, paths, keys, cells, widths)
        self._rows.update(zip(map(attrgetter("id"), notes), rows, strict=True))

    def update(self, notes: Sequence[Note], path_of: Callable[[str | None], str]) -> None:
        """Make the rows those of `notes` (the listing's notes, in any order)."""
        self.settle()
        rows = self._rows
        paths: dict[str | None, str] = {}  # thousands of notes share a few notebooks
        changed: list[tuple[Note, str]] = []
        present = 0  # notes that have a row
        if not rows:  # the first listing: every note, its notebook's path found in C
            notebooks = list(map(attrgetter("notebook"), notes))
            paths = {nb: path_of(nb) for nb in set(notebooks)}
            self._every(list(notes), list(map(paths.__getitem__, notebooks)))
            return
        for note in notes:
            path = paths.get(note.notebook)
            if path is None:
                path = paths[note.notebook] = path_of(note.notebook)
            row = rows.get(note.id)
            if row is not None:
                present += 1
                if row[_NOTE] is note and row[_PATH] == path:
                    continue
            changed.append((note, path))
        if present != len(rows):  # some rows' notes are gone (or left this listing)
            live = {note.id for note in notes}
            for gone in [i for i in rows if i not in live]:
                self._drop(rows[gone], len(changed) < RESORT)
        many = len(changed) >= RESORT
        for note, _ in changed:
            old = rows.get(note.id)
            if old is not None:
                self._drop(old, not many)
        if many:
            self._every([n for n, _ in changed], [p for _, p in changed])
            return
        fresh = [_row(note, path, self._key(note)) for note, path in changed]
        for row in fresh:
            rows[row[_NOTE].id] = row
            for count, width in zip(self._counts, row[_WIDTHS], strict=True):
                count[width] += 1
            at = bisect_left(self._keys, row[_KEY])
            self._keys.insert(at, row[_KEY])
            self._lines.insert(at, "")
        self._lay_out(fresh)

    def resorted(self, sort: str) -> Listing:
        """A listing of the same rows shown the same way, in `sort`'s order: the lines are the
        same (a note's line does not depend on the order), so only the keys are made and
        sorted (100,000 rows: a fifth of laying them out). `update` then brings it up to date."""
        self.settle()
        other = Listing(sort, self._colour)
        rows = self._rows.values()
        notes = list(map(itemgetter(_NOTE), rows))
        keys = sort_keys(notes, sort)
        other._rows = dict(
            zip(
                self._rows,
                zip(
                    notes,
                    map(itemgetter(_PATH), rows),
                    keys,
                    map(itemgetter(_CELLS), rows),
                    map(itemgetter(_WIDTHS), rows),
                    strict=True,
                ),
                strict=True,
            )
        )
        line_of = dict(zip(map(itemgetter(-1), self._keys), self._lines, strict=True))
        other._keys = sorted(keys)
        other._lines = list(map(line_of.__getitem__, map(itemgetter(-1), other._keys)))
        other._counts = [Counter(count) for count in self._counts]
        other._widths = None if self._widths is None else list(self._widths)
        return other

    def _every(self, notes: list[Note], paths: list[str]) -> None:
        """Rows for these notes (the first listing, or many changed), made column by column,
        and every row put in order and laid out again."""
        keys = sort_keys(notes, self._sort)
        cells, widths, plain = _cells_of(notes, paths)
        self._pending = (notes, paths, keys, cells, widths)
        if self._rows:  # many changed: their rows now, every line laid out again
            self.settle()
            self._keys = sorted(map(itemgetter(_KEY), self._rows.values()))
            self._widths = None  # (every line is laid out anew)
            self._lay_out([])
            return
        # The first listing: laid out in the order the notes are held, then its lines put in
        # order by one C pass (in any other order, every read of a note or a cell misses the
        # CPU's cache: by title, that took a third longer); its rows are made later (`settle`).
        order = sorted(range(len(keys)), key=keys.__getitem__)
        self._keys = list(map(keys.__getitem__, order))
        self._widths = self._fitted([max(column, default=0) for column in widths])
        laid = lines(NOTE_COLUMNS, cells, self._widths, plain, self._colour)
        self._lines = list(map(laid.__getitem__, order))

    def _drop(self, row: Row, in_place: bool) -> None:
        del self._rows[row[_NOTE].id]
        for count, width in zip(self._counts, row[_WIDTHS], strict=True):
            count[width] -= 1
            if not count[width]:
                del count[width]
        if in_place:
            at = bisect_left(self._keys, row[_KEY])
            del self._keys[at]
            del self._lines[at]

    def _fitted(self, widest: list[int] | None = None) -> list[int]:
        """The columns' widths: each one's widest cell (`widest`, else from the counts) or its
        header, fitted to the terminal."""
        if widest is None:
            widest = [max(count) if count else 0 for count in self._counts]
        widths = [
            max(cell_width(column.header), most)
            for column, most in zip(NOTE_COLUMNS, widest, strict=True)
        ]
        fit_to_terminal(NOTE_COLUMNS, widths, sys.stdout)
        return widths

    def _lay_out(self, fresh: list[Row]) -> None:
        """The lines of the new rows, or of every row when a column's width moved."""
        widths = self._fitted()
        every = widths != self._widths
        if every:
            self._widths = widths
            # (a key ends with its note's id)
            fresh = list(map(self._rows.__getitem__, map(itemgetter(-1), self._keys)))
        if not fresh:
            return
        cells = [list(column) for column in zip(*map(itemgetter(_CELLS), fresh), strict=True)]
        plain = ["".join(column).isascii() for column in cells]
        laid = lines(NOTE_COLUMNS, cells, widths, plain, self._colour)
        if every:
            self._lines = laid
        else:
            for row, line in zip(fresh, laid, strict=True):
                self._lines[bisect_left(self._keys, row[_KEY])] = line

    def text(self, reverse: bool = False) -> str:
        """The table as `vault ls` prints it (pinned notes stay on top when reversed)."""
        assert self._widths is not None
        header = header_line(NOTE_COLUMNS, self._widths, self._colour)
        if not reverse:
            return header + "".join(self._lines)
        pinned = bisect_left(self._keys, (True,))  # keys start with `not note.pinned`
        return header + "".join(self._lines[:pinned][::-1]) + "".join(self._lines[pinned:][::-1])

    def __len__(self) -> int:
        self.settle()
        return len(self._rows)
