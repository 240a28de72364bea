"""One-line previews of Markdown (vault.notes.mdtext): the words as read, cut at word boundaries."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vault.notes.mdtext import excerpt, plain_line, task_boxes
from vault.notes.model import snippet
from vault.notes.search import match_snippet, parse_query


def test_marks_come_off_and_words_stay() -> None:
    cases = {
        "## **Big** plans": "Big plans",
        "- [ ] call [Ana](tel:1) about `code`": "call Ana about code",
        "> - [x] done *it*": "done it",
        "1. Ship the sync_engine_now": "Ship the sync_engine_now",
        "a * b * c": "a * b * c",
        "![a cat](cat.png) on a mat": "a cat on a mat",
        "see <https://example.com>": "see https://example.com",
        "~~old~~ new": "old new",
    }
    assert {line: plain_line(line) for line in cases} == cases
    assert snippet("```\ncode\n```\n---\n# **Title**\n") == "code"
    assert snippet("---\n\n- [ ] milk\n") == "milk"


def test_a_match_snippet_starts_at_a_word() -> None:
    body = "Intro\n\n" + " ".join(f"word{i}" for i in range(40)) + " target " + "tail " * 20
    shown = match_snippet(body, parse_query("target"), 40)
    assert shown.startswith("…word") and shown.endswith("…") and "target" in shown
    assert len(shown) <= 40
    # A match inside a link's address is not shown: the line's words are.
    linked = match_snippet("see [the docs](https://example.com/zqx)", parse_query("zqx"), 40)
    assert linked == "see the docs"


def test_task_boxes_outside_code() -> None:
    text = "- [ ] milk\n- [x] eggs\n```\n- [ ] code\n```\n[ ] not an item\n"
    assert task_boxes(text) == "- ☐ milk\n- ☑ eggs\n```\n- [ ] code\n```\n[ ] not an item\n"


words = st.lists(st.text("abcdefgh", min_size=1, max_size=12), min_size=1, max_size=30)


@given(words, st.integers(0, 400), st.integers(8, 80))
def test_excerpt_fits_and_shows_its_word(parts: list[str], at: int, width: int) -> None:
    line = " ".join(parts)
    offset = min(at, len(line) - 1)
    shown = excerpt(line, offset, width)
    assert len(shown) <= width
    if len(line) <= width:
        assert shown == line
    else:
        inner = shown.strip("…")
        assert inner and inner in line
        if shown.startswith("…"):  # cut on the left: at the start of a word
            starts = [i for i in range(len(line)) if line.startswith(inner, i)]
            # unless a word is too long to fit with its ellipses: then it is cut, as it must be
            too_long = max(map(len, parts)) >= width - 2
            assert any(line[i - 1] == " " for i in starts if i > 0) or too_long


def _snippet_of_every_line(body: str, width: int = 80) -> str:
    """`snippet` as first written: every line of the body, in turn."""
    from vault.notes.mdtext import excerpt, is_rule_or_fence, plain_line

    for line in body.splitlines():
        if is_rule_or_fence(line):
            continue
        text = plain_line(line)
        if text:
            return excerpt(text, 0, width)
    return ""


_PIECES = st.sampled_from(
    ["", " ", "word", "## Head", "---", "```", "~~~", "- [ ] task", "> quote", "*", "é漢",
     "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\n\n", "x" * 100]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=60), st.integers(min_value=0, max_value=520))
def test_a_snippet_from_the_first_lines_is_the_snippet_of_every_line(
    pieces: list[str], pad: int
) -> None:
    # Padded so that the line breaks fall on either side of where the first look stops.
    body = "\n" * (pad % 3) + " " * pad + "".join(pieces)
    assert snippet(body) == _snippet_of_every_line(body)
