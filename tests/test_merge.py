"""Tests for vault.notes.merge: three-way merge of note text and tag lists."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vault.notes.merge import MergeResult, _diff, _merge_lines, merge3, merge_sets

# --- strategies --------------------------------------------------------------------------------

# Every character str.splitlines() treats as a line boundary; line content must avoid them or a
# generated "line" would silently become several.
_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"

_content = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=_BREAKS),
    max_size=12,
)
# Full lines: content plus an ending. Mixed LF/CRLF on purpose.
_line = st.builds(lambda c, e: c + e, _content, st.sampled_from(["\n", "\r\n"]))
_lines = st.lists(_line, max_size=8)
# A final line without a newline, or none.
_tail = st.one_of(st.just(""), _content.filter(bool))

# A tiny vocabulary makes repeated lines and overlapping edits common, which is where the diff
# has choices to make.
_small_line = st.sampled_from(["a\n", "b\n", "c\n", "\n", "d\r\n"])


@st.composite
def _edited(draw: st.DrawFn, base: list[str]) -> list[str]:
    """A random edit of `base`: each line kept, dropped or replaced, with insertions between."""
    out: list[str] = []
    for line in base:
        out.extend(draw(st.lists(_small_line, max_size=2)))
        action = draw(st.sampled_from(["keep", "keep", "keep", "drop", "replace"]))
        if action == "keep":
            out.append(line)
        elif action == "replace":
            out.append(draw(_small_line))
    out.extend(draw(st.lists(_small_line, max_size=2)))
    return out


@st.composite
def _triples(draw: st.DrawFn) -> tuple[str, str, str]:
    base = draw(st.lists(_small_line, max_size=10))
    tail = draw(st.sampled_from(["", "z"]))
    mine = draw(_edited(base))
    theirs = draw(_edited(base))
    return "".join(base) + tail, "".join(mine) + tail, "".join(theirs) + tail


def _clean(text: str) -> MergeResult:
    return MergeResult(text, False, 0)


# --- properties --------------------------------------------------------------------------------


@given(st.text(), st.text())
def test_only_theirs_changed_gives_theirs(base: str, x: str) -> None:
    assert merge3(base, base, x) == _clean(x)


@given(st.text(), st.text())
def test_only_mine_changed_gives_mine(base: str, x: str) -> None:
    assert merge3(base, x, base) == _clean(x)


@given(st.text(), st.text())
def test_same_change_on_both_sides_gives_it(base: str, x: str) -> None:
    assert merge3(base, x, x) == _clean(x)


@given(st.text(), st.text())
def test_general_path_agrees_with_the_shortcuts(base: str, x: str) -> None:
    # merge3 short-circuits these cases; the line merge must reach the same answers on its own,
    # otherwise the shortcuts would be hiding a bug that shows up once both sides edit.
    b = base.splitlines(keepends=True)
    xs = x.splitlines(keepends=True)
    assert _merge_lines(b, b, xs) == (xs, 0)
    assert _merge_lines(b, xs, b) == (xs, 0)
    assert _merge_lines(b, xs, xs) == (xs, 0)


@settings(max_examples=300)
@given(_triples())
def test_swapping_sides_keeps_the_verdict(triple: tuple[str, str, str]) -> None:
    base, mine, theirs = triple
    forward = merge3(base, mine, theirs)
    backward = merge3(base, theirs, mine)
    assert forward.conflict == backward.conflict
    assert forward.conflicts == backward.conflicts
    assert forward.conflict == (forward.conflicts > 0)
    if not forward.conflict:
        # A clean merge has no "mine wins" choice in it, so it cannot depend on the order.
        assert forward.text == backward.text


@settings(max_examples=300)
@given(_lines, _line, _lines, _tail, _lines, _lines, _tail)
def test_edits_in_separate_halves_merge_cleanly(
    first: list[str],
    separator: str,
    second: list[str],
    base_tail: str,
    mine_first: list[str],
    theirs_second: list[str],
    theirs_tail: str,
) -> None:
    # Mine rewrites only the first half, theirs only the second half (and the unterminated final
    # line), with an untouched line between them. That line must be distinct from every other:
    # if an edit inserts a copy of it next to it, no line diff can tell which side of it the
    # edit was on (inserting "s" before "s" is inserting it after), so the edit may legitimately
    # slide across into the other half.
    assume(separator not in [*first, *second, *mine_first, *theirs_second])
    base = "".join([*first, separator, *second]) + base_tail
    mine = "".join([*mine_first, separator, *second]) + base_tail
    theirs = "".join([*first, separator, *theirs_second]) + theirs_tail
    expected = "".join([*mine_first, separator, *theirs_second]) + theirs_tail

    assert merge3(base, mine, theirs) == _clean(expected)
    assert merge3(base, theirs, mine) == _clean(expected)


@settings(max_examples=300)
@given(st.lists(_small_line, max_size=30), st.data())
def test_diff_spans_rebuild_the_other_side(base: list[str], data: st.DataObject) -> None:
    # The merge's correctness rests on this: spans are sorted, never touch (an equal line between
    # any two, which is what keeps adjacent edits from one side apart), and replaying them on
    # base gives the other side exactly.
    other = data.draw(_edited(base))
    spans = _diff(base, other)
    rebuilt: list[str] = []
    i = j = 0
    for i1, i2, j1, j2 in spans:
        assert i <= i1 and j <= j1
        assert i1 - i == j1 - j
        if rebuilt:
            assert i1 > i, "spans touch"
        assert (i1, j1) != (i2, j2), "empty span"
        assert base[i:i1] == other[j:j1]
        rebuilt += other[j:j2]
        i, j = i2, j2
    assert base[i:] == other[j:]
    rebuilt += base[i:]
    assert rebuilt == other


# --- examples: clean merges ----------------------------------------------------------------------

BASE = "one\ntwo\nthree\nfour\nfive\n"


def test_disjoint_edits_merge() -> None:
    mine = "ONE\ntwo\nthree\nfour\nfive\n"
    theirs = "one\ntwo\nthree\nfour\nFIVE\n"
    assert merge3(BASE, mine, theirs) == _clean("ONE\ntwo\nthree\nfour\nFIVE\n")


def test_adjacent_line_changes_merge_cleanly() -> None:
    mine = "one\ntwo\nTHREE\nfour\nfive\n"
    theirs = "one\ntwo\nthree\nFOUR\nfive\n"
    expected = "one\ntwo\nTHREE\nFOUR\nfive\n"
    assert merge3(BASE, mine, theirs) == _clean(expected)
    assert merge3(BASE, theirs, mine) == _clean(expected)


def test_adjacent_multi_line_changes_merge_cleanly() -> None:
    mine = "uno\ndos\nthree\nfour\nfive\n"  # lines 1-2
    theirs = "one\ntwo\ntres\ncuatro\nfive\n"  # lines 3-4
    assert merge3(BASE, mine, theirs) == _clean("uno\ndos\ntres\ncuatro\nfive\n")


def test_adjacent_deletions_merge_cleanly() -> None:
    mine = "one\ntwo\nfour\nfive\n"  # drops line 3
    theirs = "one\ntwo\nthree\nfive\n"  # drops line 4
    assert merge3(BASE, mine, theirs) == _clean("one\ntwo\nfive\n")


def test_adjacent_delete_and_change_merge_cleanly() -> None:
    mine = "one\ntwo\nfour\nfive\n"  # drops line 3
    theirs = "one\ntwo\nthree\nFOUR\nfive\n"  # changes line 4
    assert merge3(BASE, mine, theirs) == _clean("one\ntwo\nFOUR\nfive\n")


def test_insertion_next_to_a_changed_line_merges_cleanly() -> None:
    # Theirs adds a line after line 3 while mine rewrites line 3: different lines, both kept.
    mine = "one\ntwo\nTHREE\nfour\nfive\n"
    theirs = "one\ntwo\nthree\nthree and a half\nfour\nfive\n"
    expected = "one\ntwo\nTHREE\nthree and a half\nfour\nfive\n"
    assert merge3(BASE, mine, theirs) == _clean(expected)
    assert merge3(BASE, theirs, mine) == _clean(expected)


def test_insertion_above_a_changed_line_lands_above_it() -> None:
    mine = "one\ntwo\nTHREE\nfour\nfive\n"
    theirs = "one\ntwo\ntwo and a half\nthree\nfour\nfive\n"
    expected = "one\ntwo\ntwo and a half\nTHREE\nfour\nfive\n"
    assert merge3(BASE, mine, theirs) == _clean(expected)
    assert merge3(BASE, theirs, mine) == _clean(expected)


def test_identical_changes_are_not_a_conflict() -> None:
    mine = "one\nTWO\nthree\nfour\nFIVE\n"
    theirs = "one\nTWO\nthree\nFOUR\nfive\n"
    assert merge3(BASE, mine, theirs) == _clean("one\nTWO\nthree\nFOUR\nFIVE\n")


def test_identical_insertions_are_not_a_conflict() -> None:
    mine = "one\ntwo\nnew\nthree\nfour\nfive\nend\n"
    theirs = "zero\none\ntwo\nnew\nthree\nfour\nfive\n"
    assert merge3(BASE, mine, theirs) == _clean("zero\none\ntwo\nnew\nthree\nfour\nfive\nend\n")


def test_same_deletion_on_both_sides_is_not_a_conflict() -> None:
    mine = "one\nthree\nfour\nfive\n"
    theirs = "one\nthree\nfour\nfive!\n"
    assert merge3(BASE, mine, theirs) == _clean("one\nthree\nfour\nfive!\n")


def test_empty_base_with_one_side_writing() -> None:
    assert merge3("", "hello\n", "") == _clean("hello\n")
    assert merge3("", "", "") == _clean("")


# --- examples: conflicts -----------------------------------------------------------------------


def test_overlapping_edits_conflict_and_keep_mines_region() -> None:
    mine = "one\nTWO (mine)\nthree\nfour\nfive\n"
    theirs = "one\nTWO (theirs)\nthree\nfour\nFIVE\n"
    result = merge3(BASE, mine, theirs)
    assert result.conflict
    assert result.conflicts == 1
    # Mine's version of the conflicting line, theirs' clean edit elsewhere, no markers.
    assert result.text == "one\nTWO (mine)\nthree\nfour\nFIVE\n"
    assert "<<<<<<<" not in result.text and ">>>>>>>" not in result.text


def test_partially_overlapping_regions_conflict() -> None:
    mine = "one\nTWO\nTHREE\nfour\nfive\n"  # lines 2-3
    theirs = "one\ntwo\nthree!\nfour!\nfive\n"  # lines 3-4
    result = merge3(BASE, mine, theirs)
    assert result.conflict and result.conflicts == 1
    # The conflicting region spans lines 2-4; mine's version of it has line 4 untouched.
    assert result.text == mine


def test_each_overlapping_region_is_counted() -> None:
    mine = "ONE\ntwo\nthree\nfour\nFIVE\n"
    theirs = "1\ntwo\nthree\nfour\n5\n"
    result = merge3(BASE, mine, theirs)
    assert result == MergeResult(mine, True, 2)
    assert merge3(BASE, theirs, mine) == MergeResult(theirs, True, 2)


def test_different_insertions_at_the_same_place_conflict() -> None:
    mine = "one\ntwo\nfrom mine\nthree\nfour\nfive\n"
    theirs = "one\ntwo\nfrom theirs\nthree\nfour\nfive\n"
    result = merge3(BASE, mine, theirs)
    assert result == MergeResult(mine, True, 1)


def test_different_appends_conflict() -> None:
    result = merge3(BASE, BASE + "mine\n", BASE + "theirs\n")
    assert result == MergeResult(BASE + "mine\n", True, 1)


def test_delete_versus_edit_of_the_same_line_conflicts() -> None:
    deleted = "one\ntwo\nfour\nfive\n"
    edited = "one\ntwo\nTHREE\nfour\nfive\n"
    result = merge3(BASE, deleted, edited)
    assert result == MergeResult(deleted, True, 1)
    assert merge3(BASE, edited, deleted) == MergeResult(edited, True, 1)


def test_insertion_inside_a_region_the_other_side_deleted_conflicts() -> None:
    mine = "one\nfive\n"  # deletes lines 2-4
    theirs = "one\ntwo\nthree\nnew\nfour\nfive\n"  # inserts between 3 and 4
    result = merge3(BASE, mine, theirs)
    assert result == MergeResult(mine, True, 1)


# --- line endings and unicode ------------------------------------------------------------------


def test_crlf_round_trips() -> None:
    base = "a\r\nb\r\nc\r\nd\r\n"
    mine = "A\r\nb\r\nc\r\nd\r\n"
    theirs = "a\r\nb\r\nc\r\nD\r\n"
    assert merge3(base, mine, theirs) == _clean("A\r\nb\r\nc\r\nD\r\n")


def test_mixed_and_lone_cr_endings_round_trip() -> None:
    base = "a\nb\r\nc\rd\n"
    mine = "A\nb\r\nc\rd\n"
    theirs = "a\nb\r\nc\rD\n"
    assert merge3(base, mine, theirs) == _clean("A\nb\r\nc\rD\n")


def test_changing_only_a_line_ending_is_an_edit() -> None:
    base = "a\nb\nc\n"
    mine = "a\r\nb\nc\n"
    theirs = "a\nb\nC\n"
    assert merge3(base, mine, theirs) == _clean("a\r\nb\nC\n")


def test_missing_final_newline_is_kept() -> None:
    base = "a\nb\nc"
    mine = "A\nb\nc"
    theirs = "a\nb\nC"
    assert merge3(base, mine, theirs) == _clean("A\nb\nC")
    assert merge3(base, mine, "a\nb\nc").text == "A\nb\nc"


def test_appending_to_an_unterminated_note_merges_with_an_edit_at_the_top() -> None:
    base = "a\nb\nc"
    mine = "A\nb\nc"
    theirs = "a\nb\nc\nd"
    assert merge3(base, mine, theirs) == _clean("A\nb\nc\nd")


def test_adding_a_final_newline_on_one_side_merges() -> None:
    assert merge3("a\nb\nc", "A\nb\nc", "a\nb\nc\n") == _clean("A\nb\nc\n")


def test_unicode_survives_byte_for_byte() -> None:
    family = "👩\u200d👩\u200d👧"
    combining = "cafe\u0301"  # 'e' + COMBINING ACUTE, not the precomposed é
    flag = "🇳🇿"
    base = f"{family}\r\n{combining}\r\nplain\r\n{flag} tail"
    mine = f"{family} loves\r\n{combining}\r\nplain\r\n{flag} tail"
    theirs = f"{family}\r\n{combining}\r\nplain\r\n{flag} tail \u0928\u093f"
    result = merge3(base, mine, theirs)
    expected = f"{family} loves\r\n{combining}\r\nplain\r\n{flag} tail \u0928\u093f"
    assert not result.conflict
    assert result.text.encode("utf-8") == expected.encode("utf-8")
    assert "\u00e9" not in result.text  # no NFC normalisation sneaked in


def test_unicode_line_separator_is_a_line_boundary_and_round_trips() -> None:
    # str.splitlines also splits on U+2028; keepends makes that invisible in the output.
    base = "a\u2028b\u2028c"
    assert merge3(base, "A\u2028b\u2028c", "a\u2028b\u2028C") == _clean("A\u2028b\u2028C")


# --- speed -------------------------------------------------------------------------------------


def _big_note() -> list[str]:
    # ~100 KB of markdown-ish text with plenty of repeated lines (blank lines, rules, bullets),
    # which is what makes line diffs slow.
    lines: list[str] = []
    for i in range(1600):
        lines += [f"## Section {i}\n", "\n", f"- item {i} with some words in it to pad\n", "\n"]
        if i % 10 == 0:
            lines.append("---\n")
    return lines


def test_large_note_typical_edits_merge() -> None:
    base_lines = _big_note()
    base = "".join(base_lines)
    assert len(base.encode()) > 90_000
    mine_lines = list(base_lines)
    mine_lines[20] = "- edited near the top\n"
    theirs_lines = list(base_lines)
    theirs_lines[2000] = "- edited in the middle\n"
    theirs_lines.append("appended at the end\n")
    mine, theirs = "".join(mine_lines), "".join(theirs_lines)

    result = merge3(base, mine, theirs)

    expected = list(base_lines)
    expected[20] = mine_lines[20]
    expected[2000] = theirs_lines[2000]
    expected.append("appended at the end\n")
    assert result == _clean("".join(expected))
    # Speed on this input is measured in bench/bench_core.py, not asserted here.


def test_long_run_of_identical_lines_is_coarse_but_correct() -> None:
    # No line is unique, so there is nothing to anchor on: the diff falls back to one coarse
    # replacement rather than spend tens of seconds in SequenceMatcher. Coarse may mean a
    # conflict the caller must resolve, never a hang and never a silently wrong merge.
    base_lines = ["x\n"] * 20_000
    mine_lines = list(base_lines)
    mine_lines[10] = "mine top\n"
    mine_lines[19_990] = "mine bottom\n"
    theirs_lines = list(base_lines)
    theirs_lines[10_000] = "theirs middle\n"
    expected = list(mine_lines)
    expected[10_000] = "theirs middle\n"

    # Without the coarse fallback this input takes tens of seconds; the suite's timeout would
    # catch a regression, and bench/bench_core.py measures it.
    result = merge3("".join(base_lines), "".join(mine_lines), "".join(theirs_lines))
    if result.conflict:
        assert result.text == "".join(mine_lines)
    else:
        assert result.text == "".join(expected)


# --- merge_sets ---------------------------------------------------------------------------------


def test_tags_added_on_both_sides_are_kept() -> None:
    assert merge_sets(["a", "b"], ["a", "b", "m"], ["a", "b", "t"]) == ["a", "b", "m", "t"]


def test_tag_removed_on_one_side_is_removed() -> None:
    assert merge_sets(["a", "b", "c"], ["a", "c"], ["a", "b", "c", "t"]) == ["a", "c", "t"]


def test_removal_wins_over_the_other_side_keeping_the_tag() -> None:
    assert merge_sets(["a", "b"], ["a", "b", "m"], ["a"]) == ["a", "m"]
    assert merge_sets(["a", "b"], ["a"], ["a", "b", "t"]) == ["a", "t"]


def test_same_tag_added_on_both_sides_appears_once() -> None:
    assert merge_sets(["a"], ["a", "x"], ["x", "a"]) == ["a", "x"]


def test_tag_removed_on_both_sides_is_removed() -> None:
    assert merge_sets(["a", "b"], ["b", "m"], ["b", "t"]) == ["b", "m", "t"]


def test_order_is_mines_then_theirs_additions_in_their_order() -> None:
    assert merge_sets(["a", "b"], ["b", "a", "m"], ["z", "a", "y", "b"]) == [
        "b",
        "a",
        "m",
        "z",
        "y",
    ]


def test_duplicates_in_input_are_dropped() -> None:
    assert merge_sets(["a"], ["a", "m", "m"], ["t", "a", "t"]) == ["a", "m", "t"]


def test_untouched_side_takes_the_other_sides_list_as_is() -> None:
    assert merge_sets(["a", "b"], ["a", "b"], ["b", "new", "a"]) == ["b", "new", "a"]
    assert merge_sets(["a", "b"], ["new", "a"], ["a", "b"]) == ["new", "a"]


@given(
    st.lists(st.sampled_from("abcdef"), max_size=6),
    st.lists(st.sampled_from("abcdefgh"), max_size=6),
    st.lists(st.sampled_from("abcdefgh"), max_size=6),
)
def test_merge_sets_applies_both_sides_edits(
    base: list[str], mine: list[str], theirs: list[str]
) -> None:
    merged = merge_sets(base, mine, theirs)
    b, m, t = set(base), set(mine), set(theirs)
    assert len(merged) == len(set(merged))
    # Kept from base only if neither side removed it; every addition from either side is in.
    assert set(merged) == (b & m & t) | (m - b) | (t - b)
    assert set(merge_sets(base, theirs, mine)) == set(merged)
