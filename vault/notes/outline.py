"""A note's outline (its Markdown headings) and its size in words and characters."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vault.notes.markdown_scan import prose_lines

# An ATX heading: up to three spaces, one to six `#`, then a space or the end of the line; a
# closing run of `#` after a space is not part of the text (CommonMark).
_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")


@dataclass(frozen=True)
class Heading:
    level: int  # 1 for `#` .. 6 for `######`
    text: str
    line: int  # 0-based line of the body


def outline(body: str) -> list[Heading]:
    """The headings of `body` in order, outside fenced code blocks."""
    if "#" not in body:
        return []
    headings = []
    for number, line in prose_lines(body):
        match = _ATX.match(line)
        if match is not None:
            text = (match.group(2) or "").strip()
            if text.strip("#") == "":
                text = ""
            headings.append(Heading(len(match.group(1)), text, number))
    return headings


@dataclass(frozen=True)
class Counts:
    words: int
    characters: int


def counts(body: str) -> Counts:
    """Words (runs of non-space) and characters (code points, newlines included)."""
    return Counts(len(body.split()), len(body))
