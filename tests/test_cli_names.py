"""The CLI as a new user meets it (issue 11): notes named as people name them, search and ls
that say what they show, options after the command, `init` and `backup restore --recovery`
as a person runs them. The real `vault` command in subprocesses, except where a test looks at
the domain resolver itself."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import CLI, PASSWORD, vault_command
from vault.errors import AmbiguousError, NotFoundError
from vault.notes import lookup
from vault.notes.vault import Vault


def new(cli: CLI, title: str, body: str = "text\n", *args: str) -> str:
    result = cli("new", title, "--json", *args, input=body, check=True)
    return json.loads(result.stdout)["id"]


def titles(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [n["title"] for n in json.loads(result.stdout)]


def shown_title(cli: CLI, ref: str, *args: str) -> str:
    return json.loads(cli("show", ref, "--json", *args, check=True).stdout)["title"]


# --- naming a note ---------------------------------------------------------------------------


def test_a_note_is_found_by_the_start_a_word_or_a_part_of_its_title(cli: CLI) -> None:
    cli.init()
    new(cli, "Standup 2024-06-03", "what we said\n")
    new(cli, "Groceries")
    new(cli, "Reading list")
    assert shown_title(cli, "Standup") == "Standup 2024-06-03"  # the start, any case
    assert shown_title(cli, "standup") == "Standup 2024-06-03"
    assert shown_title(cli, "06-03") == "Standup 2024-06-03"  # a word of it
    assert shown_title(cli, "list") == "Reading list"
    assert shown_title(cli, "rocer") == "Groceries"  # a part of it
    missing = cli("show", "zebra")
    assert missing.returncode == 1 and "no note matches 'zebra'" in missing.stderr


def test_every_command_that_takes_a_note_uses_the_same_names(cli: CLI) -> None:
    cli.init()
    new(cli, "Standup 2024-06-03", "first\n")
    new(cli, "Groceries")
    cli("edit", "standup", input="second\n", check=True)
    assert cli("show", "06-03", "--raw", check=True).stdout == "second\n"
    history = json.loads(cli("history", "Standup", "--json", check=True).stdout)
    assert len(history) == 2
    cli("revert", "stand", history[0]["version"][:10], check=True)
    assert cli("show", "Standup", "--raw", check=True).stdout == "first\n"
    cli("edit", "2024", "--tag", "work", check=True)
    cli("rm", "standup", check=True)
    assert titles(cli("ls", "--trash", "--json", check=True)) == ["Standup 2024-06-03"]
    cli("restore", "06-03", check=True)
    assert titles(cli("ls", "--tag", "work", "--json", check=True)) == ["Standup 2024-06-03"]
    cli("rm", "Standup", "--purge", "--yes", check=True)
    assert titles(cli("ls", "--json", check=True)) == ["Groceries"]


def test_several_matches_list_their_short_ids_and_titles(cli: CLI) -> None:
    cli.init()
    first = new(cli, "Standup 2024-06-03")
    second = new(cli, "Standup 2024-06-04")
    new(cli, "Groceries")
    for command in (["show"], ["edit", "--pin"], ["rm"], ["history"]):
        result = cli(command[0], "standup", *command[1:])
        assert result.returncode == 1, result.stderr
        lines = result.stderr.splitlines()
        assert lines[0] == "vault: 'standup' matches 2 notes; name one by its id:"
        assert lines[1].split()[:3] == [second[:8], "Standup", "2024-06-04"]  # newest first
        assert lines[2].split()[:3] == [first[:8], "Standup", "2024-06-03"]
        assert len(lines) == 3 and "no note matches" not in result.stderr
    # nothing was changed by the refused commands
    assert len(json.loads(cli("ls", "--json", check=True).stdout)) == 3
    assert shown_title(cli, second[:8]) == "Standup 2024-06-04"


def test_candidate_titles_reach_the_terminal_visibly(cli: CLI) -> None:
    """A title that arrived by sync or import may hold escape sequences: the candidates list
    shows them as text."""
    cli.init()
    new(cli, "Plan \x1b]52;c;ZXZpbA==\x07 A")
    new(cli, "Plan \x1b[2J B")
    result = cli("show", "plan")
    assert result.returncode == 1
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "Plan ^[]52;c;ZXZpbA==^G A" in result.stderr and "Plan ^[[2J B" in result.stderr


def test_the_best_level_wins_and_the_trash_yields_to_live_notes(cli: CLI) -> None:
    cli.init()
    plan = new(cli, "Plan")
    new(cli, "Plans for May")
    assert shown_title(cli, "plan") == "Plan"  # the exact title beats a longer one
    old = new(cli, "Garden")
    cli("rm", old, check=True)
    new(cli, "Garden")
    assert shown_title(cli, "garden") == "Garden"
    assert not json.loads(cli("show", "garden", "--json", check=True).stdout)["trashed"]
    restored = cli("restore", "Garden", check=True)  # in the trash: only the trashed one
    assert old[:8] in restored.stderr
    assert shown_title(cli, plan[:8]) == "Plan"


def test_rm_of_a_note_already_in_the_trash_says_so(cli: CLI) -> None:
    cli.init()
    note = new(cli, "Old draft")
    assert "Moved" in cli("rm", "Old draft", check=True).stderr
    again = cli("rm", note[:8], check=True)
    assert "already in the trash" in again.stderr and "Moved" not in again.stderr
    assert "--purge" in again.stderr
    assert titles(cli("ls", "--trash", "--json", check=True)) == ["Old draft"]


def test_resolver_levels_in_the_domain(vault: Vault) -> None:
    a = vault.create_note("Standup 2024-06-03", "a")
    b = vault.create_note("Standup 2024-06-04", "b")
    c = vault.create_note("Garden", "c")
    # a title that is another note's short id: the id wins (it is what `vault ls` printed)
    d = vault.create_note(c.id[:8], "d")
    assert vault.find_note(c.id[:8]).id == c.id
    assert vault.find_note(c.id).id == c.id
    assert vault.find_note(d.id[:8]).id == d.id
    # a prefix under 8 characters is no stronger than a title's start: both match, so ask
    e = vault.create_note(a.id[:4] + " notes", "e")
    with pytest.raises(AmbiguousError) as ambiguous:
        vault.find_note(a.id[:4])
    assert {cand.id for cand in ambiguous.value.candidates} == {a.id, e.id}
    assert a.id[:8] in str(ambiguous.value) and "Standup" not in str(ambiguous.value)
    with pytest.raises(AmbiguousError):
        vault.find_note("standup")
    assert vault.find_note("standup 06-04").id == b.id  # every word starts a word
    assert vault.find_note("arde").id == c.id
    with pytest.raises(NotFoundError):
        vault.find_note("ar")  # two letters inside a word are too little to go on
    with pytest.raises(NotFoundError):
        vault.find_note("nothing like it")


def test_a_short_id_is_found_without_opening_the_notes(vault: Vault, vault_path: Path) -> None:
    """`vault show 1a2b3c4d` decrypts one note: the id comes from the store's index, in a
    vault opened without its notes."""
    kept = [vault.create_note(f"Note {i}", f"body {i}") for i in range(5)]
    key = vault.master_key
    vault.lock()
    partial = Vault.open_with_key(vault_path, key, kinds=frozenset({"notebook", "tag"}))
    with partial:
        with pytest.raises(RuntimeError):
            partial.all_notes()  # it really holds no note
        for note in kept:
            found = lookup.note_by_id(partial, note.id[:8])
            assert found is not None and found.body == note.body
            assert lookup.note_by_id(partial, note.id.upper()) == found
        assert lookup.note_by_id(partial, "Note 1") is None  # no id: the caller opens the rest
        assert lookup.note_by_id(partial, kept[0].id[:8], trashed=True) is None
        # answered from the index of ids, not by scanning every note
        plan = partial.store.query("EXPLAIN QUERY PLAN " + lookup.ID_PREFIX_SQL, ("abcd*",))
        assert "item_id>? AND item_id<?" in " ".join(str(row[-1]) for row in plan)


# --- search and ls ---------------------------------------------------------------------------


def test_search_says_when_it_cuts_and_exits_1_when_nothing_matches(cli: CLI) -> None:
    cli.init()
    for i in range(4):
        new(cli, f"Shopping {i}", "milk and bread\n")
    cut = cli("search", "milk", "--limit", "2", check=True)
    assert cut.stdout.count("Shopping") == 2
    assert "showing 2 of 4; --limit N or --all" in cut.stderr and "showing" not in cut.stdout
    cut_json = cli("search", "milk", "--limit", "3", "--json", check=True)
    assert len(json.loads(cut_json.stdout)) == 3 and "showing 3 of 4" in cut_json.stderr
    every = cli("search", "milk", "--limit", "2", "--all", check=True)
    assert every.stdout.count("Shopping") == 4 and "showing" not in every.stderr
    assert "showing" not in cli("search", "milk", check=True).stderr
    nothing = cli("search", "zebra")
    assert nothing.returncode == 1 and nothing.stdout == ""
    assert "No notes match" in nothing.stderr
    nothing_json = cli("search", "zebra", "--json")
    assert nothing_json.returncode == 1 and json.loads(nothing_json.stdout) == []
    assert "must be 1 or more" in cli("search", "milk", "--limit", "0").stderr


def test_search_takes_its_words_as_typed_even_those_that_exclude(cli: CLI) -> None:
    """`vault search milk -bread`: the words need no quotes, and `-word` (which excludes, as
    the query syntax says) is a word, not an option argparse refuses; options go anywhere."""
    cli.init()
    new(cli, "Both", "milk and bread\n")
    new(cli, "Milk only", "milk, no loaf\n")
    new(cli, "Neither", "tea\n")

    def titles(*args: str) -> list[str]:
        return [n["title"] for n in json.loads(cli("search", *args, check=True).stdout)]

    assert titles("milk", "--json") == titles("--json", "milk")
    assert titles("milk", "bread", "--json") == ["Both"] == titles('"milk and bread"', "--json")
    assert titles("milk", "-bread", "--json") == ["Milk only"]
    assert sorted(titles("-bread", "--json")) == ["Milk only", "Neither"]
    assert titles("--json", "-bread", "--limit", "1", "milk") == ["Milk only"]
    assert len(titles("--json", "--lim", "1", "-tea")) == 1  # an abbreviation keeps its value
    assert titles("--json", "--", "-bread", "milk") == ["Milk only"]  # the person's own --
    assert titles("-bread", "--json", "--", "milk") == ["Milk only"]  # words on both sides
    assert titles("milk", "--json", "-bread", "--") == ["Milk only"]
    assert titles("milk", "--json", "bread") == ["Both"]  # an option among plain words
    assert titles("milk", "--limit", "1", "--json", "loaf") == ["Milk only"]
    vault = str(cli.vault_dir)
    assert [
        n["title"]
        for n in json.loads(
            cli("--vau", vault, "search", "milk", "-bread", "--js", check=True).stdout
        )
    ] == ["Milk only"]  # a shortened option before the command
    helped = cli("search", "-h", check=True)
    assert "WORD [WORD ...]" in helped.stdout
    assert cli("search").returncode == 2  # no word at all: argparse's usage error


def test_a_mistyped_command_gets_the_closest_one(cli: CLI) -> None:
    typo = cli("serch", "milk")
    assert typo.returncode == 2 and typo.stderr.splitlines()[-1] == (
        "vault: error: no command 'serch'; did you mean 'search'? (`vault --help` lists them)"
    )
    assert cli("zzz").stderr.splitlines()[-1] == (
        "vault: error: no command 'zzz' (`vault --help` lists them)"
    )
    assert "invalid choice: 'foo'" in cli("ls", "--sort", "foo").stderr  # others as argparse
    for typed in ("it's", "a\\b", "serch\x1b[2J"):  # the word as typed, shown visibly
        said = cli(typed).stderr.splitlines()[-1]
        shown = typed.replace("\x1b", "^[")
        assert said.startswith(f"vault: error: no command '{shown}'"), said


def test_a_title_typed_without_quotes_gets_a_hint(cli: CLI) -> None:
    cli.init()
    new(cli, "Groceries list")
    typed = cli("show", "Groceries", "list")
    assert typed.returncode == 2 and typed.stdout == ""
    assert "unrecognized arguments: list (a title or name of several words goes in quotes)" in (
        typed.stderr
    )
    assert "Groceries list" in cli("show", "Groceries list", check=True).stdout
    mistyped = cli("ls", "--tga", "x").stderr  # a mistyped option: no word to quote
    assert mistyped.splitlines()[-1] == "vault: error: unrecognized arguments: --tga x"
    hostile = cli("show", "Groceries", "x\x1b]0;PWNED\x07").stderr
    assert "\x1b" not in hostile and "\x07" not in hostile and "x^[]0;PWNED^G" in hostile


def test_an_empty_listing_says_what_it_found_none_of(cli: CLI) -> None:
    """`vault ls --tag nosuch` in a vault full of notes said "No notes here. Add one with
    `vault new TITLE`": with a filter, it now names what there is none of."""
    cli.init()
    new(cli, "Plain", "text\n")
    cli("notebook", "new", "Work/Sub", check=True)
    for args, said in (
        (["--tag", "nosuch"], "No notes tagged 'nosuch'."),
        (["--pinned"], "No pinned notes."),
        (["--trash"], "No notes in the trash."),
        (["--notebook", "work/sub", "--tag", "x\x1b[2J"], "No notes in Work/Sub tagged 'x^[[2J'."),
        (["--trash", "--pinned", "--tag", "t"], "No pinned notes in the trash tagged 't'."),
    ):
        listed = cli("ls", *args)
        assert (listed.returncode, listed.stdout, listed.stderr) == (0, "", said + "\n"), args
    assert cli("ls", "--notebook", "nosuch").returncode == 1  # no such notebook: an error
    cli("rm", "Plain", check=True)
    empty = cli("ls", check=True)
    assert empty.stderr == "No notes here. Add one with `vault new TITLE`.\n"
    new(cli, "Tagged", "x\n", "--tag", "groceries")
    typo = cli("ls", "--tag", "grocries", check=True).stderr
    assert typo == "No notes tagged 'grocries'. Did you mean 'groceries'?\n"


