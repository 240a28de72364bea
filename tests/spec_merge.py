"""The merge rules of docs/SYNC.md ("Merging forks"), implemented from the text alone.

It imports nothing from `vault` and not `difflib`: tests compare it with the implementation
(vault.notes.merge, vault.sync.conflicts), so a rule the spec states wrongly or leaves out shows up as
a difference. The numbered comments follow the steps of SYNC.md.
"""

from __future__ import annotations

import hashlib
from typing import Any

MISSING: Any = object()
GAP_AREA_LIMIT = 250_000
LINE_ENDS = ("\r\n", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def split_lines(text: str) -> list[str]:
    """Lines with their terminators; CR LF is one terminator."""
    lines: list[str] = []
    start = i = 0
    while i < len(text):
        if text.startswith("\r\n", i):
            lines.append(text[start : i + 2])
            i += 2
            start = i
        elif text[i] in LINE_ENDS:
            lines.append(text[start : i + 1])
            i += 1
            start = i
        else:
            i += 1
    if start < len(text):
        lines.append(text[start:])
    return lines


# --- the diff ------------------------------------------------------------------------------------

Span = tuple[int, int, int, int]


def longest_block(a: list[str], alo: int, ahi: int, b: list[str], blo: int, bhi: int):
    """The longest run a[i:i+k] == b[j:j+k] inside the ranges; smallest i, then smallest j."""
    best = (alo, blo, 0)
    for i in range(alo, ahi):
        for j in range(blo, bhi):
            k = 0
            while i + k < ahi and j + k < bhi and a[i + k] == b[j + k]:
                k += 1
            if k > best[2]:
                best = (i, j, k)
    return best


def block_diff(a: list[str], alo: int, ahi: int, b: list[str], blo: int, bhi: int) -> list[Span]:
    if alo == ahi and blo == bhi:
        return []
    i, j, k = longest_block(a, alo, ahi, b, blo, bhi)
    if k == 0:
        return [(alo, ahi, blo, bhi)]
    return block_diff(a, alo, i, b, blo, j) + block_diff(a, i + k, ahi, b, j + k, bhi)


def anchors(a: list[str], alo: int, ahi: int, b: list[str], blo: int, bhi: int):
    def once(seq: list[str], lo: int, hi: int) -> dict[str, int]:
        count: dict[str, int] = {}
        where: dict[str, int] = {}
        for x in range(lo, hi):
            count[seq[x]] = count.get(seq[x], 0) + 1
            where[seq[x]] = x
        return {line: where[line] for line, n in count.items() if n == 1}

    in_b = once(b, blo, bhi)
    pairs = sorted((i, in_b[line]) for line, i in once(a, alo, ahi).items() if line in in_b)
    piles: list[tuple[int, int]] = []  # top pair of each pile
    before: dict[tuple[int, int], tuple[int, int] | None] = {}
    for pair in pairs:
        n = next((p for p, top in enumerate(piles) if top[1] >= pair[1]), len(piles))
        before[pair] = piles[n - 1] if n else None
        if n == len(piles):
            piles.append(pair)
        else:
            piles[n] = pair
    chain: list[tuple[int, int]] = []
    at = piles[-1] if piles else None
    while at is not None:
        chain.append(at)
        at = before[at]
    return chain[::-1]


def diff(a: list[str], b: list[str]) -> list[Span]:
    spans: list[Span] = []
    todo = [(0, len(a), 0, len(b))]
    while todo:
        alo, ahi, blo, bhi = todo.pop()
        while alo < ahi and blo < bhi and a[alo] == b[blo]:  # 1. common start
            alo, blo = alo + 1, blo + 1
        while alo < ahi and blo < bhi and a[ahi - 1] == b[bhi - 1]:  # common end
            ahi, bhi = ahi - 1, bhi - 1
        if alo == ahi and blo == bhi:  # 2.
            continue
        if alo == ahi or blo == bhi:
            spans.append((alo, ahi, blo, bhi))
            continue
        found = anchors(a, alo, ahi, b, blo, bhi)  # 3.
        if not found and (ahi - alo) * (bhi - blo) > GAP_AREA_LIMIT:  # 4.
            spans.append((alo, ahi, blo, bhi))
        elif not found:  # 5.
            spans.extend(block_diff(a, alo, ahi, b, blo, bhi))
        else:  # 6.
            for i, j in found:
                todo.append((alo, i, blo, j))
                alo, blo = i + 1, j + 1
            todo.append((alo, ahi, blo, bhi))
    return sorted(spans)


# --- three-way text merge ------------------------------------------------------------------------


def merge_text(base: str, mine: str, theirs: str) -> tuple[str, bool]:
    """(merged text, conflict)."""
    if mine == theirs:
        return mine, False
    if mine == base:
        return theirs, False
    if theirs == base:
        return mine, False
    o, m, t = split_lines(base), split_lines(mine), split_lines(theirs)
    edits = [(s, e, tuple(m[j1:j2]), True) for s, e, j1, j2 in diff(o, m)]
    edits += [(s, e, tuple(t[j1:j2]), False) for s, e, j1, j2 in diff(o, t)]
    edits.sort(key=lambda h: (h[0], h[1], not h[3]))
    out: list[str] = []
    pos, x, conflict = 0, 0, False
    while x < len(edits):
        lo, hi = edits[x][0], edits[x][1]
        y = x + 1
        while y < len(edits) and (
            edits[y][0] < hi or (edits[y][0] == edits[y][1] and lo == hi == edits[y][0])
        ):
            hi = max(hi, edits[y][1])
            y += 1
        region = edits[x:y]
        out += o[pos:lo]
        if len(region) == 1:
            out += region[0][2]
        else:
            sides = [
                apply(o, lo, hi, [h for h in region if h[3] is side]) for side in (True, False)
            ]
            conflict |= sides[0] != sides[1]
            out += sides[0]
        pos, x = hi, y
    out += o[pos:]
    return "".join(out), conflict


def apply(base: list[str], lo: int, hi: int, edits: list) -> list[str]:
    out: list[str] = []
    pos = lo
    for start, end, lines, _ in edits:
        out += base[pos:start] + list(lines)
        pos = end
    return out + base[pos:hi]


def merge_tags(base: list, mine: list, theirs: list) -> list:
    def unique(xs: list) -> list:
        seen: list = []
        for x in xs:
            if x not in seen:
                seen.append(x)
        return seen

    if mine == base:
        return unique(theirs)
    if theirs == base:
        return unique(mine)
    removed = [x for x in base if x not in mine or x not in theirs]
    merged = unique([x for x in mine if x not in removed])
    return merged + unique([x for x in theirs if x not in base and x not in merged])


# --- payloads and forks --------------------------------------------------------------------------


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def three_way(base: Any, a: Any, b: Any) -> tuple[Any, bool]:
    if a == b:
        return a, False
    if a == base:
        return b, False
    if b == base:
        return a, False
    return a, True


def merge_field(kind: str, key: str, base: Any, a: Any, b: Any) -> tuple[Any, bool]:
    if a == b:
        return a, False
    if key in ("modified", "created") and is_int(a) and is_int(b):
        return (max(a, b) if key == "modified" else min(a, b)), False
    if kind == "note" and key == "body" and isinstance(a, str) and isinstance(b, str):
        return merge_text(base if isinstance(base, str) else "", a, b)
    if kind == "note" and key == "tags" and isinstance(a, list) and isinstance(b, list):
        return merge_tags(base if isinstance(base, list) else [], a, b), False
    if kind == "note" and key == "attachments":
        merged, clash = merge_attachments(base, a, b)
        return (merged if merged else MISSING), clash
    value, clash = three_way(base, a, b)
    if kind == "note" and key == "trashed" and clash:
        times = [t for t in (a, b) if is_int(t)]
        return (min(times) if times else None), False
    if kind == "tag" and clash:
        return a, False
    return value, clash


def by_name(value: Any) -> dict[str, dict]:
    named: dict[str, dict] = {}
    if isinstance(value, list):
        for entry in value[:10000]:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                named.setdefault(entry["name"], entry)
    return named


def merge_attachments(base: Any, a: Any, b: Any) -> tuple[list, bool]:
    """SYNC.md "Attachment list merge"."""
    old, mine, theirs = by_name(base), by_name(a), by_name(b)
    out: list = []
    clash = False
    for name in list(mine) + [n for n in theirs if n not in mine]:
        x, y, o = mine.get(name), theirs.get(name), old.get(name)
        if x is not None and y is not None:
            if x == y or x.get("blob") == y.get("blob"):
                out.append(y if (x == o and y != o) else x)
            elif x == o:
                out.append(y)
            elif y == o:
                out.append(x)
            else:
                out.append(x)
                clash = True
        elif x is not None:
            if o is None or x != o:
                out.append(x)
        elif y is not None and (o is None or y != o):
            out.append(y)
    return out, clash


def merge_payloads(kind: str, base: dict, a: dict, b: dict) -> tuple[dict, bool]:
    merged: dict = {}
    conflict = False
    for key in sorted(set(a) | set(b)):
        value, clash = merge_field(
            kind, key, base.get(key, MISSING), a.get(key, MISSING), b.get(key, MISSING)
        )
        conflict |= clash
        if value is not MISSING:
            merged[key] = value
    return merged, conflict


def merge_op_id(item_id: str, heads: list[str]) -> str:
    text = (item_id + ":" + ",".join(sorted(heads))).encode("ascii")
    return hashlib.blake2b(text, digest_size=16, person=b"vault merge op").hexdigest()


def ancestors(ops: dict[str, dict], start: str) -> set[str] | None:
    seen: set[str] = set()
    todo = [start]
    while todo:
        op_id = todo.pop()
        if op_id in seen:
            continue
        if op_id not in ops:
            return None
        seen.add(op_id)
        todo.extend(ops[op_id]["parents"])
    return seen


MAX_VIRTUAL_DEPTH = 8


def merge_base(
    ops: dict[str, dict], kind: str, ancestries: list[set[str]], payload_of, depth: int = 0
) -> dict | None:
    """The base of SYNC.md's step 5 for two ancestries; None when a base does not open."""
    common = set.intersection(*ancestries)
    if not common:
        return {}
    newest = sorted(common - {p for c in common for p in ops[c]["parents"]})
    if len(newest) > 1 and depth < MAX_VIRTUAL_DEPTH:
        merged = base_payload(ops, newest[0], payload_of)
        merged_ancestry = ancestors(ops, newest[0]) or set()
        for other in newest[1:]:
            other_ancestry = ancestors(ops, other) or set()
            inner = merge_base(ops, kind, [merged_ancestry, other_ancestry], payload_of, depth + 1)
            other_payload = base_payload(ops, other, payload_of)
            if merged is None or inner is None or other_payload is None:
                return None
            merged, _ = merge_payloads(kind, inner, merged, other_payload)
            merged_ancestry |= other_ancestry
        return merged
    pick = max(newest, key=lambda c: (len(ancestors(ops, c) or ()), c))
    return base_payload(ops, pick, payload_of)


def base_payload(ops: dict[str, dict], op_id: str, payload_of) -> dict | None:
    return {} if ops[op_id]["deleted"] else payload_of(op_id)


def merge_fork(ops: dict[str, dict], heads: list[str], payload_of) -> tuple[str, Any]:
    """("waiting" | "conflict" | "tombstone" | "merged", merged payload) for the heads of one
    item; `ops` maps op id to {"parents", "deleted"}; payload_of(op_id) opens a version (None
    when its content was erased)."""
    history = {h: ancestors(ops, h) for h in heads}
    if any(h is None for h in history.values()):
        return "waiting", None
    live = sorted(h for h in heads if not ops[h]["deleted"])
    if not live:
        return "tombstone", None
    payloads = [payload_of(h) for h in live]
    if any(p is None for p in payloads):
        return "conflict", None
    if len(live) == 1:
        return "merged", payloads[0]
    kind = ops[min(heads)]["kind"]
    result = payloads[0]
    folded = set(history[live[0]])  # type: ignore[arg-type]
    for head, other in zip(live[1:], payloads[1:], strict=True):
        base = merge_base(ops, kind, [folded, history[head]], payload_of)  # type: ignore[list-item]
        if base is None:
            return "conflict", None
        result, clash = merge_payloads(kind, base, result, other)
        if clash:
            return "conflict", None
        folded |= history[head]  # type: ignore[arg-type]
    return "merged", result
