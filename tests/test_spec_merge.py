"""SYNC.md's merge rules are exact: tests/spec_merge.py, written from the text alone, merges
exactly as vault does (same text, same conflict verdict, same payload), so a second
implementation that follows the text makes the same merge under the same op id."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests import spec_merge as spec
from vault.notes import merge
from vault.sync import conflicts

# Few distinct lines, so lines repeat and the diff's tie-breaks decide; every line terminator.
LINES = st.sampled_from(
    ["a\n", "b\n", "c\n", "\n", "d", "x\r\n", "y\r", "z\u2028", "w\x0c", "v\x85", "é\n"]
)
TEXT = st.lists(LINES, max_size=14).map("".join)


@st.composite
def edited(draw: st.DrawFn, base: str) -> str:
    lines = spec.split_lines(base)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(lines)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        if action == "insert":
            lines.insert(at, draw(LINES))
        elif lines:
            at = min(at, len(lines) - 1)
            if action == "delete":
                del lines[at]
            else:
                lines[at] = draw(LINES)
    return "".join(lines)


@st.composite
def forks(draw: st.DrawFn) -> tuple[str, str, str]:
    base = draw(TEXT)
    return base, draw(edited(base)), draw(st.one_of(edited(base), TEXT))


@settings(max_examples=600, deadline=None)
@given(forks())
def test_the_documented_line_merge_is_the_implementation(fork: tuple[str, str, str]) -> None:
    base, mine, theirs = fork
    assert spec.split_lines(base) == base.splitlines(keepends=True)
    done = merge.merge3(base, mine, theirs)
    assert spec.merge_text(base, mine, theirs) == (done.text, done.conflict)
    old, new = base.splitlines(keepends=True), mine.splitlines(keepends=True)
    assert spec.diff(old, new) == merge._diff(old, new)


def test_clean_merges_of_repeated_lines_follow_the_documented_tie_breaks() -> None:
    base = "a\nb\na\nb\na\n"
    cases = [
        ("a\nb\na\nb\na\nc\n", "a\nX\na\nb\na\n"),
        ("a\na\nb\na\n", "a\nb\na\nb\n"),
        ("b\na\nb\na\n", "a\nb\na\nb\na\nb\na\n"),
    ]
    for mine, theirs in cases:
        done = merge.merge3(base, mine, theirs)
        assert spec.merge_text(base, mine, theirs) == (done.text, done.conflict)
    # pinned outcomes, so the rules cannot drift together unnoticed
    assert spec.merge_text(base, *cases[0]) == ("a\nX\na\nb\na\nc\n", False)
    assert spec.merge_text("1\n2\n3\n", "0\n1\n2\n3\n", "1\n2\n3\n4\n") == (
        "0\n1\n2\n3\n4\n",
        False,
    )
    # insertions at one point by both sides collide; edits of adjacent lines do not
    assert spec.merge_text("1\n2\n", "1\nA\n2\n", "1\nB\n2\n")[1] is True
    assert spec.merge_text("1\n2\n3\n", "X\n2\n3\n", "1\nY\n3\n") == ("X\nY\n3\n", False)


def test_a_large_stretch_without_unique_lines_is_one_edit() -> None:
    """Past 250,000 (lines x lines) with no anchor, the whole stretch is one replacement: a
    merge touching it from both sides is a conflict, in both implementations."""
    base = "x\n" * 600
    mine = "A\n" + "x\n" * 598 + "B\n"
    theirs = "x\n" * 300 + "C\n" + "x\n" * 299
    done = merge.merge3(base, mine, theirs)
    assert done.conflict
    assert spec.merge_text(base, mine, theirs) == (done.text, True)
    assert spec.diff(base.splitlines(True), mine.splitlines(True)) == [(0, 600, 0, 600)]


def test_tag_lists_merge_as_documented() -> None:
    cases = [
        (["a", "b"], ["a", "b", "c"], ["b", "a"]),  # only one side changed: its list as is
        (["a", "b"], ["b", "c"], ["a", "d"]),
        (["a"], ["a", "x", "x"], ["a"]),
        ([], ["q", "r"], ["r", "s"]),
        (["a", "b", "c"], ["c", "b"], ["b", "e", "a"]),
    ]
    for base, mine, theirs in cases:
        assert spec.merge_tags(base, mine, theirs) == merge.merge_sets(base, mine, theirs)
    assert spec.merge_tags(["a", "b"], ["b", "c"], ["a", "d"]) == ["c", "d"]


PAYLOAD = st.fixed_dictionaries(
    {
        "kind": st.just("note"),
        "title": st.sampled_from(["T", "U"]),
        "body": TEXT,
        "tags": st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
        "notebook": st.sampled_from([None, "n1"]),
        "pinned": st.booleans(),
        "created": st.integers(0, 3),
        "modified": st.integers(0, 3),
        "trashed": st.sampled_from([None, 5, 6]),
    },
    optional={"extra": st.sampled_from([1, "x"])},
)


@settings(max_examples=300, deadline=None)
@given(PAYLOAD, PAYLOAD, PAYLOAD, st.sampled_from(["note", "notebook", "tag"]))
def test_the_documented_field_rules_are_the_implementation(
    base: dict, a: dict, b: dict, kind: str
) -> None:
    assert spec.merge_payloads(kind, base, a, b) == conflicts.merge_payloads(kind, base, a, b)
    assert spec.merge_payloads(kind, {}, a, b) == conflicts.merge_payloads(kind, None, a, b)


def test_merge_op_id_vector() -> None:
    """The vector in SYNC.md, "Merging forks", step 2."""
    item, heads = "a1b2c3d4e5f60718293a4b5c6d7e8f90", ["f" * 32, "0" * 32]
    expected = "0783042b53f91d2642142f46429223a8"
    assert spec.merge_op_id(item, heads) == conflicts.merge_op_id(item, heads) == expected
