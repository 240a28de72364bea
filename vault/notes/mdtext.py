"""One line of Markdown as a person reads it, for one-line previews (the note list, search
results, `vault ls`): no heading marks, list bullets, task boxes, emphasis or link targets.

Deliberately small: previews need the words, not a Markdown parser. What it does not know
stays as written.
"""

from __future__ import annotations

import re

_BLOCK = re.compile(
    r"""^\s*(?:
        \#{1,6}\s+                    # heading
      | (?:>\s*)+                     # quote
      | (?:[-*+]|\d{1,9}[.)])\s+      # bullet or numbered item
    )""",
    re.VERBOSE,
)
_TASK = re.compile(r"^\[[ xX]\]\s+")
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)")
_LINK = re.compile(r"\[([^\]\n]+)\]\([^)\n]*\)")
_REF_LINK = re.compile(r"\[([^\]\n]+)\]\[[^\]\n]*\]")
_AUTOLINK = re.compile(r"<((?:https?://|mailto:)[^>\s]+)>")
# Emphasis: the markers around words, not a lone * or an underscore inside snake_case.
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPHASIS = re.compile(r"(?<![\w*])([*_])(?=\S)(.+?)(?<=\S)\1(?![\w*])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_CODE = re.compile(r"`+([^`\n]+?)`+")
_MARK_STARTS = frozenset("#>-*+[")  # (and digits) what a block mark or a task box begins with
_INLINE_MARK = re.compile(r"[`\[<*_~]")  # a character every inline pattern above needs


def plain_line(line: str) -> str:
    """'## **Big** plans' -> 'Big plans'; '- [ ] call [Ana](tel:1)' -> 'call Ana'."""
    text = line.strip()
    # A list item may hold a task box, and a quote may hold a list: take the marks off in turn.
    # Both marks begin the text, which never begins with white space here: a text beginning
    # with anything else has none, and the patterns are not run (a snippet per listed note).
    for _ in range(3):
        first = text[:1]
        if not (first in _MARK_STARTS or first.isdecimal()):
            break
        stripped = _TASK.sub("", _BLOCK.sub("", text, count=1), count=1)
        if stripped == text:
            break
        text = stripped
    if _INLINE_MARK.search(text) is None:  # no code, link, emphasis or strike-through
        return text.strip()
    text = _CODE.sub(r"\1", text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _REF_LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _STRONG.sub(r"\2", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = _STRIKE.sub(r"\1", text)
    return text.strip()


_RULE = re.compile(r"([-*_])(\s*\1){2,}")


def is_rule_or_fence(line: str) -> bool:
    """A line with no words to preview: a code fence or a horizontal rule."""
    text = line.strip()
    if text[:1] not in ("`", "~", "-", "*", "_"):
        return False  # (most lines: none of the patterns is tried)
    return text.startswith(("```", "~~~")) or _RULE.fullmatch(text) is not None


def excerpt(line: str, offset: int, width: int) -> str:
    """At most `width` characters of `line` showing position `offset`, cut at word boundaries
    with an ellipsis on each side that was cut: '…the budget review on…', never 'udget rev'."""
    if len(line) <= width:
        return line
    width = max(width, 2)
    left = max(0, min(offset - width // 3, len(line) - width + 1))
    if left > 0 and not line[left - 1].isspace():
        word = line.rfind(" ", 0, left) + 1  # back to the start of the word cut into...
        if offset - word < width - 2:  # (0: the first word; then nothing is cut on the left)
            left = word
        else:  # ...or on to the next one, if that word is very long
            space = line.find(" ", left, offset)
            left = space + 1 if space != -1 else left
    room = width - (1 if left else 0) - 1
    piece = line[left : left + room]
    if left + room < len(line):
        space = piece.rfind(" ")
        if space > max(room // 2, offset - left):
            piece = piece[:space]
        piece = piece.rstrip() + "…"
    return "…" + piece.lstrip() if left else piece


_TASK_ITEM = re.compile(r"^(\s*(?:[-*+]|\d{1,9}[.)])\s+)\[([ xX])\](?=\s)", re.MULTILINE)
_FENCE = re.compile(r"^\s*(```|~~~)", re.MULTILINE)


def task_boxes(markdown: str) -> str:
    """Task list items with boxes a preview can show: '- [ ] milk' -> '- ☐ milk', '- [x]' ->
    '- ☑'. Markdown renderers without task lists otherwise show the brackets. Code blocks
    keep their text."""
    if "[" not in markdown:
        return markdown
    parts = _FENCE.split(markdown)
    # split with one group: text, fence, text, fence, ...; inside a fence from an odd fence.
    out: list[str] = []
    inside: str | None = None
    for i, part in enumerate(parts):
        if i % 2:  # a fence marker
            inside = None if inside == part else (inside or part)
            out.append(part)
        elif inside is None:
            out.append(
                _TASK_ITEM.sub(lambda m: m.group(1) + ("☐" if m.group(2) == " " else "☑"), part)
            )
        else:
            out.append(part)
    return "".join(out)
