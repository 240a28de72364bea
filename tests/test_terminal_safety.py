"""Note text is untrusted when it reaches a terminal (issue 12, section 2), through the CLI.

A title, body, notebook or tag can come from another device or from `vault import markdown`,
so these tests plant them as a peer would: sealed payloads written straight into the store,
with none of the cleaning the local commands do. Then the real `vault` command must show every
control character visibly, parse no markup, exit 0, and keep `--json` exact.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import CLI, PASSWORD, vault_command
from vault.notes.model import Note, Notebook
from vault.notes.vault import Vault
from vault.textsafe import visible

# What a hostile peer would write: clipboard (OSC 52, with BEL and with ST), window title,
# erase and cursor moves (CSI), 8-bit C1 controls, bidi overrides, line separators, and Rich
# or Textual markup that would crash, link or run an action if parsed.
PIECES = [
    "\x1b]52;c;cm0gLXJmIH4vKgo=\x07",
    "\x1b]52;c;cm0gLXJmIH4vKgo=\x1b\\",
    "\x1b]0;pwned\x07",
    "\x1b]2;pwned\x1b\\",
    "\x1b[2K",
    "\x1b[1A\x1b[2K",
    "\x1b[31m",
    "\x9b2K",
    "\x9d0;x\x9c",
    "\x85",
    "\u202e",
    "\u2066",
    "\u2028",
    "\r",
    "\x00",
    "\x7f",
    "\x08",
    "[/]",
    "[@click=app.quit]x[/]",
    "[link=http://x]y[/link]",
    "[bold]",
    "[/var/log/app]",
    ":smile:",
]
# Bytes that must never reach a terminal: C0 but newline (tab only in bodies), DEL, C1, and
# the bidi and separator characters that reorder or break lines.
FORBIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)
FORBIDDEN_WITH_TAB = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]".replace(
        "\x00-\x1f", "\x00-\x09\x0b-\x1f"
    )
)

any_char = st.characters(exclude_categories=("Cs",))
hostile = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text(any_char, min_size=1, max_size=6)),
    min_size=1,
    max_size=5,
).map("".join)


# --- planting text as a peer would -----------------------------------------------------------


def _seal(vault: Vault, kind: str, item_id: str, payload: dict, parent: str) -> None:
    """A version sealed and stored as the domain does, with whatever payload a peer chose."""
    vault.store.write(vault.seal_op(kind, item_id, payload, [parent]))


def plant_notebook(vault: Vault, name: str) -> Notebook:
    nb = vault.create_notebook("placeholder")
    _seal(vault, "notebook", nb.id, dataclasses.replace(nb, name=name).to_payload(), nb.version)
    vault.refresh()
    return vault.notebook(nb.id)


def plant_note(
    vault: Vault, *, title: str, body: str, tags: tuple[str, ...], notebook: str | None
) -> Note:
    note = vault.create_note("placeholder", "x", notebook=notebook)
    changed = dataclasses.replace(note, title=title, body=body, tags=tags)
    _seal(vault, "note", note.id, changed.to_payload(), note.version)
    vault.refresh()
    return vault.note(note.id)


def plant_conflict(vault: Vault, note: Note, other_body: str) -> None:
    """A second version from the same parent: two heads, as two devices make them."""
    parent = vault.store.history(note.id)[-2].op_id
    other = dataclasses.replace(note, body=other_body, modified=note.modified + 1)
    _seal(vault, "note", note.id, other.to_payload(), parent)
    vault.refresh()


@dataclass
class Planted:
    note: Note
    notebook: Notebook


def plant_all(vault: Vault, title: str, body: str, notebook: str, tag: str) -> Planted:
    nb = plant_notebook(vault, notebook)
    note = plant_note(vault, title=title, body="zebra " + body, tags=(tag,), notebook=nb.id)
    return Planted(note, nb)


# --- checks ----------------------------------------------------------------------------------


def assert_safe(result, *, tab: bool = False) -> None:
    __tracebackhide__ = True
    assert result.returncode == 0, result.stderr
    pattern = FORBIDDEN if tab else FORBIDDEN_WITH_TAB
    for stream in (result.stdout, result.stderr):
        bad = pattern.search(stream)
        assert bad is None, f"raw {bad.group()!r} in {stream!r}"


@pytest.fixture
def planted_cli(cli: CLI, make_vault: Callable[..., tuple[Vault, str]]) -> tuple[CLI, Vault]:
    vault, _ = make_vault(cli.vault_dir, PASSWORD)
    return cli, vault


def raw_bytes(cli: CLI, note_id: str) -> bytes:
    """`vault show ID --raw` as bytes (text mode would fold a \\r into a \\n)."""
    result = subprocess.run(
        [*vault_command(), "show", note_id, "--raw"],
        capture_output=True,
        env=cli.env(),
        start_new_session=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def run(cli: CLI, *args: str):
    # No COLUMNS: a pipe gets every cell whole, so the checks can find each field.
    return cli(*args, COLUMNS=None)


# --- the property ----------------------------------------------------------------------------


@settings(max_examples=8)
@given(title=hostile, body=hostile, notebook=hostile, tag=hostile)
def test_every_listing_and_show_command_shows_hostile_text_visibly(
    planted_cli: tuple[CLI, Vault], title: str, body: str, notebook: str, tag: str
) -> None:
    cli, vault = planted_cli
    planted = plant_all(vault, title, body, notebook, tag)
    note, nb = planted.note, planted.notebook
    plant_conflict(vault, note, "theirs zebra " + body)
    note = vault.note(note.id)
    nb_path = vault.notebook_path(nb.id)
    one_line = visible

    ls = run(cli, "ls")
    assert_safe(ls)
    assert one_line(note.title) in ls.stdout and one_line(nb_path) in ls.stdout
    assert one_line(tag) in ls.stdout
    shown = run(cli, "show", note.id)
    assert_safe(shown, tab=True)
    assert one_line(note.title) in shown.stdout
    assert visible(note.body, multiline=True) in shown.stdout
    notebooks = run(cli, "notebooks")
    assert_safe(notebooks)
    assert one_line(nb.name) in notebooks.stdout
    tags = run(cli, "tags")
    assert_safe(tags)
    assert one_line(tag) in tags.stdout
    search = run(cli, "search", "zebra")
    assert_safe(search)
    assert one_line(note.title) in search.stdout
    history = run(cli, "history", note.id)
    assert_safe(history)
    assert one_line(note.title) in history.stdout
    version = vault.store.history(note.id)[-1].op_id
    assert_safe(run(cli, "show", note.id, "--version", version[:12]), tab=True)
    conflicts = run(cli, "conflicts")
    assert_safe(conflicts)
    assert one_line(note.title) in conflicts.stdout
    assert_safe(run(cli, "conflicts", note.id), tab=True)
    # Errors quote what was asked for: a pasted title with escapes is shown visibly too.
    missing = run(cli, "show", "no such " + title.replace("\x00", ""))  # argv holds no NUL
    assert missing.returncode != 0 and FORBIDDEN_WITH_TAB.search(missing.stderr) is None

    # --json is exact (and still carries no raw C0/C1: JSON escapes them).
    docs = json.loads(run(cli, "ls", "--json").stdout)
    assert {d["title"] for d in docs} >= {note.title}
    doc = json.loads(run(cli, "show", note.id, "--json").stdout)
    assert (doc["title"], doc["body"], doc["tags"], doc["notebook"]) == (
        note.title,
        note.body,
        [tag],
        nb_path,
    )
    books = json.loads(run(cli, "notebooks", "--json").stdout)
    assert nb.name in {b["name"] for b in books}
    assert tag in {t["name"] for t in json.loads(run(cli, "tags", "--json").stdout)}
    hits = json.loads(run(cli, "search", "zebra", "--json").stdout)
    assert note.title in {h["title"] for h in hits}
    conflicts_json = run(cli, "conflicts", "--json")
    assert FORBIDDEN_WITH_TAB.search(conflicts_json.stdout) is None
    found = [c for c in json.loads(conflicts_json.stdout) if c["id"] == note.id]
    assert {v["body"] for v in found[0]["versions"]} == {planted.note.body, "theirs zebra " + body}
    assert raw_bytes(cli, note.id) == note.body.encode()  # into a pipe: the stored text


# --- the cases the review found ----------------------------------------------------------------


OSC52 = "\x1b]52;c;cm0gLXJmIH4vKgo=\x07"


def test_osc52_in_title_notebook_and_tag_is_shown_not_sent(
    planted_cli: tuple[CLI, Vault],
) -> None:
    cli, vault = planted_cli
    plant_all(vault, f"Minutes{OSC52}", "body", f"Work{OSC52}", f"t{OSC52}")
    shown = "^[]52;c;cm0gLXJmIH4vKgo=^G"
    for args in (["ls"], ["notebooks"], ["tags"], ["search", "zebra"]):
        result = run(cli, *args)
        assert_safe(result)
        assert shown in result.stdout, args
        assert "\x1b" not in result.stdout


def test_window_title_and_erase_line_codes_are_visible(planted_cli: tuple[CLI, Vault]) -> None:
    cli, vault = planted_cli
    note = plant_note(
        vault, title="a\x1b]0;pwned\x1b\\b", body="x\x1b[1A\x1b[2Ky", tags=(), notebook=None
    )
    result = run(cli, "show", note.id)
    assert_safe(result)
    assert "a^[]0;pwned^[\\b" in result.stdout and "x^[[1A^[[2Ky" in result.stdout


def test_conflicts_show_bodies_as_text_not_rich_markup(planted_cli: tuple[CLI, Vault]) -> None:
    cli, vault = planted_cli
    body = "[do not sign] [link=http://evil.example]here[/link] [/var/log/app]\n"
    note = plant_note(vault, title="Contract [/]", body=body, tags=(), notebook=None)
    plant_conflict(vault, note, "theirs\n")
    result = cli("conflicts", note.id, COLUMNS="300")
    assert result.returncode == 0, result.stderr  # `[/var/log/app]` made it exit 70
    assert "[do not sign]" in result.stdout
    assert "[link=http://evil.example]here[/link]" in result.stdout
    assert "[/var/log/app]" in result.stdout and "Contract [/]" in result.stdout
    assert "\x1b" not in result.stdout  # no hyperlink (OSC 8), no colour off a terminal


def test_json_escapes_c1_and_bidi_but_round_trips(planted_cli: tuple[CLI, Vault]) -> None:
    cli, vault = planted_cli
    title = "pay\u202eTXT.exe\x9b2K\x1b]0;x\x07"
    note = plant_note(vault, title=title, body="b", tags=(), notebook=None)
    out = run(cli, "show", note.id, "--json").stdout
    assert FORBIDDEN_WITH_TAB.search(out) is None
    assert "\\u202e" in out and "\\u009b" in out
    assert json.loads(out)["title"] == title


def test_errors_quoting_text_are_one_visible_line(planted_cli: tuple[CLI, Vault]) -> None:
    cli, _ = planted_cli
    result = run(cli, "show", "x\x1b]0;pwned\x07\ny")
    assert result.returncode != 0
    assert "x^[]0;pwned^G" in result.stderr and result.stderr.count("\n") == 1


def test_raw_body_is_exact_into_a_pipe(planted_cli: tuple[CLI, Vault]) -> None:
    cli, vault = planted_cli
    body = "keep\x1b[31m exactly\ttabs\x9b\r\n"
    note = plant_note(vault, title="raw", body=body, tags=(), notebook=None)
    assert raw_bytes(cli, note.id) == body.encode()


def test_backup_list_shows_a_hostile_file_name_visibly(cli: CLI, tmp_path) -> None:
    """Any program can put a file in the backup folder; its name reaches the listing."""
    cli.init()
    folder = tmp_path / "backups"
    folder.mkdir()
    (folder / f"x{OSC52}\n.vbak").write_bytes(b"not a backup")
    listed = cli("config", "set", "backup.dir", str(folder), check=True)
    assert listed.returncode == 0
    result = run(cli, "backup", "list", "--all")
    assert_safe(result)
    assert "x^[]52;c;cm0gLXJmIH4vKgo=^G^J.vbak" in result.stdout
    doc = json.loads(run(cli, "backup", "list", "--all", "--json").stdout)
    assert any(b["path"].endswith(f"x{OSC52}\n.vbak") for b in doc["backups"])