def test_a_notebook_or_tag_not_found_suggests_the_closest(cli: CLI) -> None:
    cli.init()
    cli("notebook", "new", "Work/Projects", check=True)
    cli("notebook", "new", "Wo\x1b[2Jrk", check=True)  # a hostile name, shown visibly
    new(cli, "Tagged", "x\n", "--tag", "groceries")
    for args, said in (
        (["ls", "--notebook", "work/projcts"], "did you mean 'Work/Projects'?"),
        (["ls", "--notebook", "wo[2jrk"], "did you mean 'Wo^[[2Jrk'?"),
        (["tag", "rename", "grocries", "food"], "no tag 'grocries'; did you mean 'groceries'?"),
    ):
        failed = cli(*args)
        assert failed.returncode == 1 and said in failed.stderr, (args, failed.stderr)
        assert "\x1b" not in failed.stderr and failed.stderr.count("\n") == 1
    far = cli("ls", "--notebook", "zzzzzz").stderr
    assert far == "vault: no notebook 'zzzzzz'; `vault notebooks` lists them\n"


def test_ls_lists_newest_first_whatever_the_apps_sort(cli: CLI) -> None:
    cli.init()
    for title in ("Beta", "Alpha", "Gamma"):
        new(cli, title)
        time.sleep(0.01)  # distinct modification times
    new(cli, "Pinned", "x\n", "--pin")
    cli("config", "set", "ui.sort", "title", check=True)  # as the app saves it
    assert titles(cli("ls", "--json", check=True)) == ["Pinned", "Gamma", "Alpha", "Beta"]
    assert titles(cli("ls", "--sort", "title", "--json", check=True)) == [
        "Pinned",
        "Alpha",
        "Beta",
        "Gamma",
    ]
    assert titles(cli("ls", "--reverse", "--json", check=True)) == [
        "Pinned",
        "Beta",
        "Alpha",
        "Gamma",
    ]
    assert titles(cli("ls", "--sort", "created", "--reverse", "--json", check=True))[1] == "Beta"


