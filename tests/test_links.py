"""Wikilinks, backlinks, outline, templates and daily notes (the domain: vault.notes.links & co)."""

from __future__ import annotations

import time
from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from vault.notes.links import fold, link_index, parse_links, rewrite_links
from vault.notes.outline import counts, outline
from vault.notes.renaming import rename_note
from vault.notes.templates import NoteSettings, append_line, fill, find_template, today
from vault.notes.vault import Vault

BODY = """# Plan
See [[Alpha]] and [[beta#Goals|the goals]] and [[ Gamma ]].
Code: `[[not a link]]` and ``[[nor `this`]]``.
```python
# not a heading
x = "[[Not Either]]"
```
## Next ##
[[#Plan]] and [[Table\\|cell]]
~~~
[[fenced]]
~~~
"""


def test_parse_links_reads_titles_headings_and_shown_text_outside_code() -> None:
    links = parse_links(BODY)
    assert [(k.target, k.heading, k.shown, k.line) for k in links] == [
        ("Alpha", None, None, 1),
        ("beta", "Goals", "the goals", 1),
        ("Gamma", None, None, 1),
        ("", "Plan", None, 8),
        ("Table", None, "cell", 8),
    ]
    line = BODY.split("\n")[1]
    assert line[links[2].target_start : links[2].target_end] == "Gamma"
    assert line[links[0].start : links[0].end] == "[[Alpha]]"


def test_outline_lists_atx_headings_outside_fences_with_lines() -> None:
    assert [(h.level, h.text, h.line) for h in outline(BODY)] == [(1, "Plan", 0), (2, "Next", 7)]
    found = outline("#no space\n####### seven\n   ### three spaces\n    #### code\n#\n")
    assert [(h.level, h.text, h.line) for h in found] == [(3, "three spaces", 2), (1, "", 4)]


def test_counts() -> None:
    c = counts("two words\nthree")
    assert (c.words, c.characters) == (3, 15)


def test_rewrite_keeps_heading_and_shown_text_and_code() -> None:
    body = "[[Old]] [[old#H|shown]] [[Older]] `[[Old]]`\n[[ OLD ]]"
    new, count = rewrite_links(body, "Old", "New name")
    assert count == 3
    assert new == "[[New name]] [[New name#H|shown]] [[Older]] `[[Old]]`\n[[ New name ]]"


@given(st.text(alphabet="ab[]|#`\n x", max_size=60))
def test_parse_never_fails_and_links_sit_inside_their_line(body: str) -> None:
    lines = body.split("\n")
    for link in parse_links(body):
        line = lines[link.line]
        assert line[link.start : link.start + 2] == "[[" and line[link.end - 2 : link.end] == "]]"
        assert line[link.target_start : link.target_end] == link.target


def test_backlinks_with_lines_missing_and_ambiguous(vault: Vault) -> None:
    alpha = vault.create_note("Alpha", "I am alpha")
    vault.create_note("Source", "intro\nsee [[alpha]] here\n[[Nowhere]]")
    vault.create_note("Other", "[[ALPHA|a]]")
    vault.create_note("Twin", "")
    vault.create_note("twin", "")
    index = link_index(vault)
    found = index.backlinks(alpha)
    assert [(b.source.title, b.line_text) for b in found] == [
        ("Other", "[[ALPHA|a]]"),
        ("Source", "see [[alpha]] here"),
    ]
    source = next(n for n in vault.all_notes() if n.title == "Source")
    statuses = [(o.link.target, o.resolution.status) for o in index.outgoing(source)]
    assert statuses == [("alpha", "found"), ("Nowhere", "missing")]
    assert index.resolve("TWIN").status == "ambiguous"


def test_backlinks_follow_edits_made_elsewhere(vault: Vault, vault_path) -> None:
    """An edit by another process (as sync writes) shows in the backlinks of this one."""
    from tests.conftest import PASSWORD

    target = vault.create_note("Target", "")
    index = link_index(vault)
    assert index.backlinks(target) == []
    other = Vault.unlock(vault_path, password=PASSWORD)
    with other:
        note = other.create_note("Elsewhere", "links to [[target]]")
    assert [b.source.title for b in index.backlinks(target)] == ["Elsewhere"]
    with Vault.unlock(vault_path, password=PASSWORD) as other:
        other.update_note(other.note(note.id), body="no more link")
    assert index.backlinks(target) == []


