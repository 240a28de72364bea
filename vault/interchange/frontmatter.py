"""Markdown front matter and file names for exporting and importing notes.

Why this exists: an export is only worth something if other tools can read it. Obsidian, static
site generators and most Markdown editors agree on one convention, a YAML block fenced by `---`
lines at the top of the file, so that is what we write and read. The YAML itself is PyYAML's
(libyaml's C scanner when it is installed): a well-kept, widely audited parser rather than our
own. Around it this module keeps what is ours:

* `dump_front_matter` writes through `yaml.dump` with the safe dumper, every scalar on one line,
  and timestamps as UTC with a 'Z';
* `split_front_matter` reads other tools' front matter from PyYAML's *event* stream, never by
  constructing objects: no tag is ever acted on (a `!!python/...` tag refuses the block), an
  alias is never expanded (an alias bomb costs nothing), nesting and size are bounded. Typing
  is deliberately narrower than YAML 1.1's: null, true/false, decimal integers and ISO-like
  timestamps (as aware UTC datetimes); floats and 'yes'/'on' stay text. A value beyond that
  (a nested map, a list of lists, an anchor, an alias, a tagged value) is kept as its source
  text. A block that is not YAML, or not a flat mapping, is no front matter at all: the whole
  text is the body. A person's note must never be lost on import, so the reader never raises;
* `normalise_tags`, because tags come as lists, comma-separated strings or '#tag' words;
* `safe_filename` / `safe_filenames` / `safe_dirname`, names that are valid and distinct on
  Linux, macOS and Windows, because an export is often copied from one system to another.

Everything here is pure: no file system access, no vault state.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import yaml

try:  # libyaml's C scanner and emitter when installed; the same results, faster
    from yaml import CSafeDumper as _BaseDumper
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

__all__ = [
    "MAX_FRONT_MATTER",
    "coerce_datetime",
    "dump_front_matter",
    "normalise_tags",
    "read_front_matter",
    "safe_dirname",
    "safe_filename",
    "safe_filenames",
    "split_front_matter",
]

# A fenced block longer than this (characters) is not read as front matter: the file is all body.
MAX_FRONT_MATTER = 256 * 1024
# Collections nested deeper than this refuse the block (a value is at depth 1).
MAX_DEPTH = 32

_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
# ASCII digits only: `\d` would also take Arabic-Indic and other digits.
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
    r"(?:(?:[Tt]|[ \t]+)([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?"
    r"(?:[ \t]*(Z|z|[-+][0-9]{1,2}(?::?[0-9]{2})?))?)?"
)
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


# --- writing -----------------------------------------------------------------------------------


class _Dumper(_BaseDumper):
    """The safe dumper, told that the reader also takes `2024-1-5` and `2024-01-05T10:00` for
    timestamps, so such strings are quoted."""


_Dumper.add_implicit_resolver(
    _TIMESTAMP_TAG, re.compile(f"^(?:{_TIMESTAMP.pattern})$"), list("0123456789")
)


def _represent_str(dumper: yaml.BaseDumper, value: str) -> yaml.ScalarNode:
    # Anything but printable characters (line breaks, tabs, controls, BOM, LS/PS) is written
    # double-quoted with escapes, so each scalar stays on its line and no line can fake a fence.
    style = None if value.isprintable() else '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _format_datetime(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        # A naive datetime has no single meaning once it leaves this machine; refusing is better
        # than silently exporting the wrong instant.
        raise ValueError("front matter datetimes must be timezone-aware")
    # isoformat() pads the year to four digits and writes microseconds only when there are any.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def _represent_datetime(dumper: yaml.BaseDumper, value: datetime) -> yaml.ScalarNode:
    return dumper.represent_scalar(_TIMESTAMP_TAG, _format_datetime(value))


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(datetime, _represent_datetime)


def _emittable(key: object, value: object) -> object:
    """`value` as a plain built-in the dumper writes, or TypeError for what we never write."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)  # an IntEnum is written as its number
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, datetime):
        _format_datetime(value)  # refuses a naive one
        return value
    if isinstance(value, list | tuple):
        for item in value:
            if not isinstance(item, str):
                raise TypeError(f"front matter list items must be str, not {type(item).__name__}")
        return [str.__str__(item) for item in value]
    raise TypeError(f"cannot write {type(value).__name__} to front matter ({key!r})")


