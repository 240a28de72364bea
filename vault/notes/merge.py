"""Three-way merge of note text and tag lists.

Sync calls this when one note was edited on two devices since the version they last shared.
Device clocks cannot be trusted to order concurrent edits, and "last writer wins" silently throws
one person's work away, so we merge against the common ancestor taken from history instead: edits
to different lines both survive, and only edits that really overlap are reported as a conflict,
leaving the caller to keep both versions.

Pure standard library, and never raises on odd input: any str is a valid note.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher

__all__ = ["MergeResult", "merge3", "merge_sets"]


@dataclass(frozen=True)
class MergeResult:
    """The outcome of `merge3`.

    `text` is always safe to store as a note: on conflict it holds mine's version of every
    conflicting region (plus every clean edit from both sides elsewhere) and never conflict
    markers, because those would land verbatim in someone's note. The caller keeps theirs too.
    """

    text: str
    conflict: bool  # some edits overlap; the caller must keep both versions
    conflicts: int  # number of overlapping regions


@dataclass(frozen=True, slots=True)
class _Hunk:
    """One side's replacement of base lines [start, end); start == end is a pure insertion."""

    start: int
    end: int
    lines: tuple[str, ...]
    mine: bool


def merge3(base: str, mine: str, theirs: str) -> MergeResult:
    """Merge two descendants of `base` line by line (diff3), keeping every byte of the input.

    Edits to disjoint line regions merge cleanly, including edits to adjacent lines (one side
    changes line 3, the other line 4): notes are prose, and refusing those would turn ordinary
    concurrent edits into conflicts. Identical edits on both sides are not a conflict.
    """
    # The shortcuts are not just speed: they guarantee these cases whatever the diff decides.
    if mine == theirs:
        return MergeResult(mine, False, 0)
    if mine == base:
        return MergeResult(theirs, False, 0)
    if theirs == base:
        return MergeResult(mine, False, 0)
    # keepends so line endings (CRLF, a missing final newline) are content, not lost structure.
    lines, conflicts = _merge_lines(
        base.splitlines(keepends=True),
        mine.splitlines(keepends=True),
        theirs.splitlines(keepends=True),
    )
    return MergeResult("".join(lines), conflicts > 0, conflicts)


def merge_sets(base: list[str], mine: list[str], theirs: list[str]) -> list[str]:
    """Three-way merge of tag lists: additions and removals from both sides apply.

    Order is mine's, then theirs' additions in their order, with no duplicates. When one side
    left the list untouched the other side's list is taken as is, so a reorder (or a tag
    inserted mid-list) on the only side that changed anything is not undone by the merge.
    """
    if mine == base:
        return _unique(theirs)
    if theirs == base:
        return _unique(mine)
    base_set = set(base)
    # A removal on either side wins over the other side merely keeping the tag: keeping is not
    # an edit, so there is nothing for the removal to conflict with.
    removed = (base_set - set(mine)) | (base_set - set(theirs))
    merged = _unique(tag for tag in mine if tag not in removed)
    seen = set(merged)
    for tag in theirs:
        if tag not in base_set and tag not in seen:
            merged.append(tag)
            seen.add(tag)
    return merged


