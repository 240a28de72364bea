"""`vault links`, `backlinks`, `today`, `new --template` and renaming with links, run as the
real command."""

from __future__ import annotations

import json
from datetime import datetime

from tests.conftest import CLI


def _new(cli: CLI, title: str, body: str, *extra: str) -> str:
    result = cli("new", title, *extra, "--json", input=body, check=True)
    return json.loads(result.stdout)["id"]


def test_links_and_backlinks_text_and_json(cli: CLI) -> None:
    cli.init()
    target = _new(cli, "Target", "hello")
    source = _new(cli, "Source", "first\nsee [[target#Part|it]] and [[Nowhere]]\n`[[Code]]`\n")
    _new(cli, "Evil\x1b]0;x\x07", "[[Target]] \x1b[31mred\n")

    links = json.loads(cli("links", "Source", "--json", check=True).stdout)
    assert links == [
        {
            "target": "target",
            "heading": "Part",
            "shown": "it",
            "line": 2,
            "status": "found",
            "id": target,
            "title": "Target",
            "candidates": [],
        },
        {
            "target": "Nowhere",
            "heading": None,
            "shown": None,
            "line": 2,
            "status": "missing",
            "id": None,
            "title": None,
            "candidates": [],
        },
    ]
    text = cli("links", "Source", check=True).stdout
    assert "[[target#Part]] -> " + target[:8] in text and "[[Nowhere]] -> missing" in text

    back = json.loads(cli("backlinks", "Target", "--json", check=True).stdout)
    assert [(b["title"], b["line"], b["text"]) for b in back] == [
        ("Evil\x1b]0;x\x07", 1, "[[Target]] \x1b[31mred"),
        ("Source", 2, "see [[target#Part|it]] and [[Nowhere]]"),
    ]
    assert back[1]["id"] == source
    shown = cli("backlinks", "Target", check=True).stdout
    assert "\x1b" not in shown and "Evil^[]0;x^G" in shown and "^[[31mred" in shown
    assert f"{source[:8]}  Source:2  see [[target#Part|it]]" in shown
    empty = cli("backlinks", "Source")
    assert empty.returncode == 0 and empty.stdout == "" and "No note links here" in empty.stderr


def test_today_creates_from_the_daily_template_prints_and_appends(cli: CLI) -> None:
    cli.init()
    _new(cli, "Daily", "# {{title}}\nmade {{date}}\n", "--notebook", "Templates")
    title = datetime.now().strftime("%Y-%m-%d")
    first = cli("today", check=True)  # no terminal: printed
    assert "Created today's note" in first.stderr
    assert first.stdout == f"{title}\n# {title}\nmade {title}\n"
    cli("today", "--append", "- buy milk", check=True)
    cli("today", "--append", "- call \x1b[2J", check=True)
    again = cli("today", check=True)
    assert "Created" not in again.stderr
    assert again.stdout.endswith("- buy milk\n- call ^[[2J\n")
    listed = json.loads(cli("ls", "--notebook", "Journal", "--json", check=True).stdout)
    assert [n["title"] for n in listed] == [title]
    raw = cli("show", title, "--raw", check=True).stdout
    assert raw == f"# {title}\nmade {title}\n- buy milk\n- call \x1b[2J\n"


def test_today_title_format_and_notebook_from_the_config(cli: CLI) -> None:
    cli.init()
    cli("config", "set", "notes.journal_notebook", "Log", check=True)
    cli("config", "set", "notes.daily_title_format", "Day %d.%m.%Y", check=True)
    out = cli("today", check=True).stdout
    title = datetime.now().strftime("Day %d.%m.%Y")
    assert out == f"{title}\n"
    listed = json.loads(cli("ls", "--notebook", "Log", "--json", check=True).stdout)
    assert [n["title"] for n in listed] == [title]


def test_new_from_a_template(cli: CLI) -> None:
    cli.init()
    _new(
        cli,
        "Meeting",
        "# {{title}}\nOn {{date}} at {{time}}\n{{unknown}}\n",
        "--notebook",
        "Templates",
    )
    made = _new(cli, "Standup", "", "--template", "meeting", "--notebook", "Work")
    body = json.loads(cli("show", made, "--json", check=True).stdout)
    assert body["notebook"] == "Work"
    date = datetime.now().strftime("%Y-%m-%d")
    assert body["body"].startswith(f"# Standup\nOn {date} at ")
    assert body["body"].endswith("{{unknown}}\n")
    missing = cli("new", "X", "--template", "Nope")
    assert missing.returncode != 0
    assert "no template named 'Nope'" in missing.stderr and "Traceback" not in missing.stderr


def test_rename_and_edit_title_update_links_by_default(cli: CLI) -> None:
    cli.init()
    _new(cli, "Old", "")
    linking = _new(cli, "A", "[[Old#H|see]] and [[old]]\n```\n[[Old]]\n```\n")
    result = cli("rename", "Old", "New", check=True)
    assert "updated 2 link(s) in 1 other note(s)" in result.stderr
    assert cli("show", linking, "--raw").stdout == "[[New#H|see]] and [[New]]\n```\n[[Old]]\n```\n"
    result = cli("edit", "New", "--title", "Newer", check=True)
    assert "updated 2 link(s)" in result.stderr
    result = cli("edit", "Newer", "--title", "Newest", "--no-update-links", check=True)
    assert "link" not in result.stderr
    assert cli("show", linking, "--raw").stdout.startswith("[[Newer#H|see]] and [[Newer]]")
    back = json.loads(cli("backlinks", "Newest", "--json", check=True).stdout)
    assert back == []
    # Named by its id or short id (which opens the vault without the other notes, unless the
    # command goes on to read them): the links follow too.
    newest = json.loads(cli("show", "Newest", "--json", check=True).stdout)["id"]
    cli("edit", linking, check=True, input="[[Newest]]\n")
    for ref, title in ((newest[:8], "By short id"), (newest, "By full id")):
        result = cli("edit", ref, "--title", title)
        assert result.returncode == 0, result.stderr
        assert "updated 1 link(s) in 1 other note(s)" in result.stderr
        assert cli("show", linking, "--raw").stdout == f"[[{title}]]\n"


def test_today_on_a_terminal_opens_the_editor(cli: CLI, tmp_path) -> None:
    """With a terminal on stdin and stdout, `vault today` hands the note to $EDITOR, as `vault
    edit` does, and saves what the editor wrote."""
    import os
    import pty
    import subprocess

    from tests.conftest import vault_command

    cli.init()
    editor = tmp_path / "ed.sh"
    editor.write_text("#!/bin/sh\nprintf 'typed on a terminal\\n' >> \"$1\"\n")
    editor.chmod(0o700)
    master, slave = pty.openpty()
    try:
        result = subprocess.run(
            [*vault_command(), "today"],
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE,
            text=True,
            env=cli.env(EDITOR=str(editor)),
            start_new_session=True,
            timeout=120,
        )
    finally:
        os.close(slave)
        os.close(master)
    assert result.returncode == 0, result.stderr
    assert "Saved" in result.stderr
    title = datetime.now().strftime("%Y-%m-%d")
    assert cli("show", title, "--raw", check=True).stdout == "typed on a terminal\n"