# --- options after the command ---------------------------------------------------------------


def test_keyfile_after_the_command_as_the_readme_shows(cli: CLI, tmp_path: Path) -> None:
    keyfile = tmp_path / "vault.key"
    made = cli("init", "--keyfile", str(keyfile), "--insecure-test-kdf")
    assert made.returncode == 0, made.stderr
    assert keyfile.exists()
    cli("new", "K", "--keyfile", str(keyfile), input="b", check=True)
    cli("--keyfile", str(keyfile), "new", "L", input="c", check=True)
    for args in (
        ["ls", "--keyfile", str(keyfile)],
        ["--keyfile", str(keyfile), "ls"],
        ["show", "K", "--keyfile", str(keyfile)],
        ["search", "b", "--keyfile", str(keyfile)],
        ["backup", "create", str(tmp_path / "b.vbak"), "--keyfile", str(keyfile)],
        ["notebook", "new", "Work", "--keyfile", str(keyfile)],
    ):
        result = cli(*args)
        assert result.returncode == 0, (args, result.stderr)
    assert "needs its keyfile" in cli("ls").stderr


def test_vault_after_the_command_and_the_later_one_wins(cli: CLI, tmp_path: Path) -> None:
    cli.init()
    new(cli, "In the first")
    second = CLI(tmp_path / "second", cli.config)
    second.init()
    new(second, "In the second")
    where = str(second.vault_dir)
    assert titles(cli("ls", "--vault", where, "--json", check=True)) == ["In the second"]
    assert titles(cli("--vault", where, "ls", "--json", check=True)) == ["In the second"]
    # an option given before the command is not undone by the command's own parser (the
    # show above), and one given after it is the one that counts
    after = cli("--vault", where, "ls", "--vault", str(cli.vault_dir), "--json", check=True)
    assert titles(after) == ["In the first"]
    assert "In the second" in cli("show", "second", "--vault", where, check=True).stdout