def test_backlinks_of_ten_thousand_notes_answer_within_20ms(vault: Vault) -> None:
    """The issue's figure: after the first build, the backlinks of a note are there within
    20 ms, also after an edit (the vault's own refresh from the store, which every view of the
    notes pays after a write, is done first and measured apart)."""
    with vault.batch():
        for i in range(10_000):
            vault.create_note(f"Note {i}", f"text {i}\nsee [[Note {(i * 7) % 10_000}]] and [[Hub]]")
    hub = vault.create_note("Hub", "")
    typical = next(n for n in vault.all_notes() if n.title == "Note 14")
    index = link_index(vault)
    first = _timed(lambda: index.backlinks(hub))
    assert [b.source.title for b in index.backlinks(typical)] == ["Note 2"]
    assert len(index.backlinks(hub)) == 10_000
    typical_ms = min(_timed(lambda: index.backlinks(typical)) for _ in range(5))
    hub_ms = min(_timed(lambda: index.backlinks(hub)) for _ in range(5))
    one = next(n for n in vault.all_notes() if n.title == "Note 1")
    vault.update_note(one, body="changed [[Note 14]]")
    vault_refresh = _timed(lambda: vault.generation)
    after_edit = _timed(lambda: index.backlinks(typical))
    assert [b.source.title for b in index.backlinks(typical)] == ["Note 1", "Note 2"]
    hub_after_edit = _timed(lambda: index.backlinks(hub))
    assert len(index.backlinks(hub)) == 9_999
    print(
        f"\nbacklinks, 10,000 notes: first build {first * 1000:.0f} ms; then a note "
        f"{typical_ms * 1000:.2f} ms, the hub (10,000 backlinks) {hub_ms * 1000:.2f} ms; after "
        f"an edit (vault refresh {vault_refresh * 1000:.0f} ms) a note {after_edit * 1000:.1f} ms,"
        f" the hub {hub_after_edit * 1000:.0f} ms"
    )
    # The 20 ms figure is judged by bench/bench_links.py; on a shared test machine only a
    # bound that catches a full rebuild per query (about a second here) is safe.
    assert typical_ms < 0.020 and hub_ms < 0.020 and after_edit < 0.25


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def test_rename_updates_links_in_one_go(vault: Vault) -> None:
    old = vault.create_note("Old", "self: [[Old#Top]]")
    a = vault.create_note("A", "[[old|shown]] and [[Old#H]]\n`[[Old]]`")
    b = vault.create_note("B", "[[Other]]")
    result = rename_note(vault, old, "New")
    assert (result.notes_updated, result.links_updated) == (1, 3)
    assert vault.note(a.id).body == "[[New|shown]] and [[New#H]]\n`[[Old]]`"
    assert vault.note(old.id).body == "self: [[New#Top]]" and vault.note(old.id).title == "New"
    assert vault.note(b.id).version == b.version


def test_rename_leaves_links_when_the_old_title_is_shared_or_the_new_one_unlinkable(
    vault: Vault,
) -> None:
    one = vault.create_note("Same", "")
    vault.create_note("same", "")
    a = vault.create_note("A", "[[Same]]")
    result = rename_note(vault, one, "Changed")
    assert result.links_kept_because and vault.note(a.id).body == "[[Same]]"
    two = vault.create_note("Plain", "")
    c = vault.create_note("C", "[[Plain]]")
    result = rename_note(vault, two, "x | y")
    assert result.links_kept_because and vault.note(c.id).body == "[[Plain]]"
    assert vault.note(two.id).title == "x | y"
    # A note in the trash with the same title (up to case and spaces) takes nothing away.
    three = vault.create_note("Kept  title", "")
    vault.trash_note(vault.create_note("kept title", ""))
    d = vault.create_note("D", "[[Kept title]]")
    result = rename_note(vault, three, "Moved on")
    assert not result.links_kept_because and vault.note(d.id).body == "[[Moved on]]"


def test_fill_placeholders() -> None:
    now = datetime(2026, 3, 4, 5, 6)
    text = "{{title}} {{date}} {{ time }} {{datetime}} {{other}}"
    assert fill(text, "T", now) == "T 2026-03-04 05:06 2026-03-04 05:06 {{other}}"


