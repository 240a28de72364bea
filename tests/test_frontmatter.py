"""Tests for vault.interchange.frontmatter: the YAML-subset emitter, the tolerant reader and file names."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault.interchange import frontmatter
from vault.interchange.frontmatter import (
    coerce_datetime,
    dump_front_matter,
    normalise_tags,
    read_front_matter,
    safe_dirname,
    safe_filename,
    safe_filenames,
    split_front_matter,
)

# --- strategies --------------------------------------------------------------------------------

# Strings that have bitten YAML emitters: reserved words, numbers, dates, indicators, fences,
# quotes, escapes, line breaks of every kind, invisible characters.
TRICKY = [
    "",
    " ",
    "yes",
    "No",
    "ON",
    "y",
    "null",
    "~",
    "true",
    "False",
    "1.0",
    "012",
    "0x1F",
    "+1",
    "-1",
    "1e3",
    ".inf",
    ".NaN",
    "2024-01-01",
    "2024-01-01T10:00:00Z",
    "12:30",
    "---",
    "...",
    "--- x",
    "# heading",
    "#tag",
    "a #b",
    "a: b",
    "a:",
    ":",
    "http://x.y/z#f",
    " lead",
    "trail ",
    "trail.",
    "it's",
    "'single'",
    '"double"',
    "\\",
    "\\n",
    "tab\there",
    "line\nbreak",
    "\r\n",
    "\n\n",
    "\u2028",
    "\u2029",
    "\x85",
    "\ufeff",
    "\x00",
    "\x7f",
    "\u200d",
    "😀",
    "👨\u200d👩\u200d👧",
    "naïve café",
    "e\u0301",
    "[a, b]",
    "{x: y}",
    "- item",
    "-",
    "?",
    "? x",
    "|",
    ">-",
    "&anchor",
    "*alias",
    "!tag",
    "!!str",
    "%YAML",
    "@at",
    "`tick`",
    "<<",
    "=",
    ",",
]

texts = st.one_of(
    st.text(),
    st.sampled_from(TRICKY),
    st.lists(st.one_of(st.sampled_from(TRICKY), st.text(max_size=3)), max_size=5).map("".join),
)
offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
# Second precision, and years where converting to UTC cannot overflow.
datetimes = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2200, 12, 31),
    timezones=st.one_of(st.just(UTC), offsets),
).map(lambda value: value.replace(microsecond=0))
values = st.one_of(texts, st.booleans(), st.integers(), st.none(), datetimes, st.lists(texts))
# A note's usual metadata, plus any other keys an export might carry.
metas = st.builds(
    lambda fixed, extra: {**fixed, **extra},
    st.fixed_dictionaries(
        {"title": texts, "tags": st.lists(texts.filter(bool)), "created": datetimes},
    ),
    st.dictionaries(texts, values, max_size=6),
)
bodies = st.one_of(
    st.text(),
    st.builds(
        lambda head, tail: head + tail,
        st.sampled_from(["---\n", "---\ntitle: x\n---\n", "---\r\n---\r\n", "...\n", "\ufeff"]),
        st.text(),
    ),
)


def typed(value: object) -> object:
    """`value` with every type spelled out, so True never passes for 1 nor '1' for 1."""
    if isinstance(value, dict):
        return [(typed(k), typed(v)) for k, v in value.items()]  # order matters too
    if isinstance(value, list):
        return ("list", [typed(item) for item in value])
    return (type(value).__name__, value)


# --- round trip --------------------------------------------------------------------------------


@settings(max_examples=500)
@given(meta=metas, body=bodies)
def test_round_trip(meta: dict[str, object], body: str) -> None:
    text = dump_front_matter(meta) + body
    parsed, rest = split_front_matter(text)
    assert (parsed, rest) == (meta, body)
    assert typed(parsed) == typed(meta)
    for value in parsed.values():
        if isinstance(value, datetime):
            assert value.tzinfo is UTC


@given(meta=metas)
def test_dump_shape(meta: dict[str, object]) -> None:
    text = dump_front_matter(meta)
    assert text.startswith("---\n")
    assert text.endswith("\n---\n")
    lines = text.split("\n")[1:-2]
    # One line per scalar: no value can spill over or fake a fence.
    assert all(line not in ("---", "...") for line in lines)
    assert all("\r" not in line and "\u2028" not in line for line in lines)


def test_dump_example() -> None:
    meta = {
        "title": 'Plan: "v2" # draft',
        "tags": ["work", "yes", "#idea", "2024"],
        "created": datetime(2024, 3, 1, 10, 30, tzinfo=timezone(timedelta(hours=2))),
        "updated": datetime(2024, 3, 1, 9, 0, 0, 250000, tzinfo=UTC),
        "pinned": True,
        "count": 3,
        "aliases": [],
        "summary": None,
        "plain": "Café notes, part 2",
        "simple": "Café notes part 2",
        "on": "off",
    }
    # PyYAML's safe dumper decides the quoting; what matters is one line per value and that
    # 'yes', '2024' and 'on' stay strings.
    assert dump_front_matter(meta) == (
        "---\n"
        "title: 'Plan: \"v2\" # draft'\n"
        "tags:\n"
        "- work\n"
        "- 'yes'\n"
        "- '#idea'\n"
        "- '2024'\n"
        "created: 2024-03-01T08:30:00Z\n"
        "updated: 2024-03-01T09:00:00.250000Z\n"
        "pinned: true\n"
        "count: 3\n"
        "aliases: []\n"
        "summary: null\n"
        "plain: Café notes, part 2\n"
        "simple: Café notes part 2\n"
        "'on': 'off'\n"
        "---\n"
    )


def test_dump_empty_meta_still_fences() -> None:
    # Without the fences a body starting with its own '---' block would be read as metadata.
    assert dump_front_matter({}) == "---\n---\n"
    body = "---\ntitle: not metadata\n---\ntext"
    assert split_front_matter(dump_front_matter({}) + body) == ({}, body)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("line\nbreak", '"line\\nbreak"'),
        ("tab\t", '"tab\\t"'),
        ("\u2028\x85\ufeff\x00", '"\\L\\N\\uFEFF\\0"'),
        ("ünïcödé", "ünïcödé"),
        ("\\", "\\"),
        ("", "''"),
        (" x", "' x'"),
        ("x ", "'x '"),
        ("Null", "'Null'"),
        ("1.0", "'1.0'"),
        ("---", "'---'"),
        ("2024-1-5", "'2024-1-5'"),  # the reader takes it for a date
        ("It's fine", "It's fine"),
    ],
)
def test_dump_string_quoting(value: str, expected: str) -> None:
    assert dump_front_matter({"k": value}) == f"---\nk: {expected}\n---\n"


def test_dump_rejects_what_it_cannot_write() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        dump_front_matter({"created": datetime(2024, 1, 1)})
    with pytest.raises(TypeError):
        dump_front_matter({"ratio": 1.5})
    with pytest.raises(TypeError):
        dump_front_matter({"tags": ["a", 1]})
    with pytest.raises(TypeError):
        dump_front_matter({1: "x"})  # type: ignore[dict-item]


# --- reading what other tools write ------------------------------------------------------------

OBSIDIAN = """\
---
title: Weekly review
aliases: [Review, "Week 12, 2024", 'It''s done']
tags: #review #weekly
cssclasses:
  - wide