# --- init and restore ------------------------------------------------------------------------


def test_init_ends_the_measuring_line_when_stderr_is_not_a_terminal(cli: CLI) -> None:
    """With the real key-derivation measurement (a second or two): stderr is a pipe here."""
    result = cli("init", check=True)
    lines = result.stderr.splitlines()
    measuring = next(i for i, line in enumerate(lines) if line.startswith("Measuring"))
    assert lines[measuring] == "Measuring this machine to choose key-derivation cost…"
    assert lines[measuring + 1].startswith("Key derivation: Argon2id with ")
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    assert result.stdout.startswith("Created a vault at ")


def _backup(cli: CLI, tmp_path: Path) -> tuple[str, Path]:
    recovery = cli.init()
    new(cli, "Kept", "safe\n")
    out = tmp_path / "vault.vbak"
    cli("backup", "create", str(out), check=True)
    return recovery, out


def test_restore_with_the_recovery_key_sets_a_new_password(cli: CLI, tmp_path: Path) -> None:
    recovery, out = _backup(cli, tmp_path)
    target = tmp_path / "restored"
    restored = cli(
        "backup",
        "restore",
        str(out),
        "--recovery",
        "--vault",
        str(target),
        VAULT_PASSWORD=None,
        VAULT_RECOVERY_KEY=recovery,
        VAULT_NEW_PASSWORD="a brand new password",
    )
    assert restored.returncode == 0, restored.stderr
    assert "opens with your new password" in restored.stdout
    there = {"VAULT_DIR": str(target)}
    shown = cli("show", "Kept", "--raw", VAULT_PASSWORD="a brand new password", **there)
    assert shown.returncode == 0 and shown.stdout == "safe\n", shown.stderr
    assert cli("ls", **there).returncode == 2  # the lost password no longer opens it
    # the recovery key still does
    cli(
        "passwd",
        "--recovery",
        VAULT_PASSWORD=None,
        VAULT_RECOVERY_KEY=recovery,
        VAULT_NEW_PASSWORD="third",
        check=True,
        **there,
    )
    assert cli("show", "Kept", "--raw", VAULT_PASSWORD="third", **there).stdout == "safe\n"