def test_today_from_the_daily_template_then_append(vault: Vault) -> None:
    settings = NoteSettings()
    templates_nb, _ = vault.ensure_notebook("Templates")
    vault.create_note("Daily", "# {{title}}\n", notebook=templates_nb.id)
    now = datetime(2026, 12, 6, 9, 30)
    made = today(vault, settings, now=now)
    assert made.created and made.note.title == "2026-12-06"
    assert made.note.body == "# 2026-12-06\n"
    assert vault.notebook_path(made.note.notebook) == "Journal"
    again = today(vault, settings, now=now)
    assert not again.created and again.note.id == made.note.id
    appended = append_line(vault, again.note, "- milk")
    assert appended.body == "# 2026-12-06\n- milk\n"
    assert find_template(vault, settings, "daily").title == "Daily"


def test_today_without_template_is_empty_and_format_is_configurable(vault: Vault) -> None:
    settings = NoteSettings(journal_notebook="Log/Days", daily_title_format="%d.%m.%Y")
    made = today(vault, settings, now=datetime(2026, 1, 2))
    assert (made.note.title, made.note.body) == ("02.01.2026", "")
    assert vault.notebook_path(made.note.notebook) == "Log/Days"
    assert fold(" A  b ") == "a b"


def test_today_of_two_devices_is_the_first_made_whatever_order_the_notes_come_in(
    vault: Vault,
) -> None:
    """Two devices that each made today's note before a sync hold two: `vault today` appends to
    the first made, not to whichever this process happened to read first (a session's agent and
    a password's opening read the notes in different orders: found by review)."""
    settings = NoteSettings()
    now = datetime(2026, 12, 6, 9, 30)
    mine = today(vault, settings, now=now).note
    # The other device's, synced in after mine but made an hour earlier.
    theirs = vault.import_note(
        "2026-12-06",
        "from the other device\n",
        created=mine.created - 3_600_000,
        modified=mine.created - 3_600_000,
        notebook=mine.notebook,
    )
    assert [n.id for n in vault.all_notes()].index(mine.id) == 0  # read first here
    assert today(vault, settings, now=now).note.id == theirs.id
    younger = vault.import_note(
        "2026-12-06", "", created=theirs.created, modified=theirs.created, notebook=mine.notebook
    )
    first = min((theirs, younger), key=lambda n: n.id)  # made in the same millisecond: by id
    assert today(vault, settings, now=now).note.id == first.id


def test_ambiguous_links_name_their_notes_in_one_order_however_the_index_grew(
    vault: Vault,
) -> None:
    """A link to a title several notes share lists them by id, also after one of them changed
    (the index puts a changed note back last: the agent's answer differed from a fresh
    process's; found by review)."""
    twins = [vault.create_note("Dup", f"twin {i}\n") for i in range(5)]
    source = vault.create_note("L", "[[Dup]]\n")
    index = link_index(vault)
    first = index.outgoing(source)[0].resolution
    assert first.status == "ambiguous" and first.note_ids == tuple(sorted(t.id for t in twins))
    vault.update_note(min(twins, key=lambda t: t.id), body="changed\n")
    again = index.outgoing(vault.note(source.id))[0].resolution
    assert again.note_ids == first.note_ids


def test_locking_drops_the_link_index_and_the_derived_maps(vault: Vault) -> None:
    """Which note links to which is decrypted data: it lives only while the vault is open."""
    import gc
    import weakref

    nb, _ = vault.ensure_notebook("Secret notebook")
    target = vault.create_note("Target", "", notebook=nb.id)
    vault.create_note("Source", "[[Target]]")
    index = link_index(vault)
    assert len(index.backlinks(target)) == 1 and vault.notebooks()
    gone = weakref.ref(index)
    del index
    vault.lock()
    gc.collect()
    assert gone() is None
    assert vault._derived == {} and vault._views == {}


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Old", "old", " OLD ", "Other"]),
            st.one_of(st.none(), st.sampled_from(["H", "Two words"])),
            st.one_of(st.none(), st.sampled_from(["shown", "a b"])),
        ),
        max_size=6,
    ),
    st.sampled_from(["New", "New title", "Ünïcode"]),
)
def test_rewrite_points_every_link_to_the_old_title_at_the_new_one(links, new) -> None:
    body = " and ".join(
        "[[" + t + (f"#{h}" if h else "") + (f"|{s}" if s else "") + "]]" for t, h, s in links
    )
    rewritten, count = rewrite_links(body, "Old", new)
    before, after = parse_links(body), parse_links(rewritten)
    assert count == sum(1 for k in before if fold(k.target) == "old")
    assert len(after) == len(before)
    for old, now in zip(before, after, strict=True):
        assert (now.heading, now.shown) == (old.heading, old.shown)
        assert now.target == (new if fold(old.target) == "old" else old.target)
