"""Markdown export and import: round trips with awkward titles (slashes, unicode, reserved
names, duplicates), files another app wrote (Obsidian-style front matter, headings, inline
tags), idempotent re-import, private permissions, and the command line's confirmation."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import stat
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import CLI
from vault.errors import InvalidInputError, StorageError
from vault.interchange.markdown_io import (
    export_markdown,
    import_markdown,
    note_to_markdown,
    parse_markdown,
)
from vault.notes.model import Note
from vault.notes.vault import Vault, clean_title

AWKWARD_TITLES = [
    "a/b/c",
    "back\\slash",
    "colon: yes",
    "question? <angle> |pipe| *star*",
    '"quoted"',
    "CON",
    "nul.txt",
    ".hidden",
    "..",
    "trailing dot.",
    "Ünïcode é (NFC)",
    unicodedata.normalize(
        "NFD", "Ünïcode é (NFC)"
    ),  # same letters, other form: a duplicate on disk
    "🎉 party 日本語",
    "x" * 300,
    "2024-01-05",
    "true",
    "# not a heading",
    "- list item",
    "tags: [a, b]",
]

AWKWARD_BODIES = [
    "",
    "no trailing newline",
    "CRLF\r\nline two\r\n",
    "---\ntitle: not front matter\n---\nbody\n",
    "\ufeffstarts with a BOM",
    "trailing spaces   \n\n\n",
    "# Heading\n\n```\n# code\n```\n",
    "tab\there and a form feed \x0c",
]


def snapshot(vault: Vault) -> list[tuple]:
    return sorted(
        (
            n.title,
            n.body,
            tuple(sorted(n.tags)),
            vault.notebook_path(n.notebook),
            n.created // 1000,
            n.modified // 1000,
            n.pinned,
        )
        for n in vault.notes()
    )


def fill_awkward(vault: Vault) -> None:
    work, _ = vault.ensure_notebook("Work/Pro:jects?")
    deep, _ = vault.ensure_notebook("Ünïcode/日本/CON")
    vault.ensure_notebook("Empty notebook")
    notebooks = [None, work.id, deep.id]
    for i, title in enumerate(AWKWARD_TITLES):
        vault.create_note(
            title,
            AWKWARD_BODIES[i % len(AWKWARD_BODIES)],
            notebook=notebooks[i % 3],
            tags=[["x y", "ünï"], ["a/b", "UPPER"], []][i % 3],
            pinned=i % 4 == 0,
        )
    # duplicates: the same title with other bodies, another case, and an exact duplicate
    for body in ("one", "two", "two"):
        vault.create_note("Same", body, notebook=work.id)
    vault.create_note("same", "lower", notebook=work.id)
    # one title in two normalisation forms, side by side: one file name on macOS
    vault.create_note("Café", "composed")
    vault.create_note(unicodedata.normalize("NFD", "Café"), "decomposed")
    trashed = vault.create_note("In the trash", "not exported")
    vault.trash_note(trashed)


def test_round_trip_with_awkward_titles_loses_nothing(make_vault, tmp_path: Path) -> None:
    source, _ = make_vault(tmp_path / "source")
    fill_awkward(source)
    out = tmp_path / "export"
    report = export_markdown(source, out)
    assert report.notes == len(source.notes()) and report.notebooks == 6
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(files) == report.notes
    names = {str(p.relative_to(out)).casefold() for p in files}
    assert len(names) == len(files)  # distinct even on case-insensitive disks
    for p in files:
        assert p.name.endswith(".md") and not p.name.startswith(".")
        assert len(p.name.encode()) <= 255
        assert not set(p.name) & set('\\:*?<>|"')
    assert (out / "Empty notebook").is_dir()

    target, _ = make_vault(tmp_path / "target")
    imported = import_markdown(target, out)
    assert imported.imported == report.notes and not imported.skipped
    assert snapshot(target) == snapshot(source)
    assert sorted(target.notebook_path(nb.id) for nb in target.notebooks()) == sorted(
        source.notebook_path(nb.id) for nb in source.notebooks()
    )
    # bodies byte for byte, titles exactly (NFD stays NFD)
    assert sorted(n.body for n in target.notes()) == sorted(n.body for n in source.notes())
    assert {n.title for n in target.notes()} >= set(AWKWARD_TITLES)


def test_import_twice_adds_nothing_the_second_time(make_vault, tmp_path: Path) -> None:
    source, _ = make_vault(tmp_path / "source")
    fill_awkward(source)
    export_markdown(source, tmp_path / "export")
    target, _ = make_vault(tmp_path / "target")
    first = import_markdown(target, tmp_path / "export")
    second = import_markdown(target, tmp_path / "export")
    assert second.imported == 0 and second.unchanged == first.imported
    assert second.notebooks_created == 0
    assert len(target.notes()) == first.imported
    # an edited file comes in as a new note beside the old one: import never overwrites
    edited = sorted((tmp_path / "export").rglob("*.md"))[0]
    edited.write_text(edited.read_text() + "\nmore", encoding="utf-8")
    third = import_markdown(target, tmp_path / "export")
    assert third.imported == 1 and len(target.notes()) == first.imported + 1


def test_a_failed_import_batch_keeps_nothing(vault: Vault) -> None:
    """Import writes in batches (Vault.batch): one that fails leaves neither the store nor the
    in-memory cache holding half of it."""
    kept = vault.create_note("kept", "k")
    versions = vault.store.counts()["versions"]
    with pytest.raises(RuntimeError), vault.batch():
        vault.create_note("lost", "l", tags=["new-tag"])
        vault.update_note(kept, body="changed")
        raise RuntimeError("power cut")
    assert [n.title for n in vault.notes()] == ["kept"]
    assert vault.note(kept.id).body == "k" and vault.tags() == []
    assert vault.store.counts()["versions"] == versions


def test_export_is_private_atomic_and_refuses_a_non_empty_folder(
    vault: Vault, tmp_path: Path
) -> None:
    nb, _ = vault.ensure_notebook("Folder")
    note = vault.create_note("Title", "body", notebook=nb.id)
    out = tmp_path / "export"
    export_markdown(vault, out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert stat.S_IMODE((out / "Folder").stat().st_mode) == 0o700
    file = out / "Folder" / "Title.md"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert int(file.stat().st_mtime) == note.modified // 1000  # other apps sort by it
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(InvalidInputError, match="not empty"):
        export_markdown(vault, out)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(InvalidInputError, match="not a folder"):
        export_markdown(vault, tmp_path / "a-file")
    empty = tmp_path / "empty"
    empty.mkdir()
    export_markdown(vault, empty)  # an existing empty folder is fine
    assert (empty / "Folder" / "Title.md").read_text().endswith("---\nbody")


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def obsidian_like(root: Path) -> None:
    write(root / ".obsidian" / "app.json", "{}")
    write(root / ".trash" / "deleted.md", "# deleted\n")
    write(
        root / "Projects" / "Alpha.md",
        "---\n"
        'tags: [work, "big idea"]\n'
        "aliases:\n  - A1\n  - First one\n"
        "created: 2024-01-05T10:00:00+01:00\n"
        'updated: "2024-02-01 08:30"\n'
        "cssclass: wide\n"
        "---\n"
        "Alpha body\n",
    )
    write(
        root / "Heading note.markdown",
        "# Real Title\n\ntext #inline-tag and `#code` and #123 and a#b\n#start-tag\n"
        "```\n#fenced\n```\n",
    )
    write(root / "Tag strings.md", "---\ntags: \"#a #b\"\ntitle: 'Named: in front matter'\n---\nx")
    daily = write(root / "Daily" / "2024" / "2024-01-05.md", "just text, no front matter")
    os.utime(daily, (1_704_450_000, 1_704_450_000))
    write(root / "Projects" / "image.png", b"\x89PNG\r\n")
    write(root / "latin1.md", b"caf\xe9 au lait")
    (root / "Empty Folder").mkdir()
    write(root / "Only images" / "pic.jpg", b"\xff\xd8")
    write(root / "crlf.md", "---\r\ntitle: Windows file\r\ntags:\r\n  - win\r\n---\r\nline\r\n")


def test_import_of_another_apps_folder(vault: Vault, tmp_path: Path) -> None:
    root = tmp_path / "obsidian"
    obsidian_like(root)
    report = import_markdown(vault, root)
    assert report.imported == 5
    assert list(report.skipped) == ["latin1.md"] and "UTF-8" in report.skipped["latin1.md"]
    assert report.other_files == 2  # the image and the picture, left alone
    by_title = {n.title: n for n in vault.notes()}
    assert set(by_title) == {
        "Alpha",
        "Real Title",
        "Named: in front matter",
        "2024-01-05",
        "Windows file",
    }
    alpha = by_title["Alpha"]
    assert vault.notebook_path(alpha.notebook) == "Projects"
    assert alpha.tags == ("work", "big idea") and alpha.body == "Alpha body\n"
    assert alpha.created == 1_704_445_200_000  # 10:00 at +01:00 is 09:00 UTC
    assert alpha.modified == 1_706_776_200_000
    assert alpha.extra["front_matter"] == {"aliases": ["A1", "First one"], "cssclass": "wide"}
    heading = by_title["Real Title"]
    assert heading.tags == () and heading.body.startswith("# Real Title")
    assert by_title["Named: in front matter"].tags == ("a", "b")
    daily = by_title["2024-01-05"]
    assert vault.notebook_path(daily.notebook) == "Daily/2024"
    assert daily.modified == 1_704_450_000_000 and daily.body == "just text, no front matter"
    assert by_title["Windows file"].body == "line\r\n" and by_title["Windows file"].tags == ("win",)
    paths = sorted(vault.notebook_path(nb.id) for nb in vault.notebooks())
    assert paths == ["Daily", "Daily/2024", "Empty Folder", "Projects"]

    # foreign front matter travels back out on export
    export_markdown(vault, tmp_path / "again")
    text = (tmp_path / "again" / "Projects" / "Alpha.md").read_text()
    assert "aliases:\n- A1\n- First one\n" in text and "cssclass: wide\n" in text


def test_odd_files_and_names_are_reported_never_fatal(vault: Vault, tmp_path: Path) -> None:
    """Names that are not UTF-8 (a disk from another system) come in with U+FFFD in their
    place; a FIFO named like a note is skipped without waiting for a writer."""
    root = tmp_path / "odd"
    root.mkdir()
    os.mkdir(os.fsencode(root) + b"/caf\xe9")
    write(Path(os.fsdecode(os.fsencode(root) + b"/caf\xe9/in folder.md")), "x")
    write(Path(os.fsdecode(os.fsencode(root) + b"/na\xefve.md")), "no heading")
    os.mkfifo(root / "pipe.md")

    def hung(*_: object) -> None:
        raise AssertionError("import waited on a FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        report = import_markdown(vault, root)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert report.imported == 2 and report.skipped == {"pipe.md": "is not a regular file"}
    by_title = {n.title: n for n in vault.notes()}
    assert set(by_title) == {"in folder", "na\ufffdve"}
    assert vault.notebook_path(by_title["in folder"].notebook) == "caf\ufffd"
    json.dumps(report.skipped, ensure_ascii=False).encode("utf-8")  # printable as it is


def test_a_folder_that_cannot_be_read_is_reported(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.walk skips folders it cannot list unless asked: each one is reported (and the
    import exits non-zero), and an unreadable top folder is an error, not '0 notes'."""
    root = tmp_path / "notes"
    write(root / "a.md", "a")
    write(root / "locked" / "b.md", "b")
    real_scandir = os.scandir

    def scandir(path: object = ".") -> object:
        if os.fspath(path).endswith("locked"):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = import_markdown(vault, root)
    assert report.imported == 1
    assert report.skipped == {"locked": "folder cannot be read (Permission denied)"}
    with pytest.raises(InvalidInputError, match=r"^cannot read .*locked: Permission denied$"):
        import_markdown(vault, root / "locked")


