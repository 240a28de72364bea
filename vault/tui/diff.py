"""Two versions of a text side by side: rows that pair up the lines both have, and mark the
ones that differ. Plain Python (difflib), so the conflict view and its tests share it."""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher


@dataclass(frozen=True)
class Row:
    left: str | None  # None: nothing on this side (the other side has a line here)
    right: str | None
    differs: bool


def side_by_side(left: str, right: str) -> list[Row]:
    """Rows of a two-column diff: equal lines side by side, changed stretches next to each
    other (padded with empty cells where one side has more lines)."""
    a, b = left.splitlines(), right.splitlines()
    rows: list[Row] = []
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows.extend(Row(x, y, False) for x, y in zip(a[i1:i2], b[j1:j2], strict=True))
            continue
        mine, theirs = a[i1:i2], b[j1:j2]
        for k in range(max(len(mine), len(theirs))):
            rows.append(
                Row(
                    mine[k] if k < len(mine) else None,
                    theirs[k] if k < len(theirs) else None,
                    True,
                )
            )
    return rows


def count_differences(rows: list[Row]) -> int:
    """How many separate stretches differ (for 'differs in 3 places')."""
    places = 0
    inside = False
    for row in rows:
        if row.differs and not inside:
            places += 1
        inside = row.differs
    return places
