"""Commands the unlocked session's agent answers (vault.session.thin, vault.cli.served) print
exactly what the command prints when it runs in its own process: each is run both ways on the
same vault, through the real `vault` command in subprocesses, and stdout, stderr and the exit
status are compared byte for byte, hostile titles included. No timing is asserted here (the
speed is measured in bench/bench_served.py)."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.conftest import CLI, PASSWORD, vault_command
from vault.notes.vault import Vault, inspect_vault
from vault.session import agent_client

HOSTILE = [
    "Plain groceries",
    "Escape \x1b]52;c;aGk=\x07 clipboard",
    "Markup [bold]loud[/] and [link=http://x]link[/link]",
    "Bidi \u202eevil\u202c title",
    "Wide 漢字 and combining é",
    "C1 \x9b31m control",
]


def served_count(cli: CLI) -> int:
    vault_id = inspect_vault(cli.vault_dir).vault_id
    reply = agent_client._ask_vault(cli.vault_dir, vault_id, {"op": "status"})
    assert reply is not None
    return int(reply["served"])


def both_ways(cli: CLI, *args: str, input: str | None = None, **env: str) -> tuple:
    """The command served by the agent, then run in its own process; both results."""
    before = served_count(cli)
    served = cli(*args, input=input, **env)
    assert served_count(cli) == before + 1, f"vault {' '.join(args)} was not served"
    own = cli(*args, input=input, VAULT_AGENT_SERVE="0", **env)
    assert served_count(cli) == before + 1
    return served, own


def same(served: subprocess.CompletedProcess, own: subprocess.CompletedProcess) -> None:
    assert (served.returncode, served.stdout, served.stderr) == (
        own.returncode,
        own.stdout,
        own.stderr,
    )


@pytest.fixture
def hostile(cli: CLI) -> CLI:
    cli.init()
    for n, title in enumerate(HOSTILE):
        args = ["new", title, "--notebook", f"Area {n % 2}/Sub \x1b[2J"]
        args += ["--tag", "t[red]x[/]", "--tag", f"tag{n}"]
        cli(*args, input=f"body {n} of {title}\nsecond \x1b[31mline\x07 word{n}\n", check=True)
    cli("new", "Twin", "--no-edit", check=True)
    cli("new", "Twin", input="again", check=True)
    cli("new", "Binned", input="gone", check=True)
    cli("rm", "Binned", check=True)
    cli("unlock", check=True)
    cli.password = None
    return cli


def ids(cli: CLI) -> dict[str, str]:
    listed = json.loads(cli("ls", "--json", "--trash", check=True).stdout)
    listed += json.loads(cli("ls", "--json", check=True).stdout)
    return {n["title"]: n["id"] for n in listed}


def test_served_commands_print_byte_for_byte_what_they_print_alone(hostile: CLI) -> None:
    cli = hostile
    by_title = ids(cli)
    escape = by_title[HOSTILE[1]]
    commands = [
        ["ls"],
        ["ls", "--json"],
        ["ls", "--trash"],
        ["ls", "--sort", "title", "--reverse"],
        ["ls", "--notebook", "Area 1"],
        ["ls", "--tag", "tag3"],
        ["ls", "--notebook", "No such"],
        ["ls", "--pinned"],
        ["search", "second"],
        ["search", "word2"],
        ["search", "second", "--json"],
        ["search", "second", "--limit", "2"],
        ["search", "nothingmatches"],
        ["search", '""'],
        ["search", "second", "-word2"],  # words apart, one of them excluding
        ["search", "-word2", "--limit", "2", "second"],
        ["show", escape[:8]],
        ["show", escape],
        ["show", HOSTILE[2]],
        ["show", "Bidi"],
        ["show", "--raw", escape[:8]],
        ["show", "--json", HOSTILE[4]],
        ["show", "Twin"],  # two notes: the candidates are listed
        ["show", "no such note"],
        ["show", "Binned"],
        ["show", escape[:8], "--version", "zzz"],
        ["--vault", str(cli.vault_dir), "ls"],
        ["tags"],
        ["tags", "--json"],
        ["notebooks"],
        ["notebooks", "--json"],
        ["history", HOSTILE[1]],
        ["history", "--json", escape[:8]],
        ["history", "Twin"],
        ["history", "no such note"],
    ]
    for args in commands:
        served, own = both_ways(cli, *args)
        same(served, own)
    served, own = both_ways(cli, "show", "Twin")
    assert served.returncode != 0 and "name one by its id" in served.stderr


def test_new_is_served_and_says_the_same(hostile: CLI) -> None:
    cli = hostile
    for args, body in (
        (["new", "Served \x1b[1mnote", "--notebook", "Area 1/Sub \x1b[2J"], "from stdin\n"),
        (["new", "Empty one", "--no-edit", "--tag", "x"], None),
        (["new", "Pinned", "--pin", "--json"], "pinned body"),
    ):
        served, own = both_ways(cli, *args, input=body)
        strip = re.compile(r'[0-9a-f]{8}([0-9a-f]{24})?|"(created|modified)": "[^"]*"')
        assert served.returncode == own.returncode == 0
        assert strip.sub("ID", served.stdout) == strip.sub("ID", own.stdout)
        assert served.stderr == own.stderr
    shown = cli("show", "--raw", "Served", VAULT_AGENT_SERVE="0")
    assert shown.returncode != 0  # two of them now: one served, one not
    listed = json.loads(cli("ls", "--json", check=True).stdout)
    served_notes = [n for n in listed if n["title"] == "Served \x1b[1mnote"]
    assert len(served_notes) == 2
    for note in served_notes:
        body = cli("show", "--raw", note["id"], check=True).stdout
        assert body == "from stdin\n"
        assert note["notebook"] == "Area 1/Sub \x1b[2J"
    # declined by the agent (VAULT_DEBUG is for the caller's own process) after the body was
    # read for it: the command runs here with that body
    count = served_count(cli)
    cli("new", "Debugged", input="kept body\n", check=True, VAULT_DEBUG="1")
    assert served_count(cli) == count
    assert cli("show", "--raw", "Debugged", check=True).stdout == "kept body\n"
    made = cli("new", "Elsewhere", "--notebook", "Brand \x07new", input="b")
    assert made.returncode == 0 and made.stderr == "Created notebook Brand ^Gnew\n"


def test_changes_are_served_and_do_what_they_do_alone(hostile: CLI, tmp_path: Path) -> None:
    """`edit` (the body from stdin, or other details), `rm` and `restore` served by the agent
    print what they print in their own process, run on a copy of the same vault, and leave the
    vault as they leave the copy; what needs the caller's terminal is not served."""
    cli = hostile
    twin = CLI(tmp_path / "twin", cli.config)
    shutil.copytree(cli.vault_dir, twin.vault_dir)  # the same notes and ids, no session
    by_title = ids(cli)
    escape, plain = by_title[HOSTILE[1]][:8], by_title[HOSTILE[0]][:8]
    steps: list[tuple[list[str], str | None]] = [
        (["edit", escape], "a new body \x1b]52;c;eA==\x07 from a pipe\n"),
        (["edit", plain, "--allow-empty"], ""),
        (["edit", escape], ""),  # refused: stdin was empty
        (["edit", escape, "--title", "Renamed [b]x[/]", "--tag", "new\x07tag", "--pin"], None),
        (["edit", HOSTILE[3], "--notebook", "Elsewhere \x1b[2J", "--untag", "tag3"], None),
        (["edit", "Twin", "--pin"], None),  # two notes: which one?
        (["rm", plain], None),
        (["rm", "Twin"], None),
        (["restore", plain], None),
        (["rm", "Binned", "--purge", "--yes"], None),
        (["rm", "no such note"], None),
    ]
    strip = re.compile(r"\b[0-9a-f]{8}\b")
    for args, body in steps:
        before = served_count(cli)
        served = cli(*args, input=body)
        assert served_count(cli) == before + 1, f"vault {' '.join(args)} was not served"
        own = twin(*args, input=body, VAULT_PASSWORD=PASSWORD, VAULT_AGENT_SERVE="0")
        assert (served.returncode, served.stdout) == (own.returncode, own.stdout), args
        # (a note's versions differ between the copies: "Saved" names the note, not those)
        assert strip.sub("ID", served.stderr) == strip.sub("ID", own.stderr), args
    notes = json.loads(cli("ls", "--json", "--trash", VAULT_AGENT_SERVE="0").stdout)
    notes += json.loads(cli("ls", "--json", VAULT_AGENT_SERVE="0").stdout)
    twins = json.loads(twin("ls", "--json", "--trash", VAULT_PASSWORD=PASSWORD).stdout)
    twins += json.loads(twin("ls", "--json", VAULT_PASSWORD=PASSWORD).stdout)
    drop = ("modified", "created", "trashed", "version")
    assert sorted(
        ({k: v for k, v in n.items() if k not in drop} for n in notes), key=str
    ) == sorted(({k: v for k, v in n.items() if k not in drop} for n in twins), key=str)
    for note in notes:
        shown = cli("show", "--raw", note["id"], VAULT_AGENT_SERVE="0").stdout
        assert shown == twin("show", "--raw", note["id"], VAULT_PASSWORD=PASSWORD).stdout
    # Not served: the editor (stdin a terminal is not given to the agent), a purge that
    # would ask to confirm. Asked directly, the agent declines them.
    vault_id = inspect_vault(cli.vault_dir).vault_id
    for argv, tty in ((["edit", plain], True), (["rm", plain, "--purge"], False)):
        request = {
            "op": "run",
            "argv": argv,
            "cwd": "/",
            "env": {"VAULT_DIR": str(cli.vault_dir), "VAULT_CONFIG": str(cli.config)},
            "tty": [tty, False, False],
            "encodings": [["utf-8", "strict"], ["utf-8", "backslashreplace"]],
        }
        reply = agent_client._ask_vault(cli.vault_dir, vault_id, request)
        assert reply == {"ok": True, "served": False}, argv
    refused = cli("rm", plain, "--purge")  # here: no terminal to confirm on
    assert refused.returncode != 0 and "add --yes" in refused.stderr
    assert plain in cli("ls", check=True).stdout