def test_an_export_target_that_cannot_be_looked_into_is_a_clear_error(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault.create_note("Title", "body")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_stat = Path.stat

    def stat(self: Path, *args: object, **kwargs: object) -> os.stat_result:
        if locked in self.parents:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    with pytest.raises(StorageError, match=f"^cannot write {locked / 'md'}: permission denied"):
        export_markdown(vault, locked / "md")
    monkeypatch.undo()
    assert list(locked.iterdir()) == []


def test_inline_tags_are_optional(vault: Vault, tmp_path: Path) -> None:
    root = tmp_path / "notes"
    obsidian_like(root)
    import_markdown(vault, root, with_inline_tags=True, notebook="Imported")
    heading = next(n for n in vault.notes() if n.title == "Real Title")
    assert heading.tags == ("inline-tag", "start-tag")  # not code, numbers, a#b or headings
    assert vault.notebook_path(heading.notebook) == "Imported"
    alpha = next(n for n in vault.notes() if n.title == "Alpha")
    assert vault.notebook_path(alpha.notebook) == "Imported/Projects"


def test_title_falls_back_to_heading_then_file_name() -> None:
    assert parse_markdown("# Top\n\n# Second", "file").title == "Top"
    assert parse_markdown("```\n# in code\n```\n## Not level one\n", "file").title == "file"
    assert parse_markdown('---\ntitle: ""\n---\n# From heading\n', "f").title == "From heading"
    assert parse_markdown("", "").title == "Untitled"
    # an optional closing sequence of #s (after whitespace) is not part of the title
    assert parse_markdown("# Closed ##  ", "f").title == "Closed"
    assert parse_markdown("# C# #", "f").title == "C#"
    assert parse_markdown("# a # #", "f").title == "a #"
    assert parse_markdown("# ##", "f").title == "##"
    # a long run of spaces inside a heading (the lazy regex for it was quadratic: minutes)
    assert parse_markdown("# a" + " " * 200_000 + "b ###", "f").title == "a" + " " * 200_000 + "b"


OLD_HEADING = re.compile(r"#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*")


@given(st.text(alphabet="# \tab", max_size=14))
def test_heading_titles_follow_the_closing_sequence_rule(line: str) -> None:
    match = OLD_HEADING.fullmatch(line.strip())
    expected = match.group(1).strip() if match and match.group(1).strip() else "fallback"
    assert parse_markdown(line, "fallback").title == expected


# --- a property: any note survives note_to_markdown -> parse_markdown ----------------------------

titles = st.text(min_size=1, max_size=60).filter(lambda t: " ".join(t.split()) != "")
tags = st.lists(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=",#"),
        min_size=1,
        max_size=12,
    ).filter(lambda t: " ".join(t.split()) == t and t),
    max_size=4,
    unique_by=str.casefold,
)