def _unique(tags: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def _merge_lines(base: list[str], mine: list[str], theirs: list[str]) -> tuple[list[str], int]:
    """Merge line lists; returns the merged lines and the number of conflicting regions."""
    hunks = _hunks(base, mine, mine=True) + _hunks(base, theirs, mine=False)
    # Pure insertions sort before a change starting at the same line, so text inserted just
    # above a region the other side rewrote lands above the rewrite.
    hunks.sort(key=lambda h: (h.start, h.end))

    out: list[str] = []
    conflicts = 0
    pos = 0  # base lines before pos are already emitted (or replaced)
    i = 0
    while i < len(hunks):
        lo, hi = hunks[i].start, hunks[i].end
        j = i + 1
        # Grow the region while the next hunk overlaps it. One side's hunks never overlap or
        # touch each other (the diff puts an unchanged line between them), so anything joining
        # overlaps the other side. Touching ranges stay apart: that is what lets adjacent-line
        # edits merge. The one touching case that does collide is two insertions at the same
        # point, because nothing says which should come first.
        while j < len(hunks) and (
            hunks[j].start < hi or hunks[j].start == hunks[j].end == lo == hi
        ):
            hi = max(hi, hunks[j].end)
            j += 1
        region = hunks[i:j]
        out.extend(base[pos:lo])
        if len(region) == 1:
            out.extend(region[0].lines)
        else:
            ours = _apply(base, lo, hi, [h for h in region if h.mine])
            other = _apply(base, lo, hi, [h for h in region if not h.mine])
            # Comparing outcomes, not hunks, makes the same edit on both sides clean even when
            # the two diffs happened to carve it up differently.
            if ours != other:
                conflicts += 1
            out.extend(ours)
        pos = hi
        i = j
    out.extend(base[pos:])
    return out, conflicts


def _apply(base: list[str], lo: int, hi: int, hunks: list[_Hunk]) -> list[str]:
    """One side's version of base[lo:hi], given that side's hunks inside it (sorted)."""
    out: list[str] = []
    pos = lo
    for hunk in hunks:
        out.extend(base[pos : hunk.start])
        out.extend(hunk.lines)
        pos = hunk.end
    out.extend(base[pos:hi])
    return out


def _hunks(base: list[str], other: list[str], *, mine: bool) -> list[_Hunk]:
    """The edits turning base into other, as hunks in base order, never overlapping or touching."""
    return [_Hunk(i1, i2, tuple(other[j1:j2]), mine) for i1, i2, j1, j2 in _diff(base, other)]


# Largest gap (lines x lines) handed to SequenceMatcher; ~40 ms in its worst case (see _diff).
_MAX_GAP_AREA = 500 * 500


def _diff(a: list[str], b: list[str]) -> list[tuple[int, int, int, int]]:
    """Non-equal spans (i1, i2, j1, j2): a[i1:i2] became b[j1:j2]; sorted, with an equal line
    between any two spans.

    SequenceMatcher alone is too slow for long notes: with autojunk=False (needed: autojunk
    treats frequent lines such as blank ones as noise and aligns text bizarrely) every repeated
    line is a match candidate, so a 100 KB markdown note full of blank lines, "---" and bullets
    took ~0.5 s for an edit in the middle plus one at the end. So, patience-diff style: trim the
    common prefix and suffix (a typical sync merge is a few edited lines, so this is most of the
    work), anchor on lines that occur exactly once on both sides, and only hand the short gaps
    between anchors to SequenceMatcher.

    Pathological case: a long stretch in which no line is unique on either side (thousands of
    identical or few-valued lines) with edits scattered inside it. SequenceMatcher is quadratic
    there (20,000 identical lines took ~50 s), so past _MAX_GAP_AREA the whole stretch becomes
    one replacement. That stays a correct diff, only coarse: a merge touching the stretch from
    both sides reports a conflict (the caller keeps both versions) instead of hanging sync.
    """
    spans: list[tuple[int, int, int, int]] = []
    # An explicit work list rather than recursion: anchors split a range into gaps that may
    # themselves need anchoring, and nesting depth is unbounded on adversarial input.
    todo = [(0, len(a), 0, len(b))]
    while todo:
        alo, ahi, blo, bhi = todo.pop()
        while alo < ahi and blo < bhi and a[alo] == b[blo]:
            alo += 1
            blo += 1
        while alo < ahi and blo < bhi and a[ahi - 1] == b[bhi - 1]:
            ahi -= 1
            bhi -= 1
        if alo == ahi and blo == bhi:
            continue
        if alo == ahi or blo == bhi:
            spans.append((alo, ahi, blo, bhi))
            continue
        anchors = _unique_anchors(a, alo, ahi, b, blo, bhi)
        if not anchors and (ahi - alo) * (bhi - blo) > _MAX_GAP_AREA:
            spans.append((alo, ahi, blo, bhi))
            continue
        if not anchors:
            matcher = SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=False)
            spans.extend(
                (alo + i1, alo + i2, blo + j1, blo + j2)
                for tag, i1, i2, j1, j2 in matcher.get_opcodes()
                if tag != "equal"
            )
            continue
        # Each anchor is an equal line, so spans found in different gaps never touch.
        for i, j in anchors:
            todo.append((alo, i, blo, j))
            alo, blo = i + 1, j + 1
        todo.append((alo, ahi, blo, bhi))
    spans.sort()
    return spans


def _unique_anchors(
    a: list[str], alo: int, ahi: int, b: list[str], blo: int, bhi: int
) -> list[tuple[int, int]]:
    """Pairs (i, j) with a[i] == b[j] occurring once in each range; the longest run in order."""
    # Lines seen twice map to -1: a repeated line cannot anchor, since we could not tell which
    # copy the other side kept.
    in_a: dict[str, int] = {}
    for i in range(alo, ahi):
        in_a[a[i]] = -1 if a[i] in in_a else i
    in_b: dict[str, int] = {}
    for j in range(blo, bhi):
        in_b[b[j]] = -1 if b[j] in in_b else j
    pairs = sorted(
        (i, in_b[line]) for line, i in in_a.items() if i >= 0 and in_b.get(line, -1) >= 0
    )
    # Longest increasing subsequence of j (patience sorting): the largest set of anchors that
    # agree on order. A unique line that moved drops out and is diffed as part of its gap.
    tails: list[int] = []  # tails[k]: smallest j ending an increasing run of length k + 1
    tail_at: list[int] = []  # index into pairs of that tail
    back = [-1] * len(pairs)
    for k, (_, j) in enumerate(pairs):
        pos = bisect_left(tails, j)
        if pos:
            back[k] = tail_at[pos - 1]
        if pos == len(tails):
            tails.append(j)
            tail_at.append(k)
        else:
            tails[pos] = j
            tail_at[pos] = k
    run: list[tuple[int, int]] = []
    k = tail_at[-1] if tail_at else -1
    while k >= 0:
        run.append(pairs[k])
        k = back[k]
    run.reverse()
    return run