def test_links_the_daily_note_and_reorganising_are_served_as_they_run_alone(
    hostile: CLI, tmp_path: Path
) -> None:
    """`links`, `backlinks`, `rename`, `today`, `conflicts`, `revert`, `tag`, `notebook`,
    `empty-trash` and `attachments` served by the agent print what they print in their own process, run on a copy
    of the same vault, and leave the vault as they leave the copy (hostile titles, names and
    link text included); what needs the caller's terminal is not served."""
    cli = hostile
    linker = (
        f"See [[{HOSTILE[2]}]] and [[{HOSTILE[1]}#Head|shown \x1b[2J]] and [[Twin]]\n"
        "and [[Nowhere]] [[Plain groceries]]\n"
    )
    cli("new", "Linker \x07", input=linker, check=True)
    cli("new", "Old content", input="first body\n", check=True)
    cli("edit", "Old content", input="second body\n", check=True)
    receipt = tmp_path / "receipt.txt"
    receipt.write_text("paid\n")
    cli("attach", "Linker", str(receipt), "--name", "[b]loud[red] receipt.txt", check=True)
    twin = CLI(tmp_path / "twin", cli.config)
    shutil.copytree(cli.vault_dir, twin.vault_dir)  # the same notes and ids, no session
    by_title = ids(cli)
    steps: list[list[str]] = [
        ["links", "Linker"],
        ["links", "--json", by_title["Linker \x07"][:8]],
        ["links", "no such note"],
        ["backlinks", HOSTILE[2]],
        ["backlinks", "--json", "Plain groceries"],
        ["backlinks", "Twin"],  # two notes: which one?
        ["conflicts"],
        ["conflicts", "--json"],
        ["conflicts", "--json", "nothing"],
        ["attachments", "Linker"],
        ["attachments", "--json", "Linker"],
        ["attachments", "Plain groceries"],
        ["revert", "Old content", "zzz"],
        ["rename", HOSTILE[2], "Renamed [red]loud[/] \x1b]0;t\x07"],
        ["links", "Linker"],  # the link followed the rename
        ["rename", "Plain groceries", "Groceries", "--no-update-links"],
        ["rename", "Twin", "One twin"],
        ["today", "--print"],
        ["today", "--append", "a line \x1b[31m red"],
        ["today"],  # not on a terminal: printed
        ["tag", "rename", "tag1", "Tag one \x07"],
        ["tag", "rm", "tag2"],
        ["tag", "rm", "no such tag"],
        ["notebook", "new", "Fresh/Inner \x1b[2J"],
        ["notebook", "rename", "Fresh", "Fresher"],
        ["notebook", "move", "Fresher/Inner \x1b[2J", "Area 0"],
        ["notebook", "rm", "Fresher", "--yes"],
        ["notebook", "rm", "No such", "--yes"],
        ["empty-trash", "--yes"],
        ["ls", "--trash"],
    ]
    # (a note's ids and versions differ between the copies where a command makes one)
    strip = re.compile(r"\b[0-9a-f]{8}\b|\b[0-9a-f]{32}\b|20\d\d-\d\d-\d\d[ T][\d:+]+")
    for args in steps:
        before = served_count(cli)
        served = cli(*args)
        assert served_count(cli) == before + 1, f"vault {' '.join(args)} was not served"
        own = twin(*args, VAULT_PASSWORD=PASSWORD, VAULT_AGENT_SERVE="0")
        assert served.returncode == own.returncode, (args, served.stderr, own.stderr)
        assert strip.sub("ID", served.stdout) == strip.sub("ID", own.stdout), args
        assert strip.sub("ID", served.stderr) == strip.sub("ID", own.stderr), args
    # A real revert: the version named as each copy names it.
    for side, extra in ((cli, {}), (twin, {"VAULT_PASSWORD": PASSWORD, "VAULT_AGENT_SERVE": "0"})):
        history = json.loads(side("history", "--json", "Old content", check=True, **extra).stdout)
        oldest = [v["version"] for v in history if not v["current"]][-1]
        done = side("revert", "Old content", oldest[:12], check=True, **extra)
        assert done.stderr.startswith("Restored the content of version")
    notes = json.loads(cli("ls", "--json", "--trash", VAULT_AGENT_SERVE="0").stdout)
    notes += json.loads(cli("ls", "--json", VAULT_AGENT_SERVE="0").stdout)
    twins = json.loads(twin("ls", "--json", "--trash", VAULT_PASSWORD=PASSWORD).stdout)
    twins += json.loads(twin("ls", "--json", VAULT_PASSWORD=PASSWORD).stdout)
    drop = ("id", "modified", "created", "trashed", "version")
    assert sorted(
        ({k: v for k, v in n.items() if k not in drop} for n in notes), key=str
    ) == sorted(({k: v for k, v in n.items() if k not in drop} for n in twins), key=str)
    for note in notes:
        shown = cli("show", "--raw", note["id"], VAULT_AGENT_SERVE="0")
        other = twin("show", "--raw", note["title"], VAULT_PASSWORD=PASSWORD)
        if other.returncode == 0:  # (a title two notes share is named by id on each side)
            assert shown.stdout == other.stdout, note["title"]
    assert "Fresher" not in cli("notebooks", check=True).stdout
    # Not served: today's note in the editor (on a terminal), what would ask to confirm, and
    # one conflict drawn as wide as the terminal. Asked directly, the agent declines them.
    vault_id = inspect_vault(cli.vault_dir).vault_id
    for argv, tty in (
        (["today"], [True, True, True]),
        (["empty-trash"], [False, False, False]),
        (["notebook", "rm", "Area 0"], [False, False, False]),
        (["conflicts", "Linker"], [False, False, False]),
    ):
        request = {
            "op": "run",
            "argv": argv,
            "cwd": "/",
            "env": {"VAULT_DIR": str(cli.vault_dir), "VAULT_CONFIG": str(cli.config)},
            "tty": tty,
            "encodings": [["utf-8", "strict"], ["utf-8", "backslashreplace"]],
        }
        reply = agent_client._ask_vault(cli.vault_dir, vault_id, request)
        assert reply == {"ok": True, "served": False}, argv
    cli("rm", "Groceries", check=True)
    refused = cli("empty-trash")  # here: no terminal to confirm on
    assert refused.returncode != 0 and "add --yes" in refused.stderr
    assert "Groceries" in cli("ls", "--trash", check=True).stdout


