"""Markdown front matter and file names for exporting and importing notes.

Why this exists: an export is only worth something if other tools can read it. Obsidian, static
site generators and most Markdown editors agree on one convention, a YAML block fenced by `---`
lines at the top of the file, so that is what we write. We do not take a YAML dependency for it:
the vault's dependency list is kept short on purpose (every package is code that sees decrypted
notes), and we need only a sliver of YAML. So this module has

* a small emitter, `dump_front_matter`, that writes a conservative subset every YAML 1.1 and 1.2
  reader agrees on (strings are quoted whenever a reader could take them for anything else);
* a tolerant reader, `split_front_matter`, for what other tools write. It understands the common
  shapes (plain, quoted, multi-line and block scalars, flow and block lists, comments, CRLF, a
  BOM), keeps values it does not understand as strings, and when the block is not front matter
  it can read at all it returns the whole text as the body. A person's note must never be lost
  on import, so the reader never raises;
* `normalise_tags`, because tags come as lists, comma-separated strings or '#tag' words;
* `safe_filename` / `safe_filenames` / `safe_dirname`, names that are valid and distinct on
  Linux, macOS and Windows, because an export is often copied from one system to another.

Everything here is pure and stdlib-only: no file system access, no vault state.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, timezone

__all__ = [
    "coerce_datetime",
    "dump_front_matter",
    "normalise_tags",
    "safe_dirname",
    "safe_filename",
    "safe_filenames",
    "split_front_matter",
]


# --- writing -----------------------------------------------------------------------------------

# Words some YAML reader resolves to a bool or null (YAML 1.1 has the long list; PyYAML and many
# JavaScript readers still use it). A string equal to one of them, in any case, is quoted.
_RESERVED_WORDS = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"})

# Punctuation allowed inside an unquoted string. Everything else (':', '#', quotes, brackets,
# braces, commas, tabs...) forces quoting: quoting is always correct, so the plain form is only a
# courtesy to people reading the file and we keep it to what cannot be misread.
_PLAIN_PUNCTUATION = frozenset(" _-./()+'!?&;@$%")

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _is_yaml_printable(ch: str) -> bool:
    """YAML 1.2's printable set, minus characters some readers treat as line breaks or strip."""
    cp = ord(ch)
    if ch in "\x85\u2028\u2029\ufeff":
        # NEL, LS and PS are line breaks to YAML 1.1 readers (they would fold them into spaces);
        # a BOM in the middle of a value is invisible and some tools drop it.
        return False
    return (
        cp in (0x09, 0x0A, 0x0D)
        or 0x20 <= cp <= 0x7E
        or 0xA0 <= cp <= 0xD7FF
        or 0xE000 <= cp <= 0xFFFD
        or 0x10000 <= cp <= 0x10FFFF
    )


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _quote(text: str) -> str:
    """A JSON-style double-quoted scalar, which YAML reads identically.

    Non-ASCII stays readable (no \\u escapes for letters or emoji); only characters YAML cannot
    hold literally are escaped, so the value always sits on one line.
    """
    out = ['"']
    for ch in text:
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif not _is_yaml_printable(ch):
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _is_plain_safe(text: str) -> bool:
    """True if `text` can be written unquoted and every YAML reader gets the same string back."""
    if not text or text.casefold() in _RESERVED_WORDS:
        return False
    # Starting with a letter rules out numbers, dates, times, '.inf', indicators ('-', '?', '&',
    # '*', '!', '|', '>', '%', '@', '`') and quotes in one go.
    if not (text[0].isalpha() or text[0] == "_") or text[-1] == " ":
        return False
    return all(ch.isalnum() or ch in _PLAIN_PUNCTUATION for ch in text)


def _scalar(value: str) -> str:
    return value if _is_plain_safe(value) else _quote(value)


def _key(key: str) -> str:
    if _PLAIN_KEY.fullmatch(key) and key.casefold() not in _RESERVED_WORDS:
        return key
    return _quote(key)