@given(
    title=titles,
    body=st.text(max_size=300),
    tag_list=tags,
    created=st.integers(min_value=0, max_value=4_000_000_000_000),
    pinned=st.booleans(),
)
def test_markdown_form_of_a_note_reads_back_the_same(
    title: str, body: str, tag_list: list[str], created: int, pinned: bool
) -> None:
    title = clean_title(title)
    note = Note(
        id="0" * 32,
        title=title,
        body=body,
        tags=tuple(tag_list),
        pinned=pinned,
        created=created,
        modified=created + 1234,
    )
    parsed = parse_markdown(note_to_markdown(note), "fallback")
    assert parsed.title == title
    assert parsed.body == body
    assert parsed.tags == tag_list
    assert parsed.pinned == pinned
    assert parsed.created is not None and int(parsed.created.timestamp()) == created // 1000
    assert parsed.modified is not None
    assert int(parsed.modified.timestamp()) == (created + 1234) // 1000
    assert parsed.foreign == {}


# --- the command line ------------------------------------------------------------------------------


def test_cli_export_warns_and_needs_confirmation(cli: CLI, tmp_path: Path) -> None:
    cli.init()
    cli("new", "Plans", "--notebook", "Work", "--tag", "t", input="secret plans\n", check=True)
    out = tmp_path / "plain"
    refused = cli("export", "markdown", str(out))
    assert refused.returncode == 1
    assert "UNENCRYPTED" in refused.stderr and "add --yes" in refused.stderr
    assert not out.exists()
    done = cli("export", "markdown", str(out), "--yes")
    assert done.returncode == 0, done.stderr
    assert (out / "Work" / "Plans.md").read_text().endswith("---\nsecret plans\n")
    busy = cli("export", "markdown", str(out), "--yes")
    assert busy.returncode == 1 and "not empty" in busy.stderr


