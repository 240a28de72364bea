"""The real `vault` command in subprocesses: a whole session, and every bad input ends in one
line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CLI, PASSWORD


def one_line_error(result: subprocess.CompletedProcess[str], code: int | None = None) -> str:
    assert result.returncode != 0, result.stdout
    if code is not None:
        assert result.returncode == code
    err = result.stderr.strip()
    assert "Traceback" not in result.stderr
    assert len(err.splitlines()) == 1, err
    assert err.startswith("vault: ")
    return err


def test_a_whole_session(cli: CLI) -> None:
    recovery = cli.init()
    assert len(recovery.split("-")) == 14
    new = cli(
        "new",
        "Trip plans",
        "--notebook",
        "Travel/2027",
        "--tag",
        "trip",
        "--json",
        input="# Lisbon\n\nPastéis de nata.\n",
    )
    assert new.returncode == 0, new.stderr
    note_id = json.loads(new.stdout)["id"]
    assert "Created notebook Travel/2027" in new.stderr
    cli("new", "Other", "--tag", "misc", input="nothing here", check=True)

    listed = json.loads(cli("ls", "--json", check=True).stdout)
    assert {n["title"] for n in listed} == {"Trip plans", "Other"}
    shown = json.loads(cli("show", note_id[:6], "--json", check=True).stdout)
    assert shown["body"] == "# Lisbon\n\nPastéis de nata.\n"
    assert shown["notebook"] == "Travel/2027" and shown["tags"] == ["trip"]
    assert cli("show", "Trip plans", "--raw", check=True).stdout == "# Lisbon\n\nPastéis de nata.\n"

    cli("edit", "Trip plans", input="# Porto\n", check=True)
    cli("edit", "Trip plans", "--tag", "summer", "--untag", "trip", "--pin", check=True)
    shown = json.loads(cli("show", "Trip plans", "--json", check=True).stdout)
    assert shown["body"] == "# Porto\n" and shown["tags"] == ["summer"] and shown["pinned"]
    history = json.loads(cli("history", "Trip plans", "--json", check=True).stdout)
    assert len(history) == 3 and history[-1]["current"]
    old = history[0]["version"][:10]
    assert cli("show", "Trip plans", "--version", old, "--raw", check=True).stdout.startswith(
        "# Lisbon"
    )
    cli("revert", "Trip plans", old, check=True)
    assert cli("show", "Trip plans", "--raw", check=True).stdout.startswith("# Lisbon")

    hits = json.loads(cli("search", "pastéis", "--json", check=True).stdout)
    assert [h["title"] for h in hits] == ["Trip plans"]
    assert "Pastéis" in hits[0]["match"]
    nothing = cli("search", "zebra", "--json")  # exits 1 as grep does
    assert nothing.returncode == 1 and json.loads(nothing.stdout) == []

    cli("rm", "Other", check=True)
    assert [n["title"] for n in json.loads(cli("ls", "--trash", "--json", check=True).stdout)] == [
        "Other"
    ]
    cli("restore", "Other", check=True)
    assert json.loads(cli("ls", "--trash", "--json", check=True).stdout) == []

    notebooks = json.loads(cli("notebooks", "--json", check=True).stdout)
    assert [nb["path"] for nb in notebooks] == ["Travel", "Travel/2027"]
    tags = json.loads(cli("tags", "--json", check=True).stdout)
    # the revert above brought back the first version's tag as well as its body
    assert {t["name"]: t["notes"] for t in tags} == {"misc": 1, "summer": 0, "trip": 1}

    cli("notebook", "rename", "Travel/2027", "Lisbon", check=True)
    cli("notebook", "new", "Archive", check=True)
    cli("notebook", "move", "Travel/Lisbon", "Archive", check=True)
    shown = json.loads(cli("show", "Trip plans", "--json", check=True).stdout)
    assert shown["notebook"] == "Archive/Lisbon"
    cli("tag", "rename", "misc", "various", check=True)
    assert json.loads(cli("show", "Other", "--json", check=True).stdout)["tags"] == ["various"]

    assert "Everything opens." in cli("check", check=True).stdout
    cli("rm", "Other", "--purge", "--yes", check=True)
    assert [n["title"] for n in json.loads(cli("ls", "--json", check=True).stdout)] == [
        "Trip plans"
    ]


def test_passwords_recovery_and_rekey(cli: CLI) -> None:
    recovery = cli.init()
    cli("new", "Kept", input="body", check=True)
    cli("passwd", VAULT_NEW_PASSWORD="second password", check=True)
    err = one_line_error(cli("ls"), code=2)
    assert "wrong password" in err
    cli.password = "second password"
    cli("ls", check=True)
    cli.password = None
    cli(
        "passwd",
        "--recovery",
        VAULT_RECOVERY_KEY=recovery.lower().replace("-", " "),
        VAULT_NEW_PASSWORD="third password",
        check=True,
    )
    cli.password = "third password"
    new_recovery = json.loads(cli("rekey", "--json", check=True).stdout)["recovery_key"]
    assert new_recovery != recovery
    assert json.loads(cli("show", "Kept", "--json", check=True).stdout)["body"] == "body"
    cli.password = None
    err = one_line_error(
        cli("passwd", "--recovery", VAULT_RECOVERY_KEY=recovery, VAULT_NEW_PASSWORD="x")
    )
    assert "does not open this vault" in err


def test_keyfile_flow(cli: CLI, tmp_path: Path) -> None:
    keyfile = tmp_path / "vault.key"
    cli("--keyfile", str(keyfile), "init", "--insecure-test-kdf", check=True)
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    cli("--keyfile", str(keyfile), "new", "K", input="b", check=True)
    assert "needs its keyfile" in one_line_error(cli("ls"))
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(os.urandom(64))
    assert "password or keyfile" in one_line_error(cli("--keyfile", str(wrong), "ls"))
    cli("ls", VAULT_KEYFILE=str(keyfile), check=True)
    # drop the keyfile requirement
    cli(
        "--keyfile", str(keyfile), "passwd", "--no-keyfile", VAULT_NEW_PASSWORD=PASSWORD, check=True
    )
    cli("ls", check=True)
    assert "does not use a keyfile" in one_line_error(cli("--keyfile", str(keyfile), "ls"))


@pytest.mark.parametrize(
    "setup, args, expected",
    [
        ("none", ["ls"], "no vault at"),
        ("vault", ["show", "missing"], "no note matches"),
        ("vault", ["restore", "Dup"], "no note in the trash matches"),
        ("vault", ["ls", "--notebook", "Nope"], "no notebook"),
        ("vault", ["new", "   "], "needs a title"),
        ("vault", ["search", "   "], "at least one word"),
        ("vault", ["config", "set", "ui.autolock_minutes", "soon"], "whole number"),
        ("vault", ["config", "get", "ui.nonsense"], "unknown setting"),
        ("vault", ["init", "--insecure-test-kdf"], "already a vault"),
        ("notvault", ["ls"], "not a vault"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(
    cli: CLI, tmp_path: Path, setup, args, expected
) -> None:
    if setup == "vault":
        cli.init()
        cli("new", "Dup", input="1", check=True)
        cli("new", "Dup", input="2", check=True)
    elif setup == "notvault":
        cli.vault_dir.mkdir()
        (cli.vault_dir / "random.txt").write_text("hello")
    err = one_line_error(cli(*args))
    assert expected in err


def test_no_terminal_and_no_password_is_an_error_not_a_hang(cli: CLI) -> None:
    cli.init()
    cli.password = None
    err = one_line_error(cli("ls"))
    assert "VAULT_PASSWORD" in err


def test_empty_stdin_does_not_wipe_a_note(cli: CLI) -> None:
    cli.init()
    cli("new", "Keep", input="precious", check=True)
    assert "stdin was empty" in one_line_error(cli("edit", "Keep", input=""))
    assert cli("show", "Keep", "--raw", check=True).stdout == "precious"


def test_invalid_utf8_stdin(cli: CLI) -> None:
    cli.init()
    result = subprocess.run(
        [*__import__("tests.conftest", fromlist=["vault_command"]).vault_command(), "new", "X"],
        input=b"\xff\xfe\x00bad",
        capture_output=True,
        env=cli.env(),
        start_new_session=True,
    )
    assert result.returncode != 0
    assert b"not UTF-8" in result.stderr and b"Traceback" not in result.stderr


def test_tampered_item_via_cli_names_it_and_others_open(cli: CLI) -> None:
    import sqlite3

    cli.init()
    good = json.loads(cli("new", "Good", "--json", input="fine").stdout)["id"]
    bad = json.loads(cli("new", "Bad", "--json", input="doomed").stdout)["id"]
    db = sqlite3.connect(cli.vault_dir / "store.sqlite", isolation_level=None)
    (env,) = db.execute("SELECT envelope FROM items WHERE item_id = ?", (bad,)).fetchone()
    doc = json.loads(env)
    doc["cipher"] = (
        doc["cipher"][:20] + ("A" if doc["cipher"][20] != "A" else "B") + doc["cipher"][21:]
    )
    db.execute("UPDATE items SET envelope = ? WHERE item_id = ?", (json.dumps(doc), bad))
    db.execute(
        "UPDATE ops SET envelope = ? WHERE op_id = (SELECT op_id FROM items WHERE item_id = ?)",
        (json.dumps(doc), bad),
    )
    db.close()
    listed = cli("ls", "--json")
    assert listed.returncode == 0
    assert [n["id"] for n in json.loads(listed.stdout)] == [good]
    assert bad[:8] in listed.stderr and "tampered or corrupt" in listed.stderr
    err = one_line_error(cli("show", bad[:8]))
    assert bad[:8] in err
    assert json.loads(cli("show", "Good", "--json", check=True).stdout)["body"] == "fine"
    assert cli("check").returncode == 1


def test_config_commands(cli: CLI) -> None:
    assert cli("config", "path", check=True).stdout.strip() == str(cli.config)
    cli("config", "set", "ui.autolock_minutes", "3", check=True)
    assert cli("config", "get", "ui.autolock_minutes", check=True).stdout.strip() == "3"
    assert "autolock_minutes = 3" in cli("config", "show", check=True).stdout
    assert stat.S_IMODE(cli.config.stat().st_mode) == 0o600


def test_python_dash_m_works(cli: CLI) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vault", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("vault ")


def test_help_lists_the_commands(cli: CLI) -> None:
    out = cli("--help", check=True).stdout
    for command in (
        "init",
        "new",
        "ls",
        "show",
        "edit",
        "rm",
        "restore",
        "search",
        "passwd",
        "notebooks",
        "tags",
        "rekey",
    ):
        assert command in out


def test_show_by_full_id_reads_the_same_note_as_by_title(cli) -> None:
    """A full id takes a short path (one envelope read); what it prints is the same."""
    cli.init()
    cli("new", "Plans", "--notebook", "Work/Q1", "--tag", "x", input="body\n", check=True)
    cli("new", "Old", input="gone soon\n", check=True)
    cli("rm", "Old", check=True)
    for title in ("Plans", "Old"):
        full = json.loads(cli("show", title, "--json", check=True).stdout)
        for args in ((), ("--json",), ("--raw",)):
            assert (
                cli("show", full["id"], *args, check=True).stdout
                == cli("show", title, *args, check=True).stdout
            )
    missing = cli("show", "0" * 32)
    assert missing.returncode != 0 and "no note matches" in missing.stderr


def test_every_command_and_action_says_what_it_does() -> None:
    """`vault tag --help` listed its actions with no word on what they do (a person's test)."""
    import argparse

    from vault.cli.parser import build_parser

    silent = []
    stack = [("vault", build_parser())]
    while stack:
        name, parser = stack.pop()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helped = {a.dest for a in action._choices_actions if a.help}
                for sub, subparser in action.choices.items():
                    if sub not in helped:
                        silent.append(f"{name} {sub}")
                    stack.append((f"{name} {sub}", subparser))
    assert silent == []
