"""A note whose newest version is damaged (tampered or corrupt) is left out of every list, but
its older versions still open: `vault history ID` lists them and `vault revert ID VERSION`
makes one the newest again, so the damage costs that version only. (The note was out of reach:
`vault history` and `vault revert` refused it; found by a person's test.)"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.conftest import CLI
from vault.sealing import crypto


def _damage_newest(vault_dir: Path, item_id: str) -> str:
    """Flip a byte of the note's newest sealed version, as a disk or a hand might; its op id."""
    db = sqlite3.connect(vault_dir / "store.sqlite", isolation_level=None)
    try:
        op_id, text = db.execute(
            "SELECT op_id, envelope FROM ops WHERE item_id = ? ORDER BY seq DESC LIMIT 1",
            (item_id,),
        ).fetchone()
        envelope = json.loads(text)
        raw = bytearray(crypto.b64d(envelope["cipher"]))
        raw[20] ^= 0x80
        envelope["cipher"] = crypto.b64e(bytes(raw))
        changed = json.dumps(envelope)
        db.execute("UPDATE ops SET envelope = ? WHERE op_id = ?", (changed, op_id))
        db.execute("UPDATE items SET envelope = ? WHERE op_id = ?", (changed, op_id))
    finally:
        db.close()
    return op_id


def test_the_versions_that_open_are_listed_and_one_is_brought_back(cli: CLI) -> None:
    cli.init()
    cli("new", "Groceries", input="one\n", check=True)
    note_id = json.loads(cli("ls", "--json", check=True).stdout)[0]["id"]
    short = note_id[:8]
    cli("edit", short, input="two\n", check=True)
    cli("edit", short, input="three\n", check=True)
    damaged = _damage_newest(cli.vault_dir, note_id)

    listed = cli("ls")
    assert "Groceries" not in listed.stdout
    assert "`vault history ID`" in listed.stderr and short in listed.stderr

    history = cli("history", short, check=True).stdout.splitlines()
    assert len(history) == 3
    assert history[-1].startswith(f"* {damaged[:12]}") and "does not open" in history[-1]
    second = history[1].split()[0]
    as_json = json.loads(cli("history", short, "--json", check=True).stdout)
    assert [v["damaged"] for v in as_json] == [False, False, True]

    cli("revert", short, second, check=True)
    assert "Groceries" in cli("ls", check=True).stdout
    assert cli("show", "Groceries", "--raw", check=True).stdout == "two\n"
    history = cli("history", "Groceries", check=True).stdout.splitlines()
    assert len(history) == 4 and "does not open" in history[2]
    checked = cli("check")  # the damaged version is still there, and still said
    assert checked.returncode == 1 and short in checked.stdout


def test_a_name_that_is_no_damaged_note_keeps_its_error(cli: CLI) -> None:
    cli.init()
    cli("new", "Fine", input="body\n", check=True)
    for ref in ("abcdef12", "zz"):
        failed = cli("history", ref)
        assert failed.returncode != 0 and "Traceback" not in failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1


def test_a_revived_note_is_no_longer_counted_as_damaged(make_vault, vault_path) -> None:
    """In a long-lived process (the session agent, the app) the note revived is not warned of
    again: every later command said it could not be opened."""
    from vault.notes.vault import Vault

    vault, _ = make_vault()
    note = vault.create_note("Kept", "one")
    note = vault.update_note(note, body="two")
    vault.update_note(note, body="three")
    vault.lock()
    _damage_newest(vault_path, note.id)
    from tests.conftest import PASSWORD

    with Vault.unlock(vault_path, password=PASSWORD) as v:
        assert note.id in v.corrupt
        at = v.damaged_note(note.id[:8])
        older = next(x.note for x in v.note_history(at) if x.note and x.note.body == "one")
        v.write_over_damaged(at, older)
        assert note.id not in v.corrupt
        assert v.note(note.id).body == "one"