def test_cli_import_reports_and_skips(cli: CLI, tmp_path: Path) -> None:
    cli.init()
    root = tmp_path / "notes"
    obsidian_like(root)
    first = cli("import", "markdown", str(root), "--json")
    assert first.returncode == 1  # one file could not be imported: said, and non-zero
    report = json.loads(first.stdout)
    assert report["imported"] == 5 and list(report["skipped"]) == ["latin1.md"]
    second = cli("import", "markdown", str(root))
    assert "Imported 0 notes" in second.stderr and "5 already in the vault" in second.stderr
    listed = json.loads(cli("ls", "--json", check=True).stdout)
    assert len(listed) == 5


def test_exported_folder_imports_into_a_new_vault_with_the_cli(cli: CLI, tmp_path: Path) -> None:
    cli.init()
    for title in ("a/b", "a/b", "Ünï"):
        cli("new", title, "--notebook", "N:1", input=f"{title} body", check=True)
    cli("export", "markdown", str(tmp_path / "out"), "--yes", check=True)
    other = CLI(tmp_path / "other", cli.config)
    other.init()
    other("import", "markdown", str(tmp_path / "out"), check=True)

    def rows(c: CLI) -> list[tuple]:
        return sorted(
            (n["title"], n["notebook"], n["created"], n["modified"])
            for n in json.loads(c("ls", "--json", check=True).stdout)
        )

    assert rows(other) == rows(cli)