def _format_datetime(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        # A naive datetime has no single meaning once it leaves this machine; refusing is better
        # than silently exporting the wrong instant.
        raise ValueError("front matter datetimes must be timezone-aware")
    # isoformat() pads the year to four digits and writes microseconds only when there are any.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def dump_front_matter(meta: dict[str, object]) -> str:
    """Render `meta` as a front matter block: '---\\n', one entry per key, '---\\n'.

    Values may be str, bool, int, None, aware datetime (written as UTC with a 'Z') or a list of
    str (a block list; an empty list is '[]'). Keys keep their order. An empty `meta` still gives
    the two fences, so a body that itself starts with '---' is never mistaken for front matter.
    """
    lines = ["---"]
    for key, value in meta.items():
        if not isinstance(key, str):
            raise TypeError(f"front matter keys must be str, not {type(key).__name__}")
        k = _key(key)
        if value is None:
            lines.append(f"{k}:")
        elif isinstance(value, bool):  # before int: bool is a subclass of int
            lines.append(f"{k}: {'true' if value else 'false'}")
        elif isinstance(value, int):
            lines.append(f"{k}: {int.__repr__(value)}")  # int.__repr__: IntEnum would print a name
        elif isinstance(value, str):
            lines.append(f"{k}: {_scalar(value)}")
        elif isinstance(value, datetime):
            lines.append(f"{k}: {_format_datetime(value)}")
        elif isinstance(value, list | tuple):
            if not value:
                lines.append(f"{k}: []")
                continue
            lines.append(f"{k}:")
            for item in value:
                if not isinstance(item, str):
                    raise TypeError(
                        f"front matter list items must be str, not {type(item).__name__}"
                    )
                lines.append(f"  - {_scalar(item)}")
        else:
            raise TypeError(f"cannot write {type(value).__name__} to front matter ({key!r})")
    lines.append("---")
    return "\n".join(lines) + "\n"


# --- reading -----------------------------------------------------------------------------------


class _Malformed(ValueError):
    """The fenced block is not front matter we can read; the caller keeps it in the body."""


class _NotUnderstood(ValueError):
    """One value is beyond our subset of YAML; the caller keeps its text as a string."""


def split_front_matter(text: str) -> tuple[dict[str, object], str]:
    """Split a Markdown document into (front matter, body).

    Without front matter, or with front matter we cannot read, returns ({}, text) unchanged.
    Never raises: on import a note is worth more than its metadata.
    """
    try:
        found = _split(text)
    except Exception:
        # _split only means to raise _Malformed. Anything else would be a bug in this module, and
        # the contract is that a bug here costs the note its metadata, never its content.
        return {}, text
    return found if found is not None else ({}, text)


def _split(text: str) -> tuple[dict[str, object], str] | None:
    """The strict core of split_front_matter: None for no front matter, _Malformed for bad."""
    src = text[1:] if text.startswith("\ufeff") else text
    newline = src.find("\n")
    if newline == -1 or src[:newline].rstrip(" \t\r") != "---":
        return None
    lines: list[str] = []
    pos = newline + 1
    while pos <= len(src):
        end = src.find("\n", pos)
        line = src[pos:] if end == -1 else src[pos:end]
        # '...' is YAML's own end-of-document marker; Pandoc writes it.
        if line.rstrip(" \t\r") in ("---", "..."):
            body = "" if end == -1 else src[end + 1 :]
            return _Parser(lines).parse(), body
        if end == -1:
            break
        lines.append(line.removesuffix("\r"))
        pos = end + 1
    return None  # an opening fence and no closing one: a thematic break, not front matter


_SEQ_ITEM = re.compile(r"([ \t]*)-(?:[ \t]+(.*)|[ \t]*)")
_KEY_COLON = re.compile(r":(?=[ \t]|$)")
_QUOTED_KEY_COLON = re.compile(r"[ \t]*:")
# '#' starts a comment only after whitespace and before whitespace: YAML needs the first, and
# we add the second so that Obsidian's `tags: #idea #todo` reads as tags rather than as nothing.
_COMMENT = re.compile(r"(?:^|[ \t])#(?=[ \t]|$)")
_BAD_KEY_START = frozenset("[]{},&*!|>%@`#")
_BLOCK_HEADER = re.compile(r"([|>])([1-9])?([+-])?([1-9])?[ \t]*(?:#.*)?")
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:(?:[Tt]|[ \t]+)(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"(?:[ \t]*(Z|z|[-+]\d{1,2}(?::?\d{2})?))?)?"
)
_ESCAPES = {
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "t": "\t",
    "\t": "\t",
    "n": "\n",
    "v": "\v",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_HEX = frozenset("0123456789abcdefABCDEF")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _is_comment(stripped: str) -> bool:
    return stripped == "#" or stripped.startswith(("# ", "#\t"))


def _is_blank_or_comment(line: str) -> bool:
    stripped = line.strip(" \t")
    # A whole-line comment is any line starting with '#', as in YAML.
    return not stripped or stripped.startswith("#")


def _strip_comment(text: str) -> str:
    match = _COMMENT.search(text)
    return (text[: match.start()] if match else text).strip(" \t")


def _fold_lines(lines: list[str]) -> str:
    """Join the lines of a plain scalar the YAML way, dropping comments.

    Whitespace around each break goes; one break becomes a space, each blank line a newline.
    """
    text = ""
    breaks = 0
    for line in lines:
        stripped = _strip_comment(line)
        if not stripped:
            breaks += 1
            continue
        if text:
            text += "\n" * breaks if breaks else " "
        text += stripped
        breaks = 0
    return text


def _resolve_plain(text: str) -> object:
    """Type an unquoted scalar: the YAML 1.2 core schema, minus floats, plus lenient timestamps.

    Floats and YAML 1.1 words ('yes', 'on', '0x1F', '012') stay strings: we never need them,
    and keeping the text is lossless.
    """
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # longer than Python's int-from-string limit: keep the text
            return text
    stamp = _parse_timestamp(text)
    return text if stamp is None else stamp


def _parse_timestamp(text: str) -> datetime | None:
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    tz: timezone = UTC
    if zone and zone not in "Zz":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        hours, minutes = (digits[:-2], digits[-2:]) if len(digits) > 2 else (digits, "0")
        tz = timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))
    try:
        # Without a zone we assume UTC, as YAML does; a date alone is its midnight UTC.
        stamp = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=tz,
        )
        return stamp.astimezone(UTC)
    except (ValueError, OverflowError):  # 2024-02-30, hour 24, an offset of 24h...
        return None