def test_an_edit_fed_by_another_served_command_is_served_too(hostile: CLI) -> None:
    """`vault show --raw X | ... | vault edit X`: the `vault edit` client reads its stdin before
    it asks the agent (which answers one caller at a time), so the agent never waits on that
    stdin while the `vault show` that feeds it waits for the agent; both are served."""
    cli = hostile
    note = ids(cli)[HOSTILE[0]][:8]
    before = served_count(cli)
    edit = subprocess.Popen(
        [*vault_command(), "edit", note],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli.env(),
        start_new_session=True,
    )
    try:
        time.sleep(0.5)  # `vault edit` has started, and waits for its body
        shown = cli("show", "--raw", note, check=True)  # what feeds it, in a pipeline
        _, err = edit.communicate(shown.stdout.encode() + b"more\n", timeout=60)
    finally:
        if edit.poll() is None:
            edit.kill()
    assert edit.returncode == 0, err
    assert cli("show", "--raw", note, check=True).stdout.endswith("more\n")
    # (an agent that waited on the edit's stdin dropped it after 2 s: run here, not served)
    assert served_count(cli) - before == 3


def test_the_agent_never_serves_what_another_process_changed_after_it(
    hostile: CLI, tmp_path: Path
) -> None:
    cli = hostile
    assert "Plain groceries" in cli("ls", check=True).stdout  # the agent holds it open now
    cli("new", "Written alone", input="x", check=True, VAULT_AGENT_SERVE="0")
    cli("edit", "Plain groceries", "--title", "Renamed", check=True, VAULT_AGENT_SERVE="0")
    with Vault.unlock(cli.vault_dir, password=PASSWORD) as vault:
        vault.create_note("Written in Python", "y")
    served, own = both_ways(cli, "ls")
    same(served, own)
    for title in ("Written alone", "Renamed", "Written in Python"):
        assert title in served.stdout
    assert "Plain groceries" not in served.stdout
    same(*both_ways(cli, "show", "Written in Python"))
    # The vault folder replaced under the agent (as restoring a copy does): it reopens it.
    copy = tmp_path / "copy"
    shutil.copytree(cli.vault_dir, copy)
    with Vault.unlock(copy, password=PASSWORD) as vault:
        vault.create_note("Only in the copy", "z")
    cli.vault_dir.rename(tmp_path / "old")
    copy.rename(cli.vault_dir)
    served, own = both_ways(cli, "ls")
    same(served, own)
    assert "Only in the copy" in served.stdout