def test_obsidian_folder_with_links_aliases_and_headings_round_trips_linked(
    make_vault, tmp_path: Path
) -> None:
    """Wikilinks come in and go out exactly as written, and resolve in between: by title, by
    an alias from the front matter, with a heading and shown text; not inside code."""
    from vault.notes.links import link_index

    src = tmp_path / "obsidian"
    (src / "Projects").mkdir(parents=True)
    (src / "Journal").mkdir()
    files = {
        "Projects/Plan.md": "---\naliases: [Roadmap, The Plan]\n---\n## Goals\n- ship\n"
        "## Risks\nsee [[Ideas]]\n",
        "Ideas.md": "# Ideas\n[[Plan#Goals|the goals]] and [[roadmap]]\n"
        "| a | [[Plan\\|table]] |\n`[[Plan]]` is code\n```\n[[Plan]]\n```\n[[Nowhere]]\n",
        "Journal/2024-01-02.md": "Met about [[ideas]] and [[The Plan#Risks]].\n",
    }
    for name, text in files.items():
        (src / name).write_text(text, encoding="utf-8")
    first, _ = make_vault(tmp_path / "first")
    assert import_markdown(first, src).imported == 3
    _check_linked(first, link_index)

    out = tmp_path / "export"
    export_markdown(first, out)
    exported = {p.relative_to(out).as_posix(): p.read_text("utf-8") for p in out.rglob("*.md")}
    for name, text in files.items():
        body = text.split("---\n", 2)[-1]
        assert exported[name].endswith(body), name  # the body, links and all, byte for byte

    second, _ = make_vault(tmp_path / "second")
    assert import_markdown(second, out).imported == 3
    assert sorted((n.title, n.body) for n in second.notes()) == sorted(
        (n.title, n.body) for n in first.notes()
    )
    _check_linked(second, link_index)


def test_links_by_file_name_or_path_reach_a_note_titled_otherwise(
    make_vault, tmp_path: Path
) -> None:
    """Obsidian links by file name, and by path when names repeat: a note whose title comes
    from its front matter or its first heading still answers to both (they were "missing", a
    person's import found). Re-imported, nothing is written twice."""
    from vault.notes.links import link_index

    src = tmp_path / "obsidian"
    (src / "Projects" / "Alpha").mkdir(parents=True)
    (src / "Projects" / "Beta").mkdir(parents=True)
    files = {
        "Projects/Alpha/Plan.md": "---\ntitle: The Alpha Plan\n---\n## Goals\n",
        "Projects/Beta/Plan.md": "# Beta roadmap\n",
        "Notes.markdown": "---\ntitle: Reading notes\n---\nplain\n",
        "Home.md": "[[Projects/Alpha/Plan]] [[Projects/Alpha/Plan#Goals|goals]]\n"
        "[[projects/beta/plan]] [[Plan]] [[Notes]] [[Home]]\n",
    }
    for name, text in files.items():
        (src / name).write_text(text, encoding="utf-8")
    vault, _ = make_vault()
    assert import_markdown(vault, src).imported == 4
    index = link_index(vault)
    by_title = {n.title: n for n in vault.notes()}
    assert by_title["The Alpha Plan"].extra["imported_from"] == "Projects/Alpha/Plan.md"
    found = [
        (o.link.target, o.resolution.status, [by_title_id(vault, i) for i in o.resolution.note_ids])
        for o in index.outgoing(by_title["Home"])
    ]
    assert found == [
        ("Projects/Alpha/Plan", "found", ["The Alpha Plan"]),
        ("Projects/Alpha/Plan", "found", ["The Alpha Plan"]),
        ("projects/beta/plan", "found", ["Beta roadmap"]),
        (
            "Plan",
            "ambiguous",
            sorted(["The Alpha Plan", "Beta roadmap"], key=lambda t: by_title[t].id),
        ),
        ("Notes", "found", ["Reading notes"]),
        ("Home", "found", ["Home"]),
    ]
    assert [b.source.title for b in index.backlinks(by_title["Reading notes"])] == ["Home"]
    assert import_markdown(vault, src).unchanged == 4


def by_title_id(vault: Vault, note_id: str) -> str:
    return vault.note(note_id).title


