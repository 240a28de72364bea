"""Attachments through Markdown export and import (vault.interchange.md_attachments): files
next to the notes, links rewritten both ways, a round trip that keeps names and bytes, and an
importer that stays inside the folder it was given."""

from __future__ import annotations

import io
import json
import os
import signal
from pathlib import Path

import pytest

from tests.conftest import CLI
from vault.interchange import md_attachments
from vault.interchange.markdown_io import export_markdown, import_markdown
from vault.notes.attachments import attachment_link
from vault.notes.vault import Vault


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def saved(vault: Vault, note_id: str, name: str) -> bytes:
    out = io.BytesIO()
    vault.save_attachment(note_id, name, out)
    return out.getvalue()


def by_title(vault: Vault) -> dict[str, object]:
    return {n.title: n for n in vault.notes()}


# Names that are awkward on disk, in links, or both.
NAMES = [
    "photo.png",
    "my scan (1).pdf",
    "naïve café 日本.txt",
    "a:b?c*.png",  # Windows forbids these: renamed on disk, name kept by the front matter
    "..hidden..",
    "CON.txt",
    "100%.png",
    "[x] ](y).pdf",
]


def test_export_import_round_trip_keeps_attachments(make_vault, tmp_path: Path) -> None:
    source, _ = make_vault(tmp_path / "source")
    work = source.create_notebook("Work")
    sub = source.create_notebook("Deep", parent=work.id)
    one = source.create_note("Plan", body="")
    two = source.create_note("Plan", body="", notebook=sub.id)  # same title, other notebook
    contents: dict[tuple[str, str], bytes] = {}
    for note in (one, two):
        lines = []
        for i, name in enumerate(NAMES):
            data = f"{note.id}:{name}".encode() * (i + 1)
            src = write(tmp_path / "files" / note.id / f"f{i}", data)
            source.attach(note.id, src, name=name)
            contents[(note.id, name)] = data
            lines.append(attachment_link(name))
        # the same name in both notes (different bytes), and a link in code that stays text
        lines.append("`![x](attachment:photo.png)`")
        source.update_note(source.note(note.id), body="\n".join(lines) + "\n")
    originals = {n.id: n.body for n in source.notes()}

    report = export_markdown(source, tmp_path / "out")
    assert report.attachments == 2 * len(NAMES) and report.attachments_missing == 0
    out = tmp_path / "out"
    files = sorted(p.relative_to(out).as_posix() for p in (out / "attachments").rglob("*"))
    assert "attachments/Plan/photo.png" in files and "attachments/Plan (2)/photo.png" in files
    assert all(":" not in f and "?" not in f and "*" not in f for f in files)
    deep = (out / "Work" / "Deep" / "Plan.md").read_text()
    # notes export in (created, id) order, so which "Plan" comes second depends on random ids
    later = max((source.note(one.id), source.note(two.id)), key=lambda n: (n.created, n.id))
    deep_slug = "Plan%20%282%29" if later.id == two.id else "Plan"
    assert f"](../../attachments/{deep_slug}/photo.png)" in deep
    assert "`![x](attachment:photo.png)`" in deep  # code is not rewritten
    assert "attachment names:" in deep and "a-b-c-.png/a:b?c*.png" in deep
    for path in (out / "attachments").rglob("*"):
        assert (path.stat().st_mode & 0o077) == 0  # private, like the notes

    target, _ = make_vault(tmp_path / "target")
    back = import_markdown(target, out)
    assert back.imported == 2 and back.attachments == 2 * len(NAMES)
    assert not back.skipped and not back.left_alone and back.other_files == 0
    for note in target.notes():
        path = target.notebook_path(note.notebook) if note.notebook else ""
        original = one if not path else two
        assert note.body == originals[original.id]  # byte for byte, links and all
        assert sorted(a.name for a in target.attachments(note.id)) == sorted(NAMES)
        for name in NAMES:
            assert saved(target, note.id, name) == contents[(original.id, name)]
        assert "attachment names" not in note.extra.get("front_matter", {})
    # importing again brings nothing twice
    again = import_markdown(target, out)
    assert again.imported == 0 and again.unchanged == 2 and again.attachments == 0
    assert not again.left_alone