# a comment line
created: 2024-03-18
updated: 2024-03-18T09:15
published: true
rating: 4
score: 4.5
status: yes
empty:
link: https://example.com/a#b   # a comment after a value
---
# Weekly review

Body text.
"""


def test_obsidian_sample() -> None:
    meta, body = split_front_matter(OBSIDIAN)
    assert meta == {
        "title": "Weekly review",
        "aliases": ["Review", "Week 12, 2024", "It's done"],
        "tags": "#review #weekly",
        "cssclasses": ["wide"],
        "created": datetime(2024, 3, 18, tzinfo=UTC),
        "updated": datetime(2024, 3, 18, 9, 15, tzinfo=UTC),
        "published": True,
        "rating": 4,
        "score": "4.5",  # floats stay text: we never need them, and text is lossless
        "status": "yes",  # YAML 1.1 booleans stay text too
        "empty": None,
        "link": "https://example.com/a#b",
    }
    assert body == "# Weekly review\n\nBody text.\n"
    assert normalise_tags(meta["tags"]) == ["review", "weekly"]


def test_crlf_and_bom() -> None:
    text = "\ufeff---\r\ntitle: Windows\r\ntags:\r\n  - a\r\n  - b\r\n---\r\nline 1\r\nline 2\r\n"
    assert split_front_matter(text) == (
        {"title": "Windows", "tags": ["a", "b"]},
        "line 1\r\nline 2\r\n",
    )


def test_bom_without_front_matter_is_untouched() -> None:
    text = "\ufeffJust a note\n"
    assert split_front_matter(text) == ({}, text)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # block list at the key's own indentation, as many tools write it
        ("tags:\n- a\n- 'b c'\n- \"#d\"", {"tags": ["a", "b c", "#d"]}),
        ("tags: [a, b, ]", {"tags": ["a", "b"]}),
        ("tags: []", {"tags": []}),
        ("tags: [a,\n  b]", {"tags": ["a", "b"]}),
        ("tags: a, b", {"tags": "a, b"}),
        ("tags: a b", {"tags": "a b"}),
        ("tags: # nothing but a comment", {"tags": None}),
        ("title: 'it''s \"quoted\"'", {"title": 'it\'s "quoted"'}),
        (
            'title: "tab\\there \\u00e9 \\U0001F600 \\x41"',
            {"title": "tab\there é 😀 A"},
        ),
        ('"quoted key": 1', {"quoted key": 1}),
        ("'single key': 1", {"single key": 1}),
        ("key with spaces: v", {"key with spaces": "v"}),
        ("url: a:b", {"url": "a:b"}),
        ("n: -7\nz: 0\nbig: 007", {"n": -7, "z": 0, "big": "007"}),
        (
            "a: true\nb: False\nc: TRUE\nd: ~\ne: null",
            {"a": True, "b": False, "c": True, "d": None, "e": None},
        ),
        ("when: 2024-01-05 10:20:30 +02:00", {"when": datetime(2024, 1, 5, 8, 20, 30, tzinfo=UTC)}),
        (
            "when: 2024-01-05T10:20:30.5-0130",
            {"when": datetime(2024, 1, 5, 11, 50, 30, 500000, tzinfo=UTC)},
        ),
        ("when: 2024-02-30", {"when": "2024-02-30"}),
        ('when: "2024-01-05"', {"when": "2024-01-05"}),
        # long values wrapped the way PyYAML wraps them
        (
            "d: a long\n  plain value\n\n  second paragraph",
            {"d": "a long plain value\nsecond paragraph"},
        ),
        ('d: "a long \\\n  \\ quoted value\n  continued"', {"d": "a long  quoted value continued"}),
        ("d: 'single\n\n  quoted'", {"d": "single\nquoted"}),
        ("d:\n  on the next line", {"d": "on the next line"}),
        (
            "d: |\n  line 1\n    indented\n\n  # not a comment\n",
            {"d": "line 1\n  indented\n\n# not a comment\n"},
        ),
        ("d: |-\n  kept\n", {"d": "kept"}),
        ("d: |+\n  kept\n", {"d": "kept\n\n"}),  # the line break before '---' is kept too
        ("d: >\n  folded\n  text\n\n  para\n", {"d": "folded text\npara\n"}),
        ("d: |2\n    two extra\n", {"d": "  two extra\n"}),
        ("? complex\n: key", {"complex": "key"}),  # YAML's explicit key
        ("1: one\ntrue: yes", {"1": "one", "true": "yes"}),  # keys are always their text
    ],
)
def test_reader_examples(source: str, expected: dict[str, object]) -> None:
    assert split_front_matter(f"---\n{source}\n---\nbody") == (expected, "body")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # Values beyond our subset are kept as their text rather than dropped.
        ("author:\n  name: Ann\n  url: https://x.y", {"author": "name: Ann\nurl: https://x.y"}),
        ("map: {a: 1}", {"map": "{a: 1}"}),
        ("ref: *anchor", {"ref": "*anchor"}),
        ("typed: !!str 5", {"typed": "!!str 5"}),
        ("nested: [[a], b]", {"nested": "[[a], b]"}),
        ("items:\n  - a: 1\n  - b", {"items": "- a: 1\n- b"}),
    ],
)
def test_values_not_understood_are_kept_as_text(source: str, expected: dict[str, object]) -> None:
    assert split_front_matter(f"---\n{source}\nafter: 1\n---\nbody") == (
        {**expected, "after": 1},
        "body",
    )


def test_fence_variants() -> None:
    assert split_front_matter("---\ntitle: x\n...\nbody") == ({"title": "x"}, "body")
    assert split_front_matter("--- \ntitle: x\n---  \nbody") == ({"title": "x"}, "body")
    assert split_front_matter("---\ntitle: x\n---") == ({"title": "x"}, "")
    assert split_front_matter("---\n---\nbody") == ({}, "body")
    assert split_front_matter("---\n# only a comment\n\n---\nbody") == ({}, "body")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no front matter\n---\ntitle: x\n---\n",
        "---",
        "---\n",
        "---\ntitle: never closed\n",
        "---\nJust some prose between two rules.\n---\nMore prose.\n",
        "---\ntitle: a\ntitle: b\n---\nduplicate keys\n",
        "---\n  indented: first\n---\nbody",
        "---\n- a list\n- without a key\n---\nbody",
        "---\n[a, b]\n---\nbody",
        '---\nbad: "\\q escape"\n---\nnot YAML: the whole block stays in the body',
        '---\njunk: "a" b\n---\nbody',
        "---\nopen: [a, b\n---\nbody",
        '---\nsurrogates: "\\ud83d\\ude00"\n---\nbody',  # JSON's escapes, not YAML's
        "---\n\tkey: tab-indented\n---\nbody",
        "---\n[a]: 1\n---\nbody",
        "---\n{a: 1}\n---\nbody",
        "---\nx: !!python/object/apply:os.system ['true']\n---\nbody",
        "---\nx: !!python/name:os.system\n---\nbody",
        "---\nx: [!!python/tuple [1]]\n---\nbody",
        '---\n"unterminated key: 1\n---\nbody',
        "---\ntitle: x\n- item after a scalar\n---\nbody",
        "----\ntitle: x\n----\nbody",
        "---title: x\n---\nbody",
        " ---\ntitle: x\n---\nbody",
    ],
)
def test_malformed_front_matter_keeps_the_note_intact(text: str) -> None:
    assert split_front_matter(text) == ({}, text)
    # and says why, in one line, when the fences were there (an import reports it)
    meta, body, problem = read_front_matter(text)
    assert (meta, body) == ({}, text)
    fenced = text.startswith("---\n") and "\n---\n" in text[3:]
    assert (problem is not None) == fenced, problem
    assert problem is None or ("\n" not in problem and problem)


@given(st.text())
def test_reader_never_raises_on_any_text(text: str) -> None:
    meta, body = split_front_matter(text)
    assert text.endswith(body)
    if not meta and body != text:
        assert text.lstrip("\ufeff").startswith("---")


# Fragments of YAML syntax, so the fuzzing below reaches deep into the reader.
YAML_BITS = [*"ab:#-'\"[]{},|>+12\\ \t\n\r", "- ", "  - ", ": ", "\n  ", "|-", ">+2", "---"]
YAML_BITS += ["...", "\\u", "\\ud83d", "\ufeff"]
yamlish = st.lists(st.sampled_from(YAML_BITS), max_size=40).map("".join)


@settings(max_examples=1000)
@given(yamlish)
def test_reader_only_refuses_on_purpose(source: str) -> None:
    # split_front_matter swallows every exception so a note is never lost; this checks that the
    # only one it actually meets is the deliberate "this is not front matter" signal.
    text = f"---\n{source}\n---\nbody"
    try:
        found = frontmatter._split(text)
    except frontmatter._Malformed:
        return
    assert found is not None
    assert text.endswith(found[1])


# --- tags and dates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["a", "b"], ["a", "b"]),
        (["#a", " b ", "a", "", "#"], ["a", "b"]),
        (["work stuff"], ["work stuff"]),
        ("a, b,c", ["a", "b", "c"]),
        ("#a #b", ["a", "b"]),
        ("a b", ["a", "b"]),
        ("work stuff, home", ["work stuff", "home"]),
        ("#a #b, #c", ["a", "b", "c"]),
        ("", []),
        (None, []),
        ([None, 2024, True], ["2024", "true"]),
        ([datetime(2024, 1, 5, tzinfo=UTC)], ["2024-01-05"]),
        (2024, ["2024"]),
        ({"a": 1}, []),
    ],
)
def test_normalise_tags(value: object, expected: list[str]) -> None:
    assert normalise_tags(value) == expected


def test_normalise_tags_after_reading() -> None:
    for source in ("tags: [a, '#b']", "tags:\n  - a\n  - '#b'", "tags: a, b", "tags: #a #b"):
        meta, _ = split_front_matter(f"---\n{source}\n---\n")
        assert normalise_tags(meta["tags"]) == ["a", "b"], source


def test_coerce_datetime() -> None:
    assert coerce_datetime("2024-01-05T10:00") == datetime(2024, 1, 5, 10, tzinfo=UTC)
    assert coerce_datetime(" 2024-01-05 ") == datetime(2024, 1, 5, tzinfo=UTC)
    assert coerce_datetime(date(2024, 1, 5)) == datetime(2024, 1, 5, tzinfo=UTC)
    assert coerce_datetime(datetime(2024, 1, 5, 12)) == datetime(2024, 1, 5, 12, tzinfo=UTC)
    eastern = datetime(2024, 1, 5, 12, tzinfo=timezone(timedelta(hours=-5)))
    assert coerce_datetime(eastern) == eastern
    assert coerce_datetime(eastern).tzinfo is UTC  # type: ignore[union-attr]
    assert coerce_datetime("yesterday") is None
    assert coerce_datetime(5) is None


# --- file names --------------------------------------------------------------------------------

FORBIDDEN = set('/\\:*?"<>|')
RESERVED = {"con", "prn", "aux", "nul", "conin$", "conout$"} | {
    f"{dev}{n}" for dev in ("com", "lpt") for n in "0123456789¹²³"
}


def check_portable(name: str, ext: str = ".md", max_bytes: int = 255) -> None:
    assert name.endswith(ext)
    assert len(name.encode("utf-8")) <= max_bytes
    assert name == unicodedata.normalize("NFC", name)
    assert not FORBIDDEN & set(name)
    assert all(unicodedata.category(ch) not in ("Cc", "Cs") for ch in name)
    assert name == name.strip() and not name.startswith(".") and not name.endswith(".")
    stem = name.split(".")[0].rstrip(" ")
    assert stem.casefold() not in RESERVED


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Meeting notes", "Meeting notes.md"),
        ("a/b\\c", "a-b-c.md"),
        ("2024-01-05: plan?", "2024-01-05- plan-.md"),
        ('The "best" <idea> | *now*', "The 'best' -idea- - -now-.md"),
        ("line\nbreak\ttab", "line break tab.md"),
        ("bell\x07", "bell-.md"),
        ("Crème brûlée 🍮", "Crème brûlée 🍮.md"),
        ("Cafe\u0301", "Café.md"),  # decomposed input comes out NFC
        ("  padded  ", "padded.md"),
        (".hidden", "hidden.md"),
        ("ends with dots...", "ends with dots.md"),
        ("many   spaces", "many spaces.md"),
    ],
)
def test_safe_filename_examples(title: str, expected: str) -> None:
    name = safe_filename(title, set())
    assert name == expected
    check_portable(name)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("con", "con_.md"),
        ("CON", "CON_.md"),
        ("Con.md", "Con_.md.md"),
        ("nul.tar.gz", "nul_.tar.gz.md"),
        ("aux ", "aux_.md"),
        ("LPT1", "LPT1_.md"),
        ("com9", "com9_.md"),
        ("COM¹", "COM¹_.md"),
        ("prn .txt", "prn_ .txt.md"),
        ("console", "console.md"),
        ("COM10", "COM10.md"),
        ("nul-ish", "nul-ish.md"),
    ],
)
def test_safe_filename_avoids_windows_device_names(title: str, expected: str) -> None:
    assert safe_filename(title, set()) == expected


@pytest.mark.parametrize("title", ["", "   ", ".", "..", "...", " . . ", "\t\n", ". .md."])
def test_safe_filename_empty_titles(title: str) -> None:
    expected = "md.md" if "md" in title else "Untitled.md"
    assert safe_filename(title, set()) == expected


def test_safe_filename_case_insensitive_duplicates() -> None:
    taken: set[str] = set()
    names = [safe_filename(title, taken) for title in ("Note", "note", "NOTE", "Note")]
    assert names == ["Note.md", "note (2).md", "NOTE (3).md", "Note (4).md"]
    assert taken == set(names)
    assert len({name.casefold() for name in names}) == 4


def test_safe_filename_against_existing_names() -> None:
    # Existing files may be in another case or, from macOS, in NFD.
    taken = {"README.MD", "Cafe\u0301.md", "Untitled.md", "Untitled (2).md"}
    assert safe_filename("readme", taken) == "readme (2).md"
    assert safe_filename("Café", taken) == "Café (2).md"
    assert safe_filename("", taken) == "Untitled (3).md"
    assert {"readme (2).md", "Café (2).md", "Untitled (3).md"} <= taken


@pytest.mark.parametrize("char", ["x", "é", "€", "😀"])
def test_safe_filename_truncates_on_character_boundaries(char: str) -> None:
    title = char * 300
    taken: set[str] = set()
    first = safe_filename(title, taken)
    second = safe_filename(title, taken)
    for name in (first, second):
        check_portable(name)
        assert len(name.encode("utf-8")) > 255 - len(char.encode("utf-8"))  # as long as fits
        assert set(name.removesuffix(".md").removesuffix(" (2)")) == {char}
    assert second.endswith(" (2).md")


def test_safe_filename_truncation_does_not_leave_edges() -> None:
    # The cut lands right after a space, a dot, or inside an emoji ZWJ sequence.
    for title in ("a" * 251 + " b", "a" * 251 + ".b", "a" * 249 + "👨\u200d👩"):
        name = safe_filename(title, set())
        check_portable(name)
        assert "\u200d" not in name


def test_safe_filename_max_bytes_and_ext() -> None:
    name = safe_filename("é" * 100, set(), ext=".markdown", max_bytes=64)
    check_portable(name, ext=".markdown", max_bytes=64)
    assert len(name.encode("utf-8")) == 63  # 27 'é' (54 bytes) + 9; a 28th would not fit
    with pytest.raises(ValueError):
        safe_filename("x", set(), ext="md")
    with pytest.raises(ValueError):
        safe_filename("x", set(), ext=".md", max_bytes=10)


def test_safe_dirname() -> None:
    taken: set[str] = set()
    assert safe_dirname("Work/Projects", taken) == "Work-Projects"
    assert safe_dirname("work-projects", taken) == "work-projects (2)"
    assert safe_dirname("aux", taken) == "aux_"
    assert safe_dirname("v1.", taken) == "v1"
    assert safe_dirname("", taken) == "Untitled"
    assert safe_dirname("ü" * 200, taken) == "ü" * 127  # 254 bytes; one more would be 256


@given(
    titles=st.lists(st.one_of(st.text(), st.sampled_from([*TRICKY, "con", "Con.md", "a" * 300])))
)
def test_safe_filename_properties(titles: list[str]) -> None:
    taken: set[str] = set()
    names = []
    for title in titles:
        name = safe_filename(title, taken)
        check_portable(name)
        assert name in taken
        names.append(name)
    assert len({unicodedata.normalize("NFC", n).casefold() for n in names}) == len(names)


@given(
    titles=st.lists(st.sampled_from(["Note", "note", "NOTE", "", "con", "Note (2)", "a" * 300])),
    existing=st.sets(st.sampled_from(["Note.md", "note (3).md", "Untitled.md", "con_.md"])),
)
def test_safe_filenames_matches_one_at_a_time(titles: list[str], existing: set[str]) -> None:
    one_at_a_time = set(existing)
    expected = [safe_filename(title, one_at_a_time) for title in titles]
    batch = set(existing)
    assert safe_filenames(titles, batch) == expected
    assert batch == one_at_a_time


def test_safe_filenames_scales() -> None:
    # An export of a folder full of untitled notes must not be quadratic.
    names = safe_filenames([""] * 20_000, set())
    assert names[:3] == ["Untitled.md", "Untitled (2).md", "Untitled (3).md"]
    assert names[-1] == "Untitled (20000).md"
    assert len(set(names)) == 20_000


def test_safe_filename_of_a_long_run_of_dots() -> None:
    # Stripping edge dots with a `[...]+$` regex was quadratic in a run of dots inside a title
    # (200,000 dots: minutes). Cut to 255 bytes, the name ends in dots, which Windows drops.
    assert safe_filename("a" + "." * 200_000 + "b", set()) == "a.md"
    assert safe_filename(". ." + "." * 200_000, set()) == "Untitled.md"


@given(st.text(alphabet=" .\u200dae\u00e9", max_size=12))
def test_edges_are_stripped_as_the_pattern_says(text: str) -> None:
    assert frontmatter._strip_edges(text) == frontmatter._EDGES.sub("", text)