def test_front_matter_that_cannot_be_read_is_reported_and_kept_as_text(
    make_vault, tmp_path: Path, cli
) -> None:
    """A note whose front matter is broken YAML is imported with the block as text (nothing
    lost), and the import says which notes, so their titles and tags can be set by hand."""
    src = tmp_path / "md"
    src.mkdir()
    (src / "Broken.md").write_text("---\ntags: [unclosed\ntitle: Lost\n---\nbody\n")
    (src / "Fine.md").write_text("---\ntags: [a]\n---\nbody\n")
    vault, _ = make_vault(tmp_path / "domain")
    report = import_markdown(vault, src)
    assert report.imported == 2 and list(report.front_matter_kept) == ["Broken.md"]
    broken = vault.find_note("Broken")
    assert broken.body.startswith("---\ntags: [unclosed")
    assert import_markdown(vault, src).front_matter_kept == {}  # unchanged: not said again
    cli.init()
    said = cli("import", "markdown", str(src))
    assert said.returncode == 0, said.stderr
    assert "front matter kept as text: Broken.md: " in said.stderr
    as_json = json.loads(cli("import", "markdown", str(src), "--json").stdout)
    assert as_json["front_matter_kept"] == {}  # the second time: unchanged


def _check_linked(vault: Vault, link_index) -> None:
    index = link_index(vault)
    by_title = {n.title: n for n in vault.notes()}
    assert set(by_title) == {"Plan", "Ideas", "2024-01-02"}
    back = [(b.source.title, b.link.target) for b in index.backlinks(by_title["Plan"])]
    assert back == [
        ("2024-01-02", "The Plan"),
        ("Ideas", "Plan"),
        ("Ideas", "roadmap"),
        ("Ideas", "Plan"),
    ]
    statuses = [
        (o.link.target, o.link.heading, o.link.shown, o.resolution.status)
        for o in index.outgoing(by_title["Ideas"])
    ]
    assert statuses == [
        ("Plan", "Goals", "the goals", "found"),
        ("roadmap", None, None, "found"),
        ("Plan", None, "table", "found"),
        ("Nowhere", None, None, "missing"),
    ]
    assert [b.source.title for b in index.backlinks(by_title["Ideas"])] == ["2024-01-02", "Plan"]


# --- work folders and parents (issue 12 §3) ----------------------------------------------------


def _dead_pid() -> int:
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_killed_exports_work_folder_is_wiped_by_the_next_export(
    vault: Vault, tmp_path: Path
) -> None:
    vault.create_note("Kept", "body")
    parent = tmp_path / "exports"
    parent.mkdir()
    stale = parent / f".old.vault-exporting-{_dead_pid()}-0123abcd"
    (stale / "Book").mkdir(parents=True)
    (stale / "Book" / "Secret.md").write_text("plaintext a SIGKILL left behind")
    live = parent / f".other.vault-exporting-{os.getpid()}-0123abcd"  # running: left alone
    live.mkdir()
    unrelated = parent / ".old.exporting-0123abcd"  # no pid: cannot be judged, left alone
    unrelated.mkdir()
    export_markdown(vault, parent / "new")
    assert not stale.exists()
    assert live.exists() and unrelated.exists()
    assert (parent / "new" / "Kept.md").exists()
    assert not [p for p in parent.iterdir() if "vault-exporting" in p.name and p != live]


def test_the_work_folder_names_the_exporting_process(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recognisable as ours and whose: `.<name>.vault-exporting-<pid>-<random>`."""
    vault.create_note("A", "a")
    seen: list[str] = []
    real_mkdir = os.mkdir

    def spy(path: os.PathLike[str] | str, mode: int = 0o777) -> None:
        seen.append(os.path.basename(path))
        real_mkdir(path, mode)

    monkeypatch.setattr(os, "mkdir", spy)
    export_markdown(vault, tmp_path / "out")
    assert any(
        re.fullmatch(rf"\.out\.vault-exporting-{os.getpid()}-[0-9a-f]{{8}}", n) for n in seen
    )


def test_every_folder_an_export_creates_is_private(vault: Vault, tmp_path: Path) -> None:
    vault.create_note("A", "a")
    old = os.umask(0o022)  # what an app or a library caller typically runs with
    try:
        export_markdown(vault, tmp_path / "a" / "b" / "c" / "out")
    finally:
        os.umask(old)
    for folder in ("a", "a/b", "a/b/c", "a/b/c/out"):
        assert stat.S_IMODE((tmp_path / folder).stat().st_mode) == 0o700, folder