def coerce_datetime(value: object) -> datetime | None:
    """An aware UTC datetime from a front matter value, or None.

    For importers: tools often quote their timestamps (`created: "2024-01-05T10:00"`), which makes
    them strings to YAML. Accepts datetimes (naive ones are taken as UTC), dates (midnight UTC)
    and strings in the same ISO-like forms the reader resolves.
    """
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        return _parse_timestamp(value.strip())
    return None


def _dedent_raw(lines: list[str]) -> str:
    """The text of a block we do not understand, kept as a string so nothing is lost."""
    last = len(lines)
    while last and _is_blank_or_comment(lines[last - 1]):
        last -= 1
    lines = lines[:last]
    depth = min((_indent(line) for line in lines if line.strip(" \t")), default=0)
    return "\n".join(line[min(depth, _indent(line)) :] for line in lines)


class _Parser:
    """A line-oriented reader for one front matter block (without its fences).

    Top-level structure (keys at column 0, indentation) is strict, raising _Malformed. Values are
    lenient: one we cannot read raises _NotUnderstood and is kept as its raw text.
    Quoted scalars and flow lists, which may span lines, are scanned on `src`, the lines joined
    by '\\n'.
    """

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.src = "\n".join(lines)
        self.starts: list[int] = []
        offset = 0
        for line in lines:
            self.starts.append(offset)
            offset += len(line) + 1

    def line_of(self, pos: int) -> int:
        return bisect.bisect_right(self.starts, pos) - 1

    def parse(self) -> dict[str, object]:
        meta: dict[str, object] = {}
        lines = self.lines
        i = 0
        while i < len(lines):
            line = lines[i]
            if _is_blank_or_comment(line):
                i += 1
                continue
            if line[0] in " \t":
                raise _Malformed(f"unexpected indentation on line {i + 2}")
            key, col = self.key(i)
            if key in meta:
                # YAML forbids it and readers disagree on which one wins; rather than drop one
                # value silently, keep the whole block in the body.
                raise _Malformed(f"duplicate key on line {i + 2}")
            meta[key], i = self.entry(i, col)
        return meta

    def key(self, i: int) -> tuple[str, int]:
        """The key on line i and the column just after its ':'."""
        line = self.lines[i]
        if line[0] in "\"'":
            try:
                key, col = _scan_quoted(line)  # a key stays on its line
            except _NotUnderstood as exc:
                raise _Malformed(f"bad quoted key on line {i + 2}") from exc
            match = _QUOTED_KEY_COLON.match(line, col)
            if match is None:
                raise _Malformed(f"no ':' after the key on line {i + 2}")
            return key, match.end()
        match = _KEY_COLON.search(line)
        if match is None:
            raise _Malformed(f"line {i + 2} is not 'key: value'")
        key = line[: match.start()].rstrip(" \t")
        if (
            not key
            or key[0] in _BAD_KEY_START
            or _SEQ_ITEM.fullmatch(key)  # a list item with no key above it
            or key == "?"
            or key.startswith(("? ", "?\t"))  # YAML complex keys
            or _COMMENT.search(key)
        ):
            raise _Malformed(f"unreadable key on line {i + 2}")
        return key, match.end()

    def entry(self, i: int, col: int) -> tuple[object, int]:
        """The value of the key on line i; returns it and the index of the next line to read."""
        lines = self.lines
        inline = lines[i][col:].strip(" \t")
        empty = not inline or _is_comment(inline)
        # The value's lines: indented ones, blank ones and comments; and, when nothing follows
        # the ':', list items at column 0 (`tags:\n- a`), which YAML allows and tools write.
        end = i + 1
        while end < len(lines) and (
            _is_blank_or_comment(lines[end])
            or lines[end][0] in " \t"
            or (empty and _SEQ_ITEM.fullmatch(lines[end]) is not None)
        ):
            end += 1
        if empty:
            return self.block(i + 1, end), end
        start = len(lines[i]) - len(lines[i][col:].lstrip(" \t"))
        try:
            return self.value(i, start, 0, end), end
        except _NotUnderstood:
            rest = _dedent_raw(lines[i + 1 : end])
            return (inline + "\n" + rest if rest else inline), end

    def value(self, i: int, col: int, parent: int, end: int) -> object:
        """A value starting at (line i, col) that owns lines up to `end`, all indented > parent."""
        lines = self.lines
        first = lines[i][col]
        if first in "\"'[":
            pos = self.starts[i] + col
            # Scanning stops at the value's own lines: an unclosed quote or bracket must not
            # run through the rest of the block (that would also be quadratic).
            region = self.src[pos : self.starts[end - 1] + len(lines[end - 1])]
            value, length = _scan_quoted(region) if first != "[" else _scan_flow_list(region)
            self.expect_nothing_after(pos + length, end)
            return value
        if first in "|>":
            return self.block_scalar(i, col, parent, end)
        if first in "{&*!%@`":  # flow maps, anchors, aliases, tags, reserved indicators
            raise _NotUnderstood(first)
        # A plain scalar, possibly continued on more-indented lines (how PyYAML wraps long ones).
        rest = [line for line in lines[i + 1 : end] if not line.strip(" \t").startswith("#")]
        return _resolve_plain(_fold_lines([lines[i][col:], *rest]))

    def expect_nothing_after(self, stop: int, end: int) -> None:
        """After a quoted scalar or flow list: only a comment on its line, then no more lines."""
        line = self.line_of(stop - 1)
        tail = self.src[stop : self.starts[line] + len(self.lines[line])].strip(" \t")
        if line >= end or (tail and not tail.startswith("#")):
            raise _NotUnderstood("text after the value")
        if any(not _is_blank_or_comment(x) for x in self.lines[line + 1 : end]):
            raise _NotUnderstood("lines after the value")

    def block(self, start: int, end: int) -> object:
        """The value of a key with nothing after its ':' - a list, a scalar below, or None."""
        lines = self.lines
        content = [k for k in range(start, end) if not _is_blank_or_comment(lines[k])]
        if not content:
            return None
        first = content[0]
        depth = _indent(lines[first])
        try:
            if _SEQ_ITEM.fullmatch(lines[first]):
                return self.block_list(first, end, depth)
            if lines[first][depth] in "\"'[" or not _KEY_COLON.search(lines[first]):
                # A scalar that starts on the line below its key.
                return self.value(first, depth, 0, end)
            raise _NotUnderstood("nested mapping")
        except _NotUnderstood:
            return _dedent_raw(lines[start:end])

    def block_list(self, start: int, end: int, depth: int) -> list[object]:
        lines = self.lines
        items: list[object] = []
        k = start
        while k < end:
            if _is_blank_or_comment(lines[k]):
                k += 1
                continue
            match = _SEQ_ITEM.fullmatch(lines[k])
            if match is None or len(match.group(1)) != depth:
                raise _NotUnderstood("not a list item")
            # The item owns the more-indented lines below it.
            item_end = k + 1
            while item_end < end and (
                _is_blank_or_comment(lines[item_end]) or _indent(lines[item_end]) > depth
            ):
                item_end += 1
            text = match.group(2)
            if not text or _is_comment(text):
                if any(not _is_blank_or_comment(x) for x in lines[k + 1 : item_end]):
                    raise _NotUnderstood("nested block in a list")
                items.append(None)
            elif _SEQ_ITEM.fullmatch(text) or (
                text[0] not in "\"'[" and _KEY_COLON.search(_strip_comment(text))
            ):
                raise _NotUnderstood("nested list or mapping in a list")
            else:
                items.append(self.value(k, match.start(2), depth, item_end))
            k = item_end
        return items

    def block_scalar(self, i: int, col: int, parent: int, end: int) -> str:
        """A '|' (literal) or '>' (folded) block scalar, after PyYAML's scan_block_scalar."""
        header = _BLOCK_HEADER.fullmatch(self.lines[i], col)
        if header is None or (header.group(2) and header.group(4)):
            raise _NotUnderstood("block scalar header")
        folded = header.group(1) == ">"
        chomping = header.group(3)  # '-' strip, '+' keep, None clip
        explicit = header.group(2) or header.group(4)
        body = self.lines[i + 1 : end]
        if explicit:
            depth = parent + int(explicit)
        else:
            # As in YAML, the first non-blank line sets the indentation; a less indented line
            # (a comment at column 0, say) ends the scalar.
            depth = next((_indent(x) for x in body if x.strip(" \t")), parent + 1)
        if depth <= parent:
            raise _NotUnderstood("block scalar indentation")
        chunks: list[str] = []
        breaks: list[str] = []
        line_break = ""
        k = 0
        # Leading blank lines are newlines of the content.
        while k < len(body) and not body[k].strip(" \t"):
            breaks.append("\n")
            k += 1
        while k < len(body) and _indent(body[k]) >= depth:
            chunks.extend(breaks)
            text = body[k][depth:]
            more_indented = text[:1] in (" ", "\t")
            chunks.append(text)
            line_break = "\n"
            breaks = []
            k += 1
            while k < len(body) and not body[k].strip(" \t"):
                breaks.append("\n")
                k += 1
            if k < len(body) and _indent(body[k]) >= depth:
                if folded and not more_indented and body[k][depth : depth + 1] not in (" ", "\t"):
                    if not breaks:
                        chunks.append(" ")
                else:
                    chunks.append(line_break)
        if any(not _is_blank_or_comment(x) for x in body[k:]):
            raise _NotUnderstood("block scalar indentation")
        if chomping != "-":
            chunks.append(line_break)
        if chomping == "+":
            chunks.extend(breaks)
        return "".join(chunks)