def agent_status(cli: CLI) -> dict:
    vault_id = inspect_vault(cli.vault_dir).vault_id
    reply = agent_client._ask_vault(cli.vault_dir, vault_id, {"op": "status"})
    assert reply is not None
    return reply


def test_unlock_has_the_agent_open_the_vault_before_any_command(hostile: CLI) -> None:
    """`vault unlock` preloads: the agent opens the vault as soon as it has answered, so the
    next command (a person's, seconds later) finds it open; what it serves is still what the
    command prints alone, and a change made in between is seen."""
    cli = hostile
    deadline = time.monotonic() + 60
    while not (status := agent_status(cli))["open"]:
        assert time.monotonic() < deadline, "the agent never opened the vault"
        time.sleep(0.05)
    assert status["served"] == 0
    cli("new", "After the preload", input="fresh", check=True, VAULT_AGENT_SERVE="0")
    served, own = both_ways(cli, "ls")
    same(served, own)
    assert "After the preload" in served.stdout
    same(*both_ways(cli, "show", "After the preload"))
    same(*both_ways(cli, "search", "second"))  # on the texts folded by the preload


def test_unlock_lays_out_the_listing_the_same_terminal_asks_for_next(hostile: CLI) -> None:
    """`vault unlock` has the agent run, once the vault is open, the `vault ls` the same
    terminal would send (its folder, environment, streams, vault options): that `vault ls`
    is then answered from what was made ahead, byte for byte what it prints alone. One shown
    another way (here: JSON) is worked out when it comes, as before; a change made since the
    unlock is listed."""
    cli = hostile

    def unlock(*before: str) -> None:
        cli("lock", check=True)
        cli.password = PASSWORD
        cli(*before, "unlock", check=True)
        cli.password = None
        deadline = time.monotonic() + 60
        while not (status := agent_status(cli))["open"]:
            assert time.monotonic() < deadline, "the agent never opened the vault"
            time.sleep(0.05)
        assert status["answered_ahead"] == 0

    unlock()
    served, own = both_ways(cli, "ls")
    same(served, own)
    assert agent_status(cli)["answered_ahead"] == 1
    same(*both_ways(cli, "ls", "--json"))
    assert agent_status(cli)["answered_ahead"] == 1
    unlock("--vault", str(cli.vault_dir))  # the option before the command, kept for `ls`
    served, own = both_ways(cli, "--vault", str(cli.vault_dir), "ls")
    same(served, own)
    assert agent_status(cli)["answered_ahead"] == 1
    unlock()
    cli("new", "Written since", input="fresh", check=True, VAULT_AGENT_SERVE="0")
    served, own = both_ways(cli, "ls")
    same(served, own)
    assert "Written since" in served.stdout
    assert agent_status(cli)["answered_ahead"] == 0


