"""After a session of CLI commands with a marker in titles, bodies, notebooks and tags, no file
under the vault folder (SQLite WAL and shared memory included) contains the marker."""

from __future__ import annotations

import codecs
from pathlib import Path

from tests.conftest import CLI

MARKER = "ZQXMARKER"


def encodings_of(text: str) -> list[bytes]:
    forms = [text, text.lower(), text.upper()]
    out = []
    for form in forms:
        out += [
            form.encode("utf-8"),
            form.encode("utf-16-le"),
            codecs.encode(form.encode(), "base64")[:8],
        ]
    return out


def scan(folder: Path, marker: str) -> list[str]:
    found = []
    needles = [marker.encode(), marker.lower().encode(), marker.encode("utf-16-le")]
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {n!r}" for n in needles if n in data]
    return found


def test_no_marker_anywhere_in_the_vault_folder(cli: CLI) -> None:
    cli.init()
    for i in range(5):
        cli(
            "new",
            f"{MARKER} title {i}",
            "--notebook",
            f"{MARKER}book/{MARKER}sub{i % 2}",
            "--tag",
            f"{MARKER}tag{i}",
            input=f"# {MARKER} heading\n\nbody with {MARKER} inside, number {i}\n",
            check=True,
        )
    cli("edit", f"{MARKER} title 0", input=f"changed {MARKER} body", check=True)
    cli("edit", f"{MARKER} title 1", "--title", f"{MARKER} renamed", check=True)
    cli("rm", f"{MARKER} title 2", check=True)
    cli("rm", f"{MARKER} title 3", "--purge", "--yes", check=True)
    cli("search", MARKER, check=True)
    cli("tag", "rename", f"{MARKER}tag4", f"{MARKER}renamedtag", check=True)
    cli("notebook", "rename", f"{MARKER}book", f"{MARKER}renamedbook", check=True)
    cli("passwd", VAULT_NEW_PASSWORD="another password", check=True)
    cli.password = "another password"
    cli("rekey", check=True)
    assert cli("ls", check=True).stdout.count(MARKER) >= 3  # it is really in there
    assert scan(cli.vault_dir, MARKER) == []
    # also after a checkpoint folds the WAL into the main file
    import sqlite3

    db = sqlite3.connect(cli.vault_dir / "store.sqlite")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    assert scan(cli.vault_dir, MARKER) == []