def _scan_quoted(src: str) -> tuple[str, int]:
    """Scan the single- or double-quoted scalar that starts `src`; returns it and its length.

    Line breaks inside fold the YAML way: one break is a space, each blank line a newline.
    """
    quote = src[0]
    out: list[str] = []
    p = 1
    while p < len(src):
        ch = src[p]
        if ch == quote:
            if quote == "'" and src.startswith("''", p):
                out.append("'")
                p += 2
                continue
            return "".join(out), p + 1
        if ch == "\\" and quote == '"':
            p = _scan_escape(src, p, out)
        elif ch in " \t\n":
            q = p
            while q < len(src) and src[q] in " \t":
                q += 1
            if q < len(src) and src[q] == "\n":
                # Whitespace before a line break is dropped, as is indentation after it.
                breaks: list[str] = []
                p = _skip_breaks(src, q + 1, breaks)
                out.extend(breaks or [" "])
            else:
                out.append(src[p:q])
                p = q
        else:
            out.append(ch)
            p += 1
    raise _NotUnderstood("unterminated quoted scalar")


def _skip_breaks(src: str, p: int, breaks: list[str]) -> int:
    """Skip indentation and blank lines from src[p], adding a newline to `breaks` per blank."""
    while True:
        while p < len(src) and src[p] in " \t":
            p += 1
        if p < len(src) and src[p] == "\n":
            breaks.append("\n")
            p += 1
        else:
            return p