def test_restore_with_the_recovery_key_and_no_new_password_keeps_the_old(
    cli: CLI, tmp_path: Path
) -> None:
    recovery, out = _backup(cli, tmp_path)
    target = tmp_path / "restored"
    env = {"VAULT_PASSWORD": None, "VAULT_RECOVERY_KEY": recovery, "VAULT_DIR": str(target)}
    restored = cli("backup", "restore", str(out), "--recovery", "--json", **env)
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["new_password"] is False
    assert cli("ls", check=True, VAULT_DIR=str(target)).returncode == 0  # the old password


def _run_on_a_terminal(args: list[str], env: dict[str, str], answers: list[tuple[str, str]]) -> str:
    """Run the real command with a pseudo-terminal as its controlling terminal, answering the
    prompts in order as each appears; returns everything it wrote."""
    import fcntl
    import termios

    master, slave = pty.openpty()

    def take_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [*vault_command(), *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        preexec_fn=take_terminal,
    )
    os.close(slave)
    seen, position, queue = b"", 0, list(answers)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break  # the command ended and closed the terminal
                if not chunk:
                    break
                seen += chunk
            if queue:
                prompt, answer = queue[0]
                at = seen.find(prompt.encode(), position)
                if at >= 0:
                    os.write(master, answer.encode() + b"\n")
                    position = at + len(prompt)
                    queue.pop(0)
            if proc.poll() is not None and not ready:
                break
    finally:
        os.close(master)
        proc.wait(timeout=30)
    assert proc.returncode == 0, seen.decode(errors="replace")
    return seen.decode(errors="replace")