def dump_front_matter(meta: dict[str, object]) -> str:
    """Render `meta` as a front matter block: '---\\n', one entry per key, '---\\n'.

    Values may be str, bool, int, None, aware datetime (written as UTC with a 'Z') or a list of
    str. Keys keep their order. An empty `meta` still gives the two fences, so a body that
    itself starts with '---' is never mistaken for front matter.
    """
    checked: dict[str, object] = {}
    for key, value in meta.items():
        if not isinstance(key, str):
            raise TypeError(f"front matter keys must be str, not {type(key).__name__}")
        checked[str.__str__(key)] = _emittable(key, value)
    if not checked:
        return "---\n---\n"
    text = yaml.dump(
        checked,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1 << 30,  # never fold a long value over several lines
    )
    return f"---\n{text}---\n"


# --- reading -----------------------------------------------------------------------------------


class _Malformed(ValueError):
    """The fenced block is not front matter we can read; the caller keeps it in the body."""


def split_front_matter(text: str) -> tuple[dict[str, object], str]:
    """Split a Markdown document into (front matter, body).

    Without front matter, or with front matter we cannot read, returns ({}, text) unchanged.
    Never raises: on import a note is worth more than its metadata.
    """
    meta, body, _ = read_front_matter(text)
    return meta, body


def read_front_matter(text: str) -> tuple[dict[str, object], str, str | None]:
    """`split_front_matter`, and why a fenced block at the top could not be read as front
    matter (None if there is none, or it was read): an import says so, as the block then
    stays in the note's text and its title, tags and dates are not taken from it."""
    try:
        found = _split(text)
    except _Malformed as exc:
        return {}, text, str(exc) or "not front matter this reads"
    except Exception:
        # _split only means to raise _Malformed. Anything else would be a bug here, and the
        # contract is that a bug costs the note its metadata, never its content.
        return {}, text, "not front matter this reads"
    return (*found, None) if found is not None else ({}, text, None)


def _split(text: str) -> tuple[dict[str, object], str] | None:
    """The strict core of split_front_matter: None for no front matter, _Malformed for bad."""
    src = text[1:] if text.startswith("\ufeff") else text
    newline = src.find("\n")
    if newline == -1 or src[:newline].rstrip(" \t\r") != "---":
        return None
    lines: list[str] = []
    pos = newline + 1
    while pos <= len(src) and pos - newline <= MAX_FRONT_MATTER:
        end = src.find("\n", pos)
        line = src[pos:] if end == -1 else src[pos:end]
        # '...' is YAML's own end-of-document marker; Pandoc writes it.
        if line.rstrip(" \t\r") in ("---", "..."):
            body = "" if end == -1 else src[end + 1 :]
            # Every line keeps its break: a `|+` block scalar keeps the one before the fence.
            return _read_mapping("".join(x + "\n" for x in lines)), body
        if end == -1:
            break
        lines.append(line.removesuffix("\r"))
        pos = end + 1
    # An opening fence and no closing one (a thematic break), or too long: not front matter.
    return None


def _read_mapping(src: str) -> dict[str, object]:
    try:
        return _mapping(iter(yaml.parse(src, Loader=_BaseLoader)), src)
    except (yaml.YAMLError, ValueError, StopIteration, RecursionError) as exc:
        raise _Malformed(str(exc).split("\n", 1)[0]) from None


def _refuse_tag(event: yaml.Event) -> bool:
    """True when `event` carries a tag or anchor (its value is then kept as text); refuses
    `!!python/...` outright, which only an unsafe loader would act on."""
    tag = getattr(event, "tag", None)
    if tag and tag.startswith("tag:yaml.org,2002:python/"):
        raise _Malformed("python tag")
    return bool(getattr(event, "anchor", None)) or tag not in (None, "!")