def _scan_escape(src: str, p: int, out: list[str]) -> int:
    """Decode the escape at src[p] (a backslash) into `out`; returns the offset after it."""
    if p + 1 >= len(src):
        raise _NotUnderstood("backslash at the end")
    code = src[p + 1]
    if code in _ESCAPES:
        out.append(_ESCAPES[code])
        return p + 2
    if code == "\n":  # an escaped line break joins the lines without a space
        return _skip_breaks(src, p + 2, out)
    width = _HEX_ESCAPES.get(code)
    digits = src[p + 2 : p + 2 + width] if width else ""
    if not width or len(digits) != width or not all(c in _HEX for c in digits):
        raise _NotUnderstood(f"bad escape \\{code}")
    value = int(digits, 16)
    if value > 0x10FFFF:
        raise _NotUnderstood("escape beyond Unicode")
    end = p + 2 + width
    # JSON writes astral characters as surrogate pairs; YAML readers that follow JSON join them.
    if code == "u" and 0xD800 <= value <= 0xDBFF and src.startswith("\\u", end):
        low = src[end + 2 : end + 6]
        if len(low) == 4 and all(c in _HEX for c in low):
            low_value = int(low, 16)
            if 0xDC00 <= low_value <= 0xDFFF:
                out.append(chr(0x10000 + ((value - 0xD800) << 10) + (low_value - 0xDC00)))
                return end + 6
    out.append(chr(value))
    return end