def test_restore_with_the_recovery_key_asks_for_a_new_password_on_a_terminal(
    cli: CLI, tmp_path: Path
) -> None:
    recovery, out = _backup(cli, tmp_path)
    target = tmp_path / "restored"
    env = cli.env(VAULT_PASSWORD=None, VAULT_DIR=str(target))
    env["TERM"] = "dumb"
    seen = _run_on_a_terminal(
        ["backup", "restore", str(out), "--recovery"],
        env,
        [
            ("Recovery key: ", recovery),
            ("Enter to keep the old one): ", "typed on a terminal"),
            ("Repeat the new password: ", "typed on a terminal"),
        ],
    )
    assert "opens with your new password" in seen
    shown = cli(
        "show", "Kept", "--raw", VAULT_PASSWORD="typed on a terminal", VAULT_DIR=str(target)
    )
    assert shown.stdout == "safe\n", shown.stderr
    assert PASSWORD not in seen


def test_init_on_a_terminal_rewrites_the_measuring_line_in_place(cli: CLI) -> None:
    env = cli.env()  # VAULT_PASSWORD is set: no prompt
    env["TERM"] = "dumb"  # no escape sequence is needed to rewrite the line
    seen = _run_on_a_terminal(["init"], env, [])
    assert "Measuring this machine to choose key-derivation cost…\rKey derivation: " in seen
    assert "\x1b" not in seen
