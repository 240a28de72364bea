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


class _Row:
    __slots__ = ("cells", "key", "line", "note", "path", "widths")

    def __init__(self, note: Note, path: str, key: tuple[Any, ...]) -> None:
        self.note = note
        self.path = path
        self.cells = [visible(cell) for cell in note_cells(note, path)]
        self.widths = [cell_width(cell) for cell in self.cells]
        self.key = key
        self.line = ""


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


def _rows_of(
    changed: Sequence[tuple[Note, str]], key: Callable[[Note], tuple[Any, ...]]
) -> tuple[list[_Row], list[list[int]]]:
    """The rows of many notes at once, as `_Row` makes each: their cells made visible and
    measured column by column, one scan of a column when none of its cells needs `visible`
    or a wide character (100,000 rows: most of the first `vault ls` the agent answers).
    Returns the rows and their cells' widths column by column."""
    notes = [note for note, _ in changed]
    columns = note_columns(notes, [path for _, path in changed])
    cells: list[list[str]] = []
    widths: list[list[int]] = []
    for column in columns:
        joined = "".join(column)
        shown = column if is_clean(joined) else [visible(cell) for cell in column]
        cells.append(shown)
        ascii_only = (joined if shown is column else "".join(shown)).isascii()
        widths.append(list(map(len if ascii_only else cell_width, shown)))
    rows = []
    new = _Row.__new__
    for note, path, row_cells, row_widths in zip(
        notes, columns[2], zip(*cells, strict=True), zip(*widths, strict=True), strict=True
    ):
        row = new(_Row)
        row.note, row.path, row.key, row.line = note, path, key(note), ""
        row.cells, row.widths = row_cells, row_widths  # (tuples: read, never changed)
        rows.append(row)
    return rows, widths


class Listing:
    """The rows of one `vault ls` (one query, one way of showing it), kept between commands:
    its keeper updates it only for a command shown the same way (the same command line,
    environment, time zone, terminal, vault object: vault.cli.served)."""

    def __init__(self, key: Callable[[Note], tuple[Any, ...]], colour: bool) -> None:
        self._key = key
        self._colour = colour
        self._rows: dict[str, _Row] = {}
        self._keys: list[tuple[Any, ...]] = []  # the rows' keys, in order
        self._lines: list[str] = []  # their lines, in the same order
        self._counts = [Counter[int]() for _ in NOTE_COLUMNS]  # cell widths, per column
        self._widths: list[int] | None = None  # the widths the lines were laid out at

    def update(self, notes: Sequence[Note], path_of: Callable[[str | None], str]) -> None:
        """Make the rows those of `notes` (the listing's notes, in any order)."""
        rows = self._rows
        paths: dict[str | None, str] = {}  # thousands of notes share a few notebooks
        changed: list[tuple[Note, str]] = []
        present = 0  # notes that have a row
        if not rows:  # the first listing: every note, its notebook's path found in C
            notebooks = list(map(attrgetter("notebook"), notes))
            paths = {nb: path_of(nb) for nb in set(notebooks)}
            changed = list(zip(notes, map(paths.__getitem__, notebooks), strict=True))
            notes = ()  # (nothing to compare below)
        for note in notes:
            path = paths.get(note.notebook)
            if path is None:
                path = paths[note.notebook] = path_of(note.notebook)
            row = rows.get(note.id)
            if row is not None:
                present += 1
                if row.note is note and row.path == path:
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
        if many:  # (the first listing: every row) made column by column
            fresh, widths = _rows_of(changed, self._key)
            for count, column in zip(self._counts, widths, strict=True):
                count.update(column)
        else:
            fresh = [_Row(note, path, self._key(note)) for note, path in changed]
            for row in fresh:
                for count, width in zip(self._counts, row.widths, strict=True):
                    count[width] += 1
        for row in fresh:
            rows[row.note.id] = row
        if many:
            order = sorted(rows.values(), key=lambda r: r.key)
            self._keys = [row.key for row in order]
            self._lines = [row.line for row in order]  # laid out below
        else:
            for row in fresh:
                at = bisect_left(self._keys, row.key)
                self._keys.insert(at, row.key)
                self._lines.insert(at, "")
        self._lay_out(fresh)

    def _drop(self, row: _Row, in_place: bool) -> None:
        del self._rows[row.note.id]
        for count, width in zip(self._counts, row.widths, strict=True):
            count[width] -= 1
            if not count[width]:
                del count[width]
        if in_place:
            at = bisect_left(self._keys, row.key)
            del self._keys[at]
            del self._lines[at]

    def _lay_out(self, fresh: list[_Row]) -> None:
        """The lines of the new rows, or of every row when a column's width moved."""
        widths = [
            max(cell_width(column.header), max(count) if count else 0)
            for column, count in zip(NOTE_COLUMNS, self._counts, strict=True)
        ]
        fit_to_terminal(NOTE_COLUMNS, widths, sys.stdout)
        every = widths != self._widths
        if every:
            self._widths = widths
            fresh = [self._rows[key[-1]] for key in self._keys]  # a key ends with the note's id
        if not fresh:
            return
        cells = [[row.cells[i] for row in fresh] for i in range(len(NOTE_COLUMNS))]
        plain = ["".join(column).isascii() for column in cells]
        laid = lines(NOTE_COLUMNS, cells, widths, plain, self._colour)
        for row, line in zip(fresh, laid, strict=True):
            row.line = line
        if every:
            self._lines = laid
        else:
            for row in fresh:
                self._lines[bisect_left(self._keys, row.key)] = row.line

    def text(self, reverse: bool = False) -> str:
        """The table as `vault ls` prints it (pinned notes stay on top when reversed)."""
        assert self._widths is not None
        header = header_line(NOTE_COLUMNS, self._widths, self._colour)
        if not reverse:
            return header + "".join(self._lines)
        pinned = bisect_left(self._keys, (True,))  # keys start with `not note.pinned`
        return header + "".join(self._lines[:pinned][::-1]) + "".join(self._lines[pinned:][::-1])

    def __len__(self) -> int:
        return len(self._rows)