def test_a_lock_right_after_unlock_ends_the_agent_preloading_or_not(cli: CLI) -> None:
    """A lock that comes while the agent is still opening the vault: the agent answers, waits
    for the opening, forgets it, and removes its socket; the next command asks again."""
    cli.init()
    for n in range(30):
        cli("new", f"Note {n}", input=f"body {n}", check=True)
    vault_id = inspect_vault(cli.vault_dir).vault_id
    for _ in range(3):
        cli("unlock", check=True)
        where = agent_client.socket_path(cli.vault_dir, vault_id)
        assert where.exists()
        assert "Locked" in cli("lock", check=True).stderr
        deadline = time.monotonic() + 30
        while where.exists():  # removed by the agent as it ends, after the opening
            assert time.monotonic() < deadline, "the agent did not end after the lock"
            time.sleep(0.05)
        assert agent_client.status(cli.vault_dir, vault_id) is None
    assert "Note 3" in cli("ls", check=True).stdout  # with the password again


def test_a_repeated_ls_is_answered_again_only_while_nothing_changed(hostile: CLI) -> None:
    """The agent keeps its last `vault ls` answer (vault.cli.served): a repeat is that answer,
    and anything the output depends on (the vault, the agent's own writes, the columns, the
    arguments) gives a fresh one."""
    cli = hostile
    first, again = cli("ls", check=True), cli("ls", check=True)
    assert first.stdout == again.stdout and "Twin" in first.stdout
    served, own = both_ways(cli, "ls")  # the repeat, answered from what was kept
    same(served, own)
    cli("new", "Added by the agent", input="x", check=True)  # served: the agent's own write
    served, own = both_ways(cli, "ls")
    same(served, own)
    assert "Added by the agent" in served.stdout
    narrow = cli("ls", COLUMNS="50", check=True)
    assert narrow.stdout != served.stdout
    same(*both_ways(cli, "ls", "--sort", "title"))  # the lines of `ls`, resorted
    same(*both_ways(cli, "ls", "--sort", "title"))
    same(*both_ways(cli, "ls", "--reverse"))  # `ls`'s own listing, read backwards
    same(*both_ways(cli, "ls", "--sort", "created", "--reverse"))
    same(*both_ways(cli, "ls", "--trash"))
    with Vault.unlock(cli.vault_dir, password=PASSWORD) as vault:
        vault.update_note(vault.find_note("Added by the agent"), title="Renamed elsewhere")
    served, own = both_ways(cli, "ls")
    same(served, own)
    assert "Renamed elsewhere" in served.stdout and "Added by the agent" not in served.stdout


def test_a_served_ls_after_each_kind_of_change_prints_what_ls_prints_alone(hostile: CLI) -> None:
    """The agent lays out only the rows that changed since its last `vault ls` shown the same
    way (vault.cli.listing): after every kind of change, made by the agent or by another
    process, each listing is byte for byte the normal path's."""
    cli = hostile
    queries = [
        ["ls"],
        ["ls", "--sort", "title", "--reverse"],
        ["ls", "--trash"],
        ["ls", "--tag", "t[red]x[/]", "--sort", "created"],
        # JSON: each note's document is kept by the agent, written again only when it changed
        ["ls", "--json"],
        ["ls", "--json", "--reverse", "--notebook", "Area 1"],
        ["ls", "--json", "--trash"],
    ]
    escape = ids(cli)[HOSTILE[1]]

    def check(change: str) -> None:
        for query in queries:
            served, own = both_ways(cli, *query)
            assert served.returncode == 0, (change, query, served.stderr)
            same(served, own)

    check("none")
    changes = [
        ["edit", "Plain groceries", "--title", "Renamed \x1b[7m groceries " + "w" * 40],
        ["edit", "Bidi", "--notebook", "Area 1/Sub \x1b[2J"],
        ["edit", escape[:8], "--tag", "Brand new tag"],
        ["edit", "Wide", "--pin"],
        ["rm", "C1"],
        ["restore", "Binned"],
        ["notebook", "rename", "Area 0", "Area \u202e zero"],
        ["tag", "rename", "tag3", "Tag three \x07"],
        ["rm", "--purge", "--yes", "Markup"],
    ]
    for change in changes:
        cli(*change, check=True, input="")
        check(" ".join(change))
    cli("new", "Added by the agent \x1b]0;t\x07", input="x", check=True)  # served
    check("new")
    cli("edit", "Renamed", "--title", "x", check=True)  # a column's width moves back
    check("shorter")
    cli("edit", "Added by the agent", check=True, input="changed body\n")
    check("body")
    # Another time zone: every document's times change (the agent's kept ones too).
    for zone in ("Asia/Kathmandu", "America/St_Johns"):
        for query in queries[4:]:
            served, own = both_ways(cli, *query, TZ=zone)
            assert served.returncode == 0, (zone, query, served.stderr)
            same(served, own)
    # A notebook renamed by another process: the paths in the documents change.
    cli("notebook", "rename", "Area \u202e zero", "Area nought", check=True, VAULT_AGENT_SERVE="0")
    check("another process")