def _scan_flow_list(src: str) -> tuple[list[object], int]:
    """Scan the `[a, "b, c", 'd']` that starts `src`; returns the items and its length."""
    items: list[object] = []
    p = 1

    def skip_space(p: int) -> int:
        while p < len(src):
            if src[p] in " \t\n":
                p += 1
            elif src[p] == "#" and src[p - 1] in " \t\n":
                newline = src.find("\n", p)
                p = len(src) if newline == -1 else newline
            else:
                break
        return p

    while True:
        p = skip_space(p)
        if p >= len(src):
            raise _NotUnderstood("unterminated flow list")
        if src[p] == "]":
            return items, p + 1
        if src[p] in "\"'":
            item, length = _scan_quoted(src[p:])
            p += length
            items.append(item)
        elif src[p] in "[]{},&*!|>%@`":
            raise _NotUnderstood("nested or empty flow item")
        else:
            q = p
            while (
                q < len(src)
                and src[q] not in ",]"
                and not (src[q] == "#" and src[q - 1] in " \t\n")
            ):
                q += 1
            text = _fold_lines(src[p:q].split("\n"))
            if _KEY_COLON.search(text):
                raise _NotUnderstood("mapping inside a flow list")
            items.append(_resolve_plain(text))
            p = q
        p = skip_space(p)
        if p < len(src) and src[p] == ",":
            p += 1
        elif p >= len(src) or src[p] != "]":
            raise _NotUnderstood("expected ',' or ']'")


