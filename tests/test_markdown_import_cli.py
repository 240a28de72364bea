"""`vault import markdown` of thousands of files as a person runs it: the real command in a
subprocess, its progress bar (on a terminal only), and an import killed half-way."""

from __future__ import annotations

import json
import os
import pty
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import CLI, vault_command

MANY = 4000  # enough that an import outlasts the progress bar's delay (0.5 s) by far


def many_notes(root: Path, count: int) -> Path:
    """`count` small Markdown files in five folders, each title and body its own."""
    for i in range(count):
        folder = root / f"Folder {i % 5}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"Note {i}.md").write_text(
            f"---\ntitle: Note {i}\ntags: [t{i % 7}, common]\n---\n"
            f"# Note {i}\n\nSome words about {i}, and a [[Note {i + 1}]] link.\n",
            encoding="utf-8",
        )
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return many_notes(tmp_path_factory.mktemp("many") / "notes", MANY)


def listed(cli: CLI) -> list[dict]:
    return json.loads(cli("ls", "--json", check=True).stdout)


@pytest.mark.timeout(300)
def test_progress_bar_on_a_terminal_only_and_the_output_unchanged(
    cli: CLI, folder: Path, tmp_path: Path
) -> None:
    cli.init()
    piped = cli("import", "markdown", str(folder), "--json", check=True)
    # Not a terminal: no bar and no escape codes, only the report.
    assert "\x1b" not in piped.stderr and "Importing" not in piped.stderr
    assert json.loads(piped.stdout)["imported"] == MANY

    # stderr on a terminal (stdout still a pipe, as in `vault import ... | jq`): the bar is
    # drawn there, and stdout carries the same report as before.
    other = CLI(tmp_path / "other", cli.config)
    other.init()
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [*vault_command(), "import", "markdown", str(folder), "--json"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
            env=other.env(TERM="xterm", COLUMNS="100"),
        )
        os.close(slave)
        drawn = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the command ended and closed the terminal
                break
            if not chunk:
                break
            drawn += chunk
        out, _ = proc.communicate(timeout=240)
    finally:
        os.close(master)
    assert proc.returncode == 0, drawn[-2000:]
    assert b"Importing" in drawn  # the bar, on the terminal
    assert json.loads(out) == json.loads(piped.stdout)
    assert len(listed(other)) == MANY


def note_count(vault_dir: Path) -> int:
    """Notes committed so far, read as another process reads the store (WAL: never blocks the
    writer)."""
    db = sqlite3.connect(vault_dir / "store.sqlite", timeout=5)
    try:
        row = db.execute("SELECT count(*) FROM items WHERE kind = 'note' AND deleted = 0")
        return int(row.fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


@pytest.mark.timeout(300)
def test_a_killed_import_leaves_a_consistent_vault_and_importing_again_completes(
    cli: CLI, folder: Path
) -> None:
    cli.init()
    proc = subprocess.Popen(
        [*vault_command(), "import", "markdown", str(folder)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=cli.env(),
        start_new_session=True,
    )
    seen = 0
    deadline = time.monotonic() + 200
    while proc.poll() is None and seen == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
        seen = note_count(cli.vault_dir)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)  # mid-way: some batches committed, one under way
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the import ended before it could be killed"
    assert 0 < seen < MANY

    # The vault opens and verifies; it holds whole notes only, each once.
    checked = cli("check", check=True)
    assert checked.returncode == 0
    kept = listed(cli)
    assert seen <= len(kept) < MANY
    assert len({n["title"] for n in kept}) == len(kept)

    again = cli("import", "markdown", str(folder), "--json", check=True)
    report = json.loads(again.stdout)
    assert report["unchanged"] == len(kept) and report["imported"] == MANY - len(kept)
    after = listed(cli)
    assert sorted(n["title"] for n in after) == sorted(f"Note {i}" for i in range(MANY))
    assert {n["notebook"] for n in after} == {f"Folder {i}" for i in range(5)}
    assert cli("check", check=True).returncode == 0