def obsidian_folder(root: Path) -> None:
    write(root / "photo.png", b"\x89PNG root")
    write(root / "assets" / "doc.pdf", b"%PDF-1.7 doc")
    write(root / "notes" / "files" / "a.pdf", b"%PDF a")
    write(root / "notes" / "files" / "my file.txt", b"spaced")
    write(
        root / "notes" / "Trip.md",
        (
            "# Trip\n"
            "![[photo.png]]\n"
            "![[doc.pdf|the doc]]\n"
            "![[photo.png|300]]\n"
            "[[doc.pdf]] [[photo.png|a link, not shown]]\n"
            "![alt text](files/a.pdf)\n"
            '[the same pdf](<files/a.pdf> "title")\n'
            "[spaced](files/my%20file.txt)\n"
            "[web](https://example.com/x.png) [note](Other.md) [[Other]]\n"
            "![outside](../../outside.png) ![abs](/etc/passwd) ![gone](files/missing.png)\n"
            "```\n![[photo.png]]\n```\n"
        ),
    )
    write(root / "notes" / "Other.md", "![[doc.pdf]]")
    write(root / "unused.bin", b"\x00")


def test_import_brings_linked_files_and_rewrites_links(vault: Vault, tmp_path: Path) -> None:
    root = tmp_path / "obsidian"
    obsidian_folder(root)
    write(tmp_path / "outside.png", b"secret")
    report = import_markdown(vault, root)
    assert report.imported == 2 and report.attachments == 5 and not report.skipped
    assert report.left_alone == {"unused.bin": "not Markdown, and no note links to it"}
    assert report.other_files == 1
    notes = by_title(vault)
    trip = notes["Trip"]
    assert trip.body == (
        "# Trip\n"
        "![photo.png](attachment:photo.png)\n"
        "[the doc](attachment:doc.pdf)\n"
        "![photo.png](attachment:photo.png)\n"
        "[doc.pdf](attachment:doc.pdf) [a link, not shown](attachment:photo.png)\n"
        "![alt text](attachment:a.pdf)\n"
        '[the same pdf](attachment:a.pdf "title")\n'
        "[spaced](attachment:my%20file.txt)\n"
        "[web](https://example.com/x.png) [note](Other.md) [[Other]]\n"
        "![outside](../../outside.png) ![abs](/etc/passwd) ![gone](files/missing.png)\n"
        "```\n![[photo.png]]\n```\n"
    )
    names = {a.name: a for a in vault.attachments(trip.id)}
    assert set(names) == {"photo.png", "doc.pdf", "a.pdf", "my file.txt"}
    assert saved(vault, trip.id, "my file.txt") == b"spaced"
    assert names["a.pdf"].media_type == "application/pdf"
    other = notes["Other"]
    assert [a.name for a in vault.attachments(other.id)] == ["doc.pdf"]
    assert other.body == "[doc.pdf](attachment:doc.pdf)"


def test_same_file_name_in_two_folders_of_one_note(vault: Vault, tmp_path: Path) -> None:
    root = tmp_path / "n"
    write(root / "a" / "img.png", b"A")
    write(root / "b" / "img.png", b"B")
    write(root / "note.md", "![](a/img.png) ![](b/img.png) ![](a/img.png)")
    report = import_markdown(vault, root)
    assert report.attachments == 2
    note = by_title(vault)["note"]
    assert note.body == (
        "![](attachment:img.png) ![](attachment:img%20%282%29.png) ![](attachment:img.png)"
    )
    assert saved(vault, note.id, "img (2).png") == b"B"