def test_a_client_that_asks_for_no_framed_reply_gets_base64_in_the_line(hostile: CLI) -> None:
    """The thin client asks for the output as raw bytes after the reply's line; a client
    that does not (an older one, still running while vault is upgraded) gets it as before."""
    import base64

    cli = hostile
    vault_id = inspect_vault(cli.vault_dir).vault_id
    request = {
        "op": "run",
        "argv": ["show", "--raw", "Bidi"],
        "cwd": "/",
        "env": cli.env(),
        "tty": [False, False, False],
        "encodings": [["utf-8", "strict"], ["utf-8", "backslashreplace"]],
    }
    reply = agent_client._ask_vault(cli.vault_dir, vault_id, request)
    assert reply is not None and reply["served"] is True and "frames" not in reply
    out = b"".join(base64.b64decode(data) for fd, data in reply["out"] if fd == 1)
    assert out == cli("show", "--raw", "Bidi", check=True).stdout.encode()


def test_not_served_runs_here_as_before(hostile: CLI, tmp_path: Path) -> None:
    cli = hostile
    count = served_count(cli)
    cli("status", check=True)  # not a served command
    cli("show", "--help", check=True)
    assert served_count(cli) == count
    cli("new", "From a pipe", check=True)  # its body from stdin (empty): served
    assert served_count(cli) == count + 1
    # another vault: no session of its own, so it asks for the password it cannot get
    other = CLI(tmp_path / "other", cli.config)
    other.init()
    other.password = None
    refused = other("ls")
    assert refused.returncode != 0 and "vault unlock" in refused.stderr
    assert served_count(cli) == count + 1
    # asked directly to run a command on another vault, the agent declines it
    vault_id = inspect_vault(cli.vault_dir).vault_id
    request = {
        "op": "run",
        "argv": ["--vault", str(other.vault_dir), "ls"],
        "cwd": "/",
        "env": {},
        "tty": [False, False, False],
        "encodings": [["utf-8", "strict"], ["utf-8", "backslashreplace"]],
    }
    reply = agent_client._ask_vault(cli.vault_dir, vault_id, request)
    assert reply == {"ok": True, "served": False}
    cli("lock", check=True)
    locked = cli("ls")
    assert locked.returncode != 0 and "vault unlock" in locked.stderr


def run_on_terminal(args: list[str], env: dict[str, str]) -> tuple[int, bytes]:
    """`vault ARGS` with stdout on a pseudo-terminal 72 columns wide; what it wrote there."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 72, 0, 0))
    proc = subprocess.Popen(
        [*vault_command(), *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    return proc.returncode, b"".join(chunks)


def test_on_a_terminal_the_columns_and_colours_are_the_same(hostile: CLI) -> None:
    cli = hostile
    env = cli.env()
    env.pop("COLUMNS")
    env.pop("NO_COLOR")
    for args in (["ls"], ["search", "second"], ["show", HOSTILE[1]], ["show", "--raw", "Bidi"]):
        before = served_count(cli)
        served = run_on_terminal(args, env)
        assert served_count(cli) == before + 1
        own = run_on_terminal(args, {**env, "VAULT_AGENT_SERVE": "0"})
        assert served == own
        # coloured (it knew stdout is a terminal), and the body's own escapes shown visibly
        assert (b"\x1b[" in served[1]) != ("--raw" in args)
        assert b"\x1b[31m" not in served[1] and b"\x07" not in served[1]
    listing = run_on_terminal(["ls"], env)[1].decode()
    assert max(len(re.sub(r"\x1b\[[0-9;]*m", "", line)) for line in listing.splitlines()) <= 72
    assert agent_client.lock_all() == 1


def test_a_vault_kept_open_sees_what_others_wrote_around_its_own_writes(
    make_vault, vault_path: Path
) -> None:
    """The agent's vault skips the full comparison with the store after its own writes only
    when nobody else committed in between (Vault._caught_up)."""
    mine, _ = make_vault()
    mine.create_note("First", "1")
    with Vault.unlock(vault_path, password=PASSWORD) as other:
        assert [n.title for n in mine.all_notes()] == ["First"]
        other.create_note("Theirs before", "2")  # between my last read and my write
        mine.create_note("Mine", "3")
        other.create_note("Theirs after", "4")  # after my write
        note = mine.find_note("First")
        mine.trash_note(note)
        other.update_note(other.find_note("Mine"), body="changed by them")
    titles = sorted(n.title for n in mine.all_notes())
    assert titles == ["First", "Mine", "Theirs after", "Theirs before"]
    assert mine.find_note("Mine").body == "changed by them"
    assert mine.find_note("First").in_trash
    alone = mine.create_note("Alone", "5")  # nobody else: the cache is current at once
    assert mine.store.data_version() == mine._seen_version
    assert mine.note(alone.id).body == "5"


def test_an_exact_title_names_the_note_the_full_resolver_names() -> None:
    """lookup.find_note's shortcut for an exact title agrees with `pick` on every name."""
    from hypothesis import given
    from hypothesis import strategies as st

    from vault.notes import lookup
    from vault.notes.model import Note

    titles = st.sampled_from(["Plans", "plans", "Plans 2", "abcd1234", "Twin", "Twin", "x"])

    @given(
        st.lists(st.tuples(titles, st.booleans()), max_size=8),
        titles,
        st.sampled_from([None, True, False]),
    )
    def check(specs: list, ref: str, trashed: bool | None) -> None:
        notes = [
            Note(id=f"{i:032x}", title=t, trashed=1 if bin_ else None)
            for i, (t, bin_) in enumerate(specs)
        ]
        pool = notes if trashed is None else [n for n in notes if n.in_trash == trashed]
        shortcut = lookup._exact_title(ref, pool, prefer_live=trashed is None)
        if shortcut is None:
            return
        prefer = (lambda n: not n.in_trash) if trashed is None else None
        full = lookup.pick(
            ref,
            pool,
            key=lambda n: (n.id, n.title),
            describe=lookup.note_candidate,
            prefer=prefer,
        )
        assert full is shortcut

    check()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("resort", "columns", "colour"), [(2, None, False), (256, "60", True)])
