"""Which parts of a Markdown note are prose: fenced code blocks and inline code are not.

Wikilinks and headings are read only from prose, so a `[[link]]` or a `# comment` inside a code
sample is left alone (not listed, not rewritten by a rename). Shared by `vault.notes.links` and
`vault.notes.outline`; pure standard library, like every domain module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# An opening fence: up to three spaces, then three or more backticks or tildes (CommonMark).
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_BACKTICKS = re.compile(r"`+")


def prose_lines(body: str) -> Iterator[tuple[int, str]]:
    """(0-based line number, line) for every line outside fenced code blocks. A fence is closed
    by a line of the same character at least as long; an unclosed fence runs to the end."""
    fence: str | None = None
    for number, line in enumerate(body.split("\n")):
        match = _FENCE.match(line)
        if fence is None:
            if match is not None and not (match.group(1)[0] == "`" and "`" in line[match.end() :]):
                fence = match.group(1)
                continue
            yield number, line
        elif (
            match is not None
            and match.group(1)[0] == fence[0]
            and len(match.group(1)) >= len(fence)
            and not line[match.end() :].strip()
        ):
            fence = None


def code_spans(line: str) -> list[tuple[int, int]]:
    """(start, end) of each inline code span in one line: a run of N backticks up to the next
    run of exactly N. An unmatched run is literal text (CommonMark)."""
    spans: list[tuple[int, int]] = []
    if "`" not in line:
        return spans
    runs = list(_BACKTICKS.finditer(line))
    i = 0
    while i < len(runs):
        opening = runs[i]
        closing = next(
            (j for j in range(i + 1, len(runs)) if len(runs[j].group()) == len(opening.group())),
            None,
        )
        if closing is None:
            i += 1
            continue
        spans.append((opening.start(), runs[closing].end()))
        i = closing + 1
    return spans


def in_spans(position: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= position < end for start, end in spans)