def test_hostile_files_are_refused_and_reported(vault: Vault, tmp_path: Path) -> None:
    root = tmp_path / "hostile"
    outside = write(tmp_path / "secret.txt", b"do not take me")
    write(root / "big.bin", b"x" * 2048)
    (root / "link.txt").symlink_to(outside)
    (root / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    os.mkfifo(root / "pipe.pdf")
    write(root / "ok.txt", b"fine")
    write(
        root / "note.md",
        (
            "[a](link.txt) [b](pipe.pdf) [c](big.bin) [d](ok.txt) [e](dirlink/secret.txt)\n"
            "[f](../secret.txt) [g](%2e%2e/secret.txt) ![[secret.txt]] [h](file:///etc/passwd)\n"
        ),
    )

    def hung(*_: object) -> None:
        raise AssertionError("import waited on a FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        report = import_markdown(vault, root, max_attachment_bytes=1024)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert report.attachments == 1
    assert report.skipped == {
        "big.bin": "is larger than 1.0 KiB, the most an import attaches",
        "link.txt": "is a symbolic link (not followed)",
        "pipe.pdf": "is not a regular file",
    }
    note = by_title(vault)["note"]
    assert [a.name for a in vault.attachments(note.id)] == ["ok.txt"]
    assert "[d](attachment:ok.txt)" in note.body
    assert "[a](link.txt)" in note.body and "[e](dirlink/secret.txt)" in note.body
    assert "[f](../secret.txt) [g](%2e%2e/secret.txt) ![[secret.txt]]" in note.body


def test_names_that_cannot_be_attachment_names(vault: Vault, tmp_path: Path) -> None:
    root = tmp_path / "n"
    write(root / "bell\x07name.txt", b"1")
    write(root / "note.md", "[x](bell%07name.txt)")
    report = import_markdown(vault, root)
    assert report.attachments == 1
    note = by_title(vault)["note"]
    assert [a.name for a in vault.attachments(note.id)] == ["bell-name.txt"]


def test_link_scanner_leaves_code_and_odd_text_alone() -> None:
    seen: list[str] = []

    def record(link: md_attachments.Link) -> None:
        seen.append(link.target)

    body = (
        "~~~\n[a](in-fence.png)\n~~~\n`[b](inline.png)` [c](real.png)\n"
        "[d]( spaced.png ) [e](x(1).png) [[a wikilink]] ![[emb.png#p|al]] [f](<a b.png>)\n"
        "[unclosed](x.png\n" + "[" * 5000 + "](" * 5000
    )
    assert md_attachments.rewrite_links(body, record) == body
    assert seen == ["real.png", "spaced.png", "x(1).png", "a wikilink", "emb.png", "<a b.png>"]


def test_export_without_attachments_writes_no_folder(vault: Vault, tmp_path: Path) -> None:
    vault.create_note("Plain", body="[x](attachment:nothing.png)")
    report = export_markdown(vault, tmp_path / "out")
    assert report.attachments == 0 and not (tmp_path / "out" / "attachments").exists()
    assert (tmp_path / "out" / "Plain.md").read_text().endswith("[x](attachment:nothing.png)")


def test_notebook_called_attachments_does_not_collide(make_vault, tmp_path: Path) -> None:
    source, _ = make_vault(tmp_path / "s")
    nb = source.create_notebook("attachments")
    note = source.create_note("Inside", notebook=nb.id)
    source.attach(note.id, write(tmp_path / "f.txt", b"f"))
    source.update_note(source.note(note.id), body="[f](attachment:f.txt)")
    export_markdown(source, tmp_path / "out")
    assert (tmp_path / "out" / "attachments (2)" / "Inside.md").exists()
    target, _ = make_vault(tmp_path / "t")
    report = import_markdown(target, tmp_path / "out")
    assert report.imported == 1 and report.attachments == 1
    back = by_title(target)["Inside"]
    assert target.notebook_path(back.notebook) == "attachments"
    assert back.body == "[f](attachment:f.txt)"


def test_cli_import_reports_attachments_and_left_alone(cli: CLI, tmp_path: Path) -> None:
    cli.init()
    root = tmp_path / "obsidian"
    obsidian_folder(root)
    write(root / "esc\x1b[31mape.bin", b"x")
    done = cli("import", "markdown", str(root))
    assert done.returncode == 0, done.stderr
    assert "Imported 2 notes (1 new notebook) and 5 attachments" in done.stderr
    assert "left alone: unused.bin: not Markdown, and no note links to it" in done.stderr
    assert "\x1b" not in done.stderr  # a file name cannot drive the terminal
    as_json = cli("import", "markdown", str(root), "--json")
    report = json.loads(as_json.stdout)
    assert report["attachments"] == 0 and "unused.bin" in report["left_alone"]
    exported = cli("export", "markdown", str(tmp_path / "out"), "--yes")
    assert "Exported 2 notes and 5 attachments" in exported.stderr


@pytest.mark.parametrize("name", ["a.png", "a b.png", "é.png", "%.png", "(1).png", "[x].png"])
def test_export_path_round_trips_through_resolve(name: str) -> None:
    target = md_attachments.export_path(f"attachments/N/{name}", "Work")
    files = md_attachments.FolderFiles(Path("/nonexistent"))
    files.add(f"attachments/N/{name}", Path("/nonexistent") / name)
    link = md_attachments.Link(target, "t", wiki=False)
    assert files.resolve(link, "Work") == f"attachments/N/{name}"


def test_export_of_an_attachment_not_here_keeps_its_link(vault: Vault, tmp_path: Path) -> None:
    from vault.notes.attachments import blob_store

    note = vault.create_note("N")
    kept = vault.attach(note.id, write(tmp_path / "kept.txt", b"kept"))
    gone = vault.attach(note.id, write(tmp_path / "gone.txt", b"gone"))
    body = "[k](attachment:kept.txt) [g](attachment:gone.txt)"
    vault.update_note(vault.note(note.id), body=body)
    blob_store(vault).path(gone.blob).unlink()  # not on this device (yet)
    report = export_markdown(vault, tmp_path / "out")
    assert report.attachments == 1 and report.attachments_missing == 1
    text = (tmp_path / "out" / "N.md").read_text()
    assert text.endswith("[k](attachments/N/kept.txt) [g](attachment:gone.txt)")
    assert sorted(p.name for p in (tmp_path / "out" / "attachments" / "N").iterdir()) == [
        "kept.txt"
    ]
    assert kept.present


def test_a_folder_swapped_for_a_link_after_the_walk_is_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "n"
    write(root / "sub" / "a.txt", b"inside")
    write(tmp_path / "elsewhere" / "a.txt", b"outside")
    files = md_attachments.FolderFiles(root)
    files.add("sub/a.txt", root / "sub" / "a.txt")
    os.rename(root / "sub", tmp_path / "moved")
    (root / "sub").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert files.check("sub/a.txt") is not None


@pytest.mark.parametrize("unit", ["[a](xx", "![[aa", "[a\\", "[a](\\(", '[a](x "', "[`"])
def test_link_scanning_stays_linear(unit: str) -> None:
    import time

    body = unit * (300_000 // len(unit))
    start = time.perf_counter()
    md_attachments.rewrite_links(body, lambda link: None)
    assert time.perf_counter() - start < 5  # quadratic took minutes here


def test_large_linked_files_are_sealed_without_holding_the_store(
    vault: Vault, tmp_path: Path
) -> None:
    """While an import seals a note's large file, no transaction is open: another process
    can write (it waits at most 10 s for the store). The note before it is committed first,
    and the note with the file is still written whole, with its attachment."""
    import sqlite3
    import threading

    from vault.interchange.markdown_io import SEAL_APART_BYTES

    folder = tmp_path / "notes"
    write(folder / "a first.md", "a note before the large file\n")
    write(folder / "b scan.md", "the scan: ![](scan.bin)\n")
    write(folder / "c after.md", "a note after it\n")
    big = folder / "scan.bin"
    with open(big, "wb") as fh:  # sparse: large to seal, cheap to make
        fh.truncate(SEAL_APART_BYTES * 8)
    blobs = vault.path / "blobs"
    seen: list[str] = []  # what a writer found each time it looked while a blob was written
    stop = threading.Event()

    def sealing() -> set[str]:
        return {n for n in os.listdir(blobs) if n.startswith(".")} if blobs.is_dir() else set()

    def writer_looks() -> None:
        while not stop.is_set():
            files = sealing()
            if not files:
                continue
            other = sqlite3.connect(vault.path / "store.sqlite", timeout=0)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.rollback()
                seen.append("free")
            except sqlite3.OperationalError as exc:
                # Counted only if the same file was still being sealed after the attempt: on
                # a loaded machine the sealing may end, and the note's own transaction begin,
                # between the look and the attempt (CI saw it once).
                if files & sealing():
                    seen.append(str(exc))
            finally:
                other.close()

    watcher = threading.Thread(target=writer_looks)
    watcher.start()
    try:
        report = import_markdown(vault, folder)
    finally:
        stop.set()
        watcher.join()
    assert seen, "the blob was never seen being written"
    assert set(seen) == {"free"}, seen
    assert (report.imported, report.attachments) == (3, 1)
    scan = by_title(vault)["b scan"]
    assert saved(vault, scan.id, "scan.bin") == b"\0" * (SEAL_APART_BYTES * 8)
