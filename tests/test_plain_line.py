"""`plain_line` (the snippet of a note in lists and `vault ls --json`) skips its patterns when
a line cannot hold what they take off; it must give exactly what running them all gives (the
reference below is the function as it was before that shortcut)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vault.notes import mdtext
from vault.notes.mdtext import plain_line
from vault.notes.model import snippet


def reference(line: str) -> str:
    text = line.strip()
    for _ in range(3):
        stripped = mdtext._TASK.sub("", mdtext._BLOCK.sub("", text, count=1), count=1)
        if stripped == text:
            break
        text = stripped
    for pattern, group in (
        (mdtext._CODE, r"\1"),
        (mdtext._IMAGE, r"\1"),
        (mdtext._LINK, r"\1"),
        (mdtext._REF_LINK, r"\1"),
        (mdtext._AUTOLINK, r"\1"),
        (mdtext._STRONG, r"\2"),
        (mdtext._EMPHASIS, r"\2"),
        (mdtext._STRIKE, r"\1"),
    ):
        text = pattern.sub(group, text)
    return text.strip()


# Markdown's marks, white space of every kind and digits of other scripts, among words.
pieces = st.sampled_from(
    [
        "#", "## ", "> ", ">", "- ", "* ", "+ ", "1. ", "12) ", "\u0663. ", "[ ] ", "[x] ",
        "[X]", "`", "``", "![", "](", "][", "]", "[", "(", ")", "<", ">", "http://a.b",
        "mailto:x", "**", "__", "*", "_", "~~", "~", " ", "\t", "\u3000", "\x1c", "\u2028",
        "word", "snake_case", "é", "漢字", "9", "x",
    ]
)  # fmt: skip
lines = st.lists(pieces | st.text(max_size=3), max_size=14).map("".join)


@settings(max_examples=4000, deadline=None)
@given(lines)
def test_plain_line_is_what_every_pattern_gives(line: str) -> None:
    assert plain_line(line) == reference(line)


def test_snippets_of_common_lines() -> None:
    assert snippet("## **Big** plans\nmore") == "Big plans"
    assert snippet("- [ ] call [Ana](tel:1)") == "call Ana"
    assert snippet("plain words, no marks at all") == "plain words, no marks at all"
    assert snippet("\n\n   \n3. third") == "third"