# --- tags --------------------------------------------------------------------------------------


def _tag_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        # The reader turns `- 2024-01-05` into a datetime; as a tag, the date is what was meant.
        utc = value.astimezone(UTC) if value.tzinfo else value
        if (utc.hour, utc.minute, utc.second, utc.microsecond) == (0, 0, 0, 0):
            return utc.date().isoformat()
        return utc.replace(tzinfo=None).isoformat() + ("Z" if value.tzinfo else "")
    if isinstance(value, int | str):
        return str(value)
    return None


def normalise_tags(value: object) -> list[str]:
    """The tags in a front matter value, in order, without '#' prefixes or duplicates.

    Accepts what tools write: a list (`[a, b]` or a block list), a comma-separated string
    ("a, b"), or space-separated words with or without '#' ("#a #b", "a b"). Items of a list are
    not split further, so a tag with a space in it survives a round trip. Other values give [].
    """
    raw: list[str] = []
    if isinstance(value, str):
        parts = value.split(",")
        for part in parts:
            words = part.split()
            # Without commas, whitespace separates tags (Obsidian's form); with commas, a part
            # is split only if it is a run of '#tag' words.
            if len(parts) == 1 or all(word.startswith("#") for word in words):
                raw.extend(words)
            else:
                raw.append(part)
    elif isinstance(value, Iterable) and not isinstance(value, bytes | dict):
        raw.extend(text for item in value if (text := _tag_text(item)) is not None)
    else:
        text = _tag_text(value)
        raw.extend([text] if text is not None else [])
    tags: list[str] = []
    for item in raw:
        tag = item.strip().lstrip("#").strip()
        if tag and tag not in tags:
            tags.append(tag)
    return tags


# --- file names --------------------------------------------------------------------------------

# Characters Windows refuses in names ('/' is also the separator everywhere, ':' on old macOS).
_FORBIDDEN = frozenset('/\\:*?<>|"')
_LINE_BREAKS = frozenset("\t\n\v\f\r\x85\u2028\u2029")
# Device names Windows reserves in every folder, with or without an extension and trailing
# spaces, in any case. The superscript digits are on Microsoft's list too.
_WINDOWS_RESERVED = re.compile(
    r"(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]|CONIN\$|CONOUT\$) *(?:\.|$)", re.IGNORECASE
)
_EDGES = re.compile(r"^[\s.]+|[\s.\u200d]+$")
_MIN_STEM_BYTES = 16


def _clean(title: str) -> str:
    """A readable, portable version of `title`, possibly empty."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", title):
        if ch == '"':
            out.append("'")  # reads better than a dash: 'The "best" idea' -> "The 'best' idea"
        elif ch in _FORBIDDEN:
            out.append("-")
        elif ch in _LINE_BREAKS:
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cs"):
            out.append("-")  # other controls, and lone surrogates (they cannot be encoded)
        else:
            out.append(ch)
    # Collapse whitespace runs, and drop leading/trailing whitespace and dots: Windows strips
    # trailing ones silently (so two names would collide), and a leading dot hides the file.
    text = re.sub(r"\s+", " ", "".join(out))
    return unicodedata.normalize("NFC", _strip_edges(text))


def _strip_edges(text: str) -> str:
    """`_EDGES.sub("", text)` for a text whose whitespace runs are single spaces, in linear
    time: on a long run of dots inside a title the regex's `$` branch is quadratic."""
    return text.lstrip(" .").rstrip(" .\u200d")


