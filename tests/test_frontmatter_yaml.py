"""Front matter through PyYAML: hostile values round-trip, hostile blocks fail closed.

The reader must never lose a note: a block it refuses stays in the body, byte for byte. And it
must stay cheap on input built to hurt a YAML parser (alias bombs, deep nesting, huge blocks).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from vault.interchange import frontmatter
from vault.interchange.frontmatter import (
    MAX_FRONT_MATTER,
    dump_front_matter,
    normalise_tags,
    split_front_matter,
)
from vault.interchange.markdown_io import parse_markdown

# Characters and fragments that break naive emitters and readers.
HOSTILE_BITS = [
    *"ab é😀:'\"-#,[]{}&*!|>%@`?~\\\t\n\r\x00\x07\x1b\x7f\x85\u2028\u2029\ufeff\u200d",
    "---",
    "...",
    "--- x",
    ": ",
    " #",
    "key: value",
    "- item",
    "!!python/object:os.system",
    "*alias",
    "&anchor",
    "2024-01-05",
    "12:30:00",
    "yes",
    "null",
]
hostile = st.one_of(
    st.text(max_size=20),
    st.lists(st.sampled_from(HOSTILE_BITS), max_size=8).map("".join),
)
stamps = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2200, 12, 31),
    timezones=st.one_of(
        st.just(UTC),
        st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m))),
    ),
).map(lambda value: value.replace(microsecond=0))


@settings(max_examples=400)
@given(
    title=hostile,
    tags=st.lists(hostile, max_size=5),
    aliases=st.lists(hostile, max_size=5),
    created=stamps,
    date_text=hostile,
    body=hostile,
)
def test_hostile_values_round_trip(
    title: str, tags: list[str], aliases: list[str], created: datetime, date_text: str, body: str
) -> None:
    meta: dict[str, object] = {
        "title": title,
        "tags": tags,
        "aliases": aliases,
        "created": created,
        "date": date_text,  # a string, even when it looks like a date
    }
    text = dump_front_matter(meta)
    inner = text.split("\n")[1:-2]
    assert all(line not in ("---", "...") for line in inner)  # no value can fake a fence
    parsed, rest = split_front_matter(text + body)
    assert rest == body
    assert parsed == meta
    assert type(parsed["date"]) is str and parsed["created"].tzinfo is UTC  # type: ignore[union-attr]


@settings(max_examples=200)
@given(title=hostile, tags=st.lists(hostile.filter(str.strip), max_size=4), body=hostile)
def test_hostile_values_survive_the_markdown_reader(title: str, tags: list[str], body: str) -> None:
    meta = {"title": title, "tags": tags, "aliases": [title]}
    parsed = parse_markdown(dump_front_matter(meta) + body, "fallback")
    assert parsed.body == body
    assert parsed.foreign == {"aliases": [title]}
    split = [part.strip() for tag in normalise_tags(tags) for part in tag.split(",")]
    assert parsed.tags == list(dict.fromkeys(part for part in split if part))
    if " ".join(title.split()):
        assert parsed.title == title.strip()


def _elapsed(text: str) -> tuple[dict[str, object], str, float]:
    start = time.perf_counter()
    meta, body = split_front_matter(text)
    return meta, body, time.perf_counter() - start


def test_alias_bomb_is_never_expanded() -> None:
    # A billion laughs: nine levels of nine aliases. Constructing it would build 9**9 items.
    lines = ['lol0: &lol0 "lol"']
    lines += [f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 9)}]" for i in range(1, 10)]
    text = "---\n" + "\n".join(lines) + "\n---\nbody"
    meta, body, seconds = _elapsed(text)
    assert seconds < 3 and body == "body"
    # Anchored and aliased values are kept as the text that was written, nothing more.
    assert meta["lol9"] == "&lol9 [" + ", ".join(["*lol8"] * 9) + "]"
    assert meta["lol0"] == '&lol0 "lol"'


def test_deep_nesting_fails_closed() -> None:
    for value in ("[" * 100_000 + "]" * 100_000, "{a: " * 50_000 + "}" * 50_000):
        text = f"---\nx: {value}\n---\nbody"
        meta, body, seconds = _elapsed(text)
        assert (meta, body) == ({}, text) and seconds < 3
    nested = "".join(f"{' ' * depth}k{depth}:\n" for depth in range(200)) + " " * 200 + "k: v\n"
    text = f"---\n{nested}---\nbody"
    assert split_front_matter(text) == ({}, text)
    # Nesting within the bound is kept as text.
    shallow = "---\nx: " + "[" * 10 + "]" * 10 + "\n---\nbody"
    assert split_front_matter(shallow) == ({"x": "[" * 10 + "]" * 10}, "body")


def test_huge_blocks_are_body() -> None:
    big = "---\n" + "".join(f"k{i}: {'v' * 60}\n" for i in range(MAX_FRONT_MATTER // 60)) + "---\nb"
    meta, body, seconds = _elapsed(big)
    assert (meta, body) == ({}, big) and seconds < 3
    # A fence never closed in a large file: the search stops at the bound.
    unclosed = "---\n" + "line\n" * 2_000_000
    meta, body, seconds = _elapsed(unclosed)
    assert (meta, body) == ({}, unclosed) and seconds < 3
    # A big body after small front matter is fine.
    meta, body, _ = _elapsed("---\ntitle: t\n---\n" + "x" * 5_000_000)
    assert meta == {"title": "t"} and len(body) == 5_000_000


def test_python_tags_are_refused_not_run(tmp_path) -> None:
    marker = tmp_path / "ran"
    for tag in ("!!python/object/apply:os.system", "!!python/object/new:os.system"):
        text = f"---\ntitle: x\nevil: {tag} ['touch {marker}']\n---\nbody"
        assert split_front_matter(text) == ({}, text)
    assert not marker.exists()
    # Other tags are harmless: the value is kept as written.
    assert split_front_matter("---\na: !!binary aGk=\nb: !custom x\n---\n") == (
        {"a": "!!binary aGk=", "b": "!custom x"},
        "",
    )


def test_dates_and_timestamps_keep_their_meaning() -> None:
    meta, _ = split_front_matter(
        "---\n"
        "day: 2024-01-05\n"
        "short: 2024-1-5\n"
        "minutes: 2024-01-05T10:00\n"
        "zoned: 2024-01-05 10:00:00 +01:00\n"
        "bad: 2024-02-30\n"
        "quoted: '2024-01-05'\n"
        "tags: [2024-01-05, 2024]\n"
        "---\n"
    )
    assert meta == {
        "day": datetime(2024, 1, 5, tzinfo=UTC),
        "short": datetime(2024, 1, 5, tzinfo=UTC),
        "minutes": datetime(2024, 1, 5, 10, tzinfo=UTC),
        "zoned": datetime(2024, 1, 5, 9, tzinfo=UTC),
        "bad": "2024-02-30",  # not a date: the text stays
        "quoted": "2024-01-05",
        "tags": [datetime(2024, 1, 5, tzinfo=UTC), 2024],
    }
    assert normalise_tags(meta["tags"]) == ["2024-01-05", "2024"]


def test_uses_libyaml_when_available() -> None:
    if yaml.__with_libyaml__:
        assert frontmatter._BaseLoader is yaml.CSafeLoader
        assert issubclass(frontmatter._Dumper, yaml.CSafeDumper)