def test_a_listing_kept_between_changes_is_the_table_laid_out_afresh(
    vault: Vault,
    monkeypatch: pytest.MonkeyPatch,
    resort: int,
    columns: str | None,
    colour: bool,
) -> None:
    """The agent's `vault ls` rows (vault.cli.listing) are updated change by change; after
    each, the table is byte for byte the one `vault ls` lays out from scratch, whichever rows
    changed, whether a column's width moved or the order was sorted again, and when the
    listing was another order's, resorted (a stale one: it was last updated a step before)."""
    import contextlib
    import random

    from vault.cli import listing
    from vault.cli.note_commands import _note_table

    monkeypatch.setattr(listing, "RESORT", resort)
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.delenv("NO_COLOR", raising=False)
    rng = random.Random(15)
    words = ["plan", "Zebra", "漢字", "e\u0301", "\x1b[31mred", "[b]x[/]", "\u202erev", "a" * 30]
    notebooks = [vault.ensure_notebook(p)[0].id for p in ("A", "A/B \x07", "C 漢")] + [None]
    kept = {
        (sort, trash): listing.Listing(sort, colour=colour)
        for sort in ("modified", "title", "created")
        for trash in (False, True)
    }
    for step in range(60):
        notes = vault.all_notes()
        live = [n for n in notes if not n.in_trash]
        action = rng.choice(["new", "new", "title", "body", "move", "tag", "pin", "trash"])
        action = "new" if not live else action
        if action == "new":
            for _ in range(rng.choice([1, 1, 3])):
                title = " ".join(rng.choices(words, k=rng.randint(1, 4)))
                vault.create_note(title, "b", notebook=rng.choice(notebooks))
        elif action == "title":
            vault.update_note(rng.choice(live), title=rng.choice(words) + f" {step}")
        elif action == "body":
            vault.update_note(rng.choice(live), body=f"body {step}")
        elif action == "move":
            vault.update_note(rng.choice(live), notebook=rng.choice(notebooks))
        elif action == "tag":
            vault.update_note(rng.choice(live), tags=rng.sample(["x", "y\x1b", "zz"], 2))
        elif action == "pin":
            note = rng.choice(live)
            vault.update_note(note, pinned=not note.pinned)
        elif action == "trash":
            vault.trash_note(rng.choice(live))
        if step % 15 == 7:
            nb = vault.notebook(notebooks[1])
            vault.rename_notebook(nb, f"Renamed {step} \x1b")
        if step % 20 == 13:
            gone = rng.choice(vault.all_notes())
            vault.purge_note(gone)
        for (sort, trash), kept_listing in kept.items():
            notes = vault.notes(trashed=trash, sort=sort)
            if not notes:
                continue
            reverse = step % 2 == 1
            if reverse:  # as `vault ls --reverse`: pinned notes stay on top
                pinned = [n for n in notes if n.pinned]
                notes = pinned[::-1] + [n for n in notes if not n.pinned][::-1]
            afresh = _Terminal() if colour else io.StringIO()
            with contextlib.redirect_stdout(afresh):
                _note_table(vault, notes)
            if step % 7 == 3:  # a new order of the same table: another order's lines, resorted
                lender = kept[
                    {"modified": "title", "title": "created"}.get(sort, "modified"), trash
                ]
                kept_listing = kept[sort, trash] = lender.resorted(sort)
            kept_listing.update(notes[::-1], vault.notebook_path)  # in any order
            assert kept_listing.text(reverse) == afresh.getvalue(), (step, action, sort, trash)