def _truncate(text: str, max_bytes: int) -> str:
    """The longest prefix of `text` that fits in `max_bytes` of UTF-8, whole characters only."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def _fold(name: str) -> str:
    """The key under which case-insensitive file systems see `name` (they ignore NFC/NFD too)."""
    if name.isascii():
        # The common case, and cheap: this runs on every name in the folder on every call.
        return name.lower()
    return unicodedata.normalize("NFC", name).casefold()


def _fit(base: str, budget: int, suffix: str, ext: str) -> str:
    """`base` cut to `budget` bytes, as a stem that is valid followed by `suffix` and `ext`."""
    # Truncating can expose a trailing space or dot, or leave a dangling zero-width joiner.
    stem = _EDGES.sub("", _truncate(base, budget)) or "Untitled"
    reserved = _WINDOWS_RESERVED.match(stem + suffix + ext)
    if reserved:
        cut = reserved.end(1)
        stem = _EDGES.sub("", _truncate(stem[:cut] + "_" + stem[cut:], budget))  # 'con_'
    return stem


class _Namer:
    """Chooses names in one folder; remembers what it learnt so a batch stays linear."""

    def __init__(self, taken: set[str], ext: str, max_bytes: int) -> None:
        if ext and (
            not ext.startswith(".") or ext != ext.strip() or any(c in _FORBIDDEN for c in ext)
        ):
            raise ValueError(f"not a file extension: {ext!r}")
        self.room = max_bytes - len(ext.encode("utf-8"))
        if self.room < _MIN_STEM_BYTES:
            raise ValueError("max_bytes leaves no room for a name")
        self.taken = taken
        self.ext = ext
        # Compared folded: on a case-insensitive disk "Note.md" would overwrite "note.md".
        self.used = {_fold(name) for name in taken}
        # For each cleaned title, the first ' (n)' not yet tried. Names are only ever added,
        # so every smaller n is still taken: a folder of 10,000 'Untitled' notes stays linear.
        self.next_n: dict[str, int] = {}

    def name(self, title: str) -> str:
        base = _clean(title) or "Untitled"
        n = self.next_n.get(base, 1)
        if n == 1:
            stem = _fit(base, self.room, "", self.ext)
            n = 2
            if self.claim(stem + self.ext):
                self.next_n[base] = n
                return stem + self.ext
        budget = -1
        stem = ""
        while True:
            suffix = f" ({n})"
            n += 1
            if budget != self.room - len(suffix):
                # The stem changes only when the (ASCII) suffix gains a digit, and whether it is
                # a device name is the same for every ' (n)'.
                budget = self.room - len(suffix)
                stem = _fit(base, budget, suffix, self.ext)
            if self.claim(stem + suffix + self.ext):
                self.next_n[base] = n
                return stem + suffix + self.ext

    def claim(self, name: str) -> bool:
        folded = _fold(name)
        if folded in self.used:
            return False
        self.used.add(folded)
        self.taken.add(name)
        return True


def safe_filename(title: str, taken: set[str], *, ext: str = ".md", max_bytes: int = 255) -> str:
    """A file name for a note titled `title`, valid on Linux, macOS and Windows.

    NFC-normalised; characters Windows forbids become '-' (a double quote becomes "'"), line
    breaks become spaces and whitespace runs collapse; no leading or trailing spaces or dots;
    Windows device names get a '_' ('con' -> 'con_.md'); an empty result is 'Untitled'. At most
    `max_bytes` of UTF-8 including `ext`, cut between characters. Unique against `taken`
    compared case-insensitively, by adding ' (2)', ' (3)'... before `ext`; the chosen name is
    added to `taken`.

    Each call reads all of `taken`; to name a whole folder use `safe_filenames`, which gives the
    same names without re-reading it for every note.
    """
    return _Namer(taken, ext, max_bytes).name(title)


def safe_filenames(
    titles: Iterable[str], taken: set[str], *, ext: str = ".md", max_bytes: int = 255
) -> list[str]:
    """`safe_filename` for each title in turn, in time linear in the folder's size."""
    namer = _Namer(taken, ext, max_bytes)
    return [namer.name(title) for title in titles]


def safe_dirname(name: str, taken: set[str], *, max_bytes: int = 255) -> str:
    """A folder name for a notebook called `name`: the rules of `safe_filename`, no extension."""
    return _Namer(taken, "", max_bytes).name(name)
