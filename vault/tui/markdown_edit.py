"""What the note editor knows of Markdown beyond its grammar: carrying a list on to the next line,
and where the inline styles (**bold**, *em*, `code`) are in a line. Plain functions of text, so
they are tested without the app."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ITEM = re.compile(
    r"^(?P<indent>\s*)(?P<marker>[-*+]|\d{1,9}[.)])(?P<gap>\s+)(?P<box>\[[ xX]\]\s+)?"
)


@dataclass(frozen=True)
class ListStep:
    """What enter does after a list item: `prefix` starts the next item; `end` means the item
    was empty, so the list ends (its marker goes, the line is left blank)."""

    prefix: str = ""
    end: bool = False


def continue_list(line: str) -> ListStep | None:
    """The next item for a list line (`- `, `* `, `1. ` counted on, `- [ ] `), or None when the
    line is no list item."""
    match = _ITEM.match(line)
    if match is None:
        return None
    if not line[match.end() :].strip():
        return ListStep(end=True)
    marker = match["marker"]
    if marker[0].isdigit():
        marker = f"{int(marker[:-1]) + 1}{marker[-1]}"
    box = "[ ] " if match["box"] else ""
    return ListStep(prefix=f"{match['indent']}{marker}{match['gap']}{box}")


_CODE = re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EM = re.compile(
    r"(?<![*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![*])|(?<![_\w])_(?=\S)(.+?)(?<=\S)_(?!\w)"
)
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")


def inline_spans(line: str) -> list[tuple[int, int, str]]:
    """(start, end, style) in characters for the inline code, bold and emphasis of one line.
    Nothing inside code is styled further; *em* inside **bold** is both."""
    code = [(*m.span(), "inline_code") for m in _CODE.finditer(line)]

    def outside_code(match: re.Match[str]) -> bool:
        start, end = match.span()
        return all(end <= a or start >= b for a, b, _ in code)

    bold = [(*m.span(), "bold") for m in _BOLD.finditer(line) if outside_code(m)]
    em = [(*m.span(), "italic") for m in _EM.finditer(line) if outside_code(m)]
    return [*code, *bold, *em]


def markdown_inline_spans(lines: list[str]) -> dict[int, list[tuple[int, int, str]]]:
    """Inline spans per line index, skipping fenced code blocks."""
    result: dict[int, list[tuple[int, int, str]]] = {}
    fence: str | None = None
    for index, line in enumerate(lines):
        opening = _FENCE.match(line)
        if fence is not None:
            if opening and opening.group(1) == fence:
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            continue
        if "*" in line or "_" in line or "`" in line:
            spans = inline_spans(line)
            if spans:
                result[index] = spans
    return result