@pytest.mark.parametrize("change", ["delete an older row", "rewrite a head's device"])
def test_history_altered_after_the_agent_opened_the_vault_is_reported_served_too(
    hostile: CLI, change: str
) -> None:
    """The history changed without the key while the agent keeps the vault open (a row
    deleted, or the current version's claims rewritten in place): the served commands warn,
    and show and refuse what a command in its own process does (the agent checked the
    commitment only when it opened the vault, and caught up by versions alone)."""
    import sqlite3

    cli = hostile
    same(*both_ways(cli, "ls"))
    db = sqlite3.connect(cli.vault_dir / "store.sqlite")
    if change == "delete an older row":
        older = db.execute(
            "SELECT op_id FROM ops WHERE op_id NOT IN (SELECT op_id FROM heads) AND deleted = 0"
        ).fetchall()
        assert older
        db.execute("DELETE FROM ops WHERE op_id = ?", older[0])
    else:
        (head,) = db.execute(
            "SELECT op_id FROM items WHERE deleted = 0 AND kind = 'note' LIMIT 1"
        ).fetchone()
        db.execute("UPDATE ops SET device = ? WHERE op_id = ?", ("f" * 32, head))
    db.commit()
    db.close()
    for command in (["ls"], ["search", "second"], ["show", HOSTILE[0]]):
        served, own = both_ways(cli, *command)
        assert "history was altered without the key" in served.stderr
        same(served, own)


def test_times_of_notes_from_before_whole_minute_offsets(cli: CLI, tmp_path: Path) -> None:
    """1900 in Amsterdam was local mean time, UTC+0:19:32: two notes modified in one UTC
    minute fall in two local minutes, and `ls` shows each its own (it formatted each UTC
    minute once), the same served and alone, and as `show` does."""
    cli.init()
    folder = tmp_path / "md"
    folder.mkdir()
    for name, second in (("Early", 10), ("Late", 40)):
        (folder / f"{name}.md").write_text(
            f"---\ntitle: {name}\nmodified: 1900-01-01T10:00:{second}Z\n---\nbody\n"
        )
    cli("import", "markdown", str(folder), check=True)
    cli("unlock", check=True)
    cli.password = None
    served, own = both_ways(cli, "ls", TZ="Europe/Amsterdam")
    same(served, own)
    rows = {line.split()[1]: line.split()[-1] for line in own.stdout.splitlines()[1:]}
    assert rows == {"Early": "10:19", "Late": "10:20"}


@pytest.mark.parametrize("columns", ["", "0", "-3", "wide"])
def test_a_columns_variable_that_is_no_width_is_ignored_alike(hostile: CLI, columns: str) -> None:
    """COLUMNS set but not a positive number: the command asks the terminal (72 columns
    here), served or alone (the agent was given no width and laid the table out for 100)."""
    cli = hostile
    env = {**cli.env(), "COLUMNS": columns, "LINES": columns}
    served = run_on_terminal(["ls"], env)
    own = run_on_terminal(["ls"], {**env, "VAULT_AGENT_SERVE": "0"})
    assert served == own
    assert max(len(line) for line in own[1].decode().splitlines()) <= 72


@pytest.mark.parametrize(
    "args", [("ls",), ("show", "Plain groceries"), ("new", "Thin", "--no-edit")]
)
def test_the_installed_command_serves_without_the_command_line_re_or_json(
    hostile: CLI, args: tuple[str, ...]
) -> None:
    """The installed `vault` script, served by the agent, imports the thin client and the C
    parts of the standard library it needs: not `re` (pip's console script for an entry point
    imported it first), not `json`, not the command line or the domain. Its output and exit
    status are the command's (it ends with os._exit, after writing everything)."""
    script = vault_command()[0]
    assert "import re" not in Path(script).read_text()  # the script, not pip's template
    # What the interpreter's start imported (site, an editable install's import hook) is
    # not the script's doing: only what it adds is looked at.
    code = (
        "import os, sys\n"
        "started = set(sys.modules)\n"
        "real_exit = os._exit\n"
        "def seen(code):\n"
        "    heavy = ('re', 'json', 'vault.cli', 'vault.notes.vault', 'nacl', 'socket')\n"
        "    added = [m for m in heavy if m in sys.modules and m not in started]\n"
        "    sys.stderr.write('loaded:' + ','.join(added) + '\\n')\n"
        "    sys.stderr.flush()\n"
        "    real_exit(code)\n"
        "os._exit = seen\n"
        f"sys.argv = [{script!r}, *{list(args)!r}]\n"
        f"with open({script!r}) as f:\n"
        f"    exec(compile(f.read(), {script!r}, 'exec'), {{'__name__': '__main__'}})\n"
    )
    before = served_count(hostile)
    env = hostile.env()
    result = subprocess.run(
        [sys.executable, "-c", code],
        input="",
        capture_output=True,
        text=True,
        env=env,
        start_new_session=True,
        timeout=120,
    )
    assert served_count(hostile) == before + 1, result.stderr
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == "loaded:"
    own = hostile(*args, VAULT_AGENT_SERVE="0")
    if args[0] != "new":
        assert result.stdout == own.stdout
    else:
        assert result.stdout.startswith("Created note ")