def _mapping(events: Iterator[yaml.Event], src: str) -> dict[str, object]:
    """The top-level mapping, from PyYAML's events: a flat block mapping at column 0."""
    if not isinstance(next(events), yaml.StreamStartEvent):
        raise _Malformed("no stream")
    event = next(events)
    if isinstance(event, yaml.StreamEndEvent):
        return {}  # only comments and blank lines
    if not isinstance(event, yaml.DocumentStartEvent) or event.explicit:
        raise _Malformed("not one document")
    event = next(events)
    if (
        not isinstance(event, yaml.MappingStartEvent)
        or event.flow_style
        or event.start_mark.column != 0
        or _refuse_tag(event)
    ):
        raise _Malformed("not a mapping")
    meta: dict[str, object] = {}
    while not isinstance(key := next(events), yaml.MappingEndEvent):
        if not isinstance(key, yaml.ScalarEvent) or _refuse_tag(key):
            raise _Malformed("a key that is not text")
        if key.value in meta:
            # YAML forbids it and readers disagree on which one wins; rather than drop one
            # value silently, keep the whole block in the body.
            raise _Malformed("duplicate key")
        meta[key.value] = _value(events, src, key)
    if not isinstance(next(events), yaml.DocumentEndEvent) or not isinstance(
        next(events), yaml.StreamEndEvent
    ):
        raise _Malformed("more than one document")
    return meta


def _value(events: Iterator[yaml.Event], src: str, key: yaml.ScalarEvent) -> object:
    """One value: a scalar, a list of scalars, or else the value's source text."""
    event = next(events)
    if isinstance(event, yaml.ScalarEvent):
        if _refuse_tag(event):
            return _source(src, event.start_mark.index, event.end_mark.index)
        if event.value == "" and event.implicit[0]:
            return _hash_words(src, key.end_mark.index)
        return _scalar(event)
    if isinstance(event, yaml.AliasEvent):
        return _source(src, event.start_mark.index, event.end_mark.index)
    # A collection: consumed to its end, without recursion and to a bounded depth.
    start = event.start_mark.index
    flat = isinstance(event, yaml.SequenceStartEvent) and not _refuse_tag(event)
    items: list[object] = []
    depth = 1
    while depth:
        event = next(events)
        if isinstance(event, yaml.CollectionStartEvent):
            _refuse_tag(event)
            depth += 1
            flat = False
            if depth > MAX_DEPTH:
                raise _Malformed("nested too deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.ScalarEvent) and not _refuse_tag(event):
            items.append(_scalar(event))
        else:  # an alias, or a tagged or anchored item
            flat = False
    return items if flat else _source(src, start, event.end_mark.index)


def _scalar(event: yaml.ScalarEvent) -> object:
    # Only plain scalars are typed; a quoted one, or one tagged '!', is text.
    return _resolve_plain(event.value) if event.implicit[0] and event.tag is None else event.value


def _hash_words(src: str, key_end: int) -> str | None:
    """An empty value, unless Obsidian's `tags: #idea #todo` (a comment, to YAML) is what the
    key's line holds: '#' followed by a word, rather than by a space, is kept as the value."""
    line_end = src.find("\n", key_end)
    rest = src[key_end : line_end if line_end != -1 else len(src)].lstrip(" \t")
    if not rest.startswith(":"):
        return None
    rest = rest[1:].strip(" \t")
    if not rest.startswith("#") or rest[1:2] in ("", " ", "\t"):
        return None
    # A comment after the words: ' #' followed by a space or the end of the line.
    return re.split(r"[ \t]#(?=[ \t]|$)", rest, maxsplit=1)[0].rstrip(" \t")


def _source(src: str, start: int, end: int) -> str:
    """A value's text as written, dedented, without trailing blank or comment lines."""
    lines = src[start:end].split("\n")
    while len(lines) > 1 and lines[-1].strip(" \t")[:1] in ("", "#"):
        lines.pop()
    first, rest = lines[0].rstrip(" \t"), lines[1:]
    indents = [len(x) - len(x.lstrip(" \t")) for x in rest]
    depth = min((n for n, x in zip(indents, rest, strict=True) if x.strip(" \t")), default=0)
    return "\n".join([first, *(x[min(depth, n) :] for n, x in zip(indents, rest, strict=True))])


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
