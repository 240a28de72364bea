"""`vault backup ...` as a person runs it: the real command in subprocesses, and a restore on a
"fresh machine" (a new home, no config, no vault) that has only the file and one secret."""

from __future__ import annotations

import json
import os
import pty
import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import CLI, PASSWORD
from vault.cli import backup_commands
from vault.cli.backup_commands import PROGRESS_DELAY, progress_bar


def notes_of(cli: CLI, **env: str | None) -> list[tuple]:
    listed = json.loads(cli("ls", "--json", check=True, **env).stdout)
    result = []
    for n in listed:
        body = cli("show", n["id"], "--raw", check=True, **env).stdout
        result.append((n["id"], n["title"], n["notebook"], tuple(n["tags"]), n["pinned"], body))
    return sorted(result)


@pytest.fixture
def source(cli: CLI, tmp_path: Path) -> tuple[CLI, str, Path]:
    """A vault made with the CLI, and a backup file of it."""
    recovery = cli.init()
    cli("new", "Plans", "--notebook", "Work/Projects", "--tag", "alpha", input="one\n", check=True)
    cli("new", "Ünïcode ✓", "--tag", "béta", "--pin", input="two\r\nlines", check=True)
    cli("edit", "Plans", input="one, edited\n", check=True)
    cli("new", "Trashed", input="gone", check=True)
    cli("rm", "Trashed", check=True)
    out = tmp_path / "transfer" / "vault.vbak"
    out.parent.mkdir()
    result = cli("backup", "create", str(out), check=True)
    assert result.stdout.strip() == str(out)
    return cli, recovery, out


def fresh_machine(tmp_path: Path, backup_file: Path) -> tuple[CLI, Path]:
    """A new home with nothing in it but a copy of the backup file."""
    home = tmp_path / "machine2"
    home.mkdir()
    copy = home / backup_file.name
    shutil.copyfile(backup_file, copy)
    machine = CLI(home / "restored-vault", home / "config.toml")
    machine.password = None
    return machine, copy


def machine_env(home: Path) -> dict[str, str]:
    return {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }


def test_restore_on_a_fresh_machine_with_only_the_password(source, tmp_path: Path) -> None:
    cli, _, out = source
    machine, copy = fresh_machine(tmp_path, out)
    env = {**machine_env(copy.parent), "VAULT_DIR": None, "VAULT_PASSWORD": PASSWORD}
    verified = machine("backup", "verify", str(copy), **env)
    assert verified.returncode == 0, verified.stderr
    assert "The backup is good." in verified.stdout
    target = copy.parent / "restored-vault"
    restored = machine("backup", "restore", str(copy), "--vault", str(target), **env)
    assert restored.returncode == 0, restored.stderr
    assert "as a new vault" in restored.stdout
    env["VAULT_DIR"] = str(target)
    assert notes_of(machine, **env) == notes_of(cli)
    trash = json.loads(machine("ls", "--trash", "--json", check=True, **env).stdout)
    assert [n["title"] for n in trash] == ["Trashed"]
    history = json.loads(machine("history", "Plans", "--json", check=True, **env).stdout)
    assert len(history) == 2  # with its history
    status = json.loads(machine("status", "--json", check=True, **env).stdout)
    original = json.loads(cli("status", "--json", check=True).stdout)
    assert status["vault_id"] == original["vault_id"]


def test_restore_on_a_fresh_machine_with_only_the_recovery_key(source, tmp_path: Path) -> None:
    cli, recovery, out = source
    machine, copy = fresh_machine(tmp_path, out)
    target = copy.parent / "restored-vault"
    env = {**machine_env(copy.parent), "VAULT_DIR": str(target), "VAULT_RECOVERY_KEY": recovery}
    verified = machine("backup", "verify", str(copy), "--recovery", "--json", **env)
    assert verified.returncode == 0, verified.stderr
    report = json.loads(verified.stdout)
    assert report["ok"] and report["opened_with"] == "recovery key"
    assert report["live"] == {"note": 3, "notebook": 2, "tag": 2}
    restored = machine("backup", "restore", str(copy), "--recovery", **env)
    assert restored.returncode == 0, restored.stderr
    # a person who forgot the password sets a new one with the recovery key
    machine("passwd", "--recovery", VAULT_NEW_PASSWORD="a new password", check=True, **env)
    assert notes_of(machine, VAULT_PASSWORD="a new password", **env) == notes_of(cli)


def test_errors_are_one_line_and_non_zero(source, tmp_path: Path) -> None:
    cli, _, out = source
    wrong = cli("backup", "verify", str(out), VAULT_PASSWORD="wrong")
    assert wrong.returncode == 2 and wrong.stderr.strip() == "vault: wrong password for this backup"
    missing = cli("backup", "verify", str(tmp_path / "nope.vbak"))
    assert missing.returncode == 1 and "no backup at" in missing.stderr
    damaged = tmp_path / "damaged.vbak"
    data = bytearray(out.read_bytes())
    data[-100] ^= 0xFF
    damaged.write_bytes(bytes(data))
    for args in (("verify",), ("restore", "--vault", str(tmp_path / "x"))):
        result = cli("backup", args[0], str(damaged), *args[1:])
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert "fails to verify" in result.stderr
    assert not (tmp_path / "x").exists()
    again = cli("backup", "create", str(out))
    assert again.returncode == 1 and "already exists" in again.stderr
    assert cli("backup", "create", str(out), "--force").returncode == 0


def test_restore_into_another_vault_is_refused(source, tmp_path: Path) -> None:
    _, _, out = source
    other = CLI(tmp_path / "other", tmp_path / "config.toml")
    other.init()
    result = other("backup", "restore", str(out))
    assert result.returncode == 1 and "backup of another vault" in result.stderr


def test_merge_after_password_change_and_rekey_needs_the_backups_password(
    source, tmp_path: Path
) -> None:
    cli, _, out = source
    cli("passwd", VAULT_NEW_PASSWORD="second password", check=True)
    cli.password = "second password"
    cli("rekey", check=True)
    cli("new", "After rekey", input="x", check=True)
    refused = cli("backup", "restore", str(out))  # the vault's password does not open it
    assert refused.returncode == 2 and "wrong password for this backup" in refused.stderr
    merged = cli("backup", "restore", str(out), "--json", VAULT_BACKUP_PASSWORD=PASSWORD)
    assert merged.returncode == 0, merged.stderr
    report = json.loads(merged.stdout)
    assert report["operations_added"] == 0  # the rekeyed vault already had every operation
    assert cli("check").returncode == 0


def test_list_shows_backups_of_this_vault(source, tmp_path: Path) -> None:
    cli, _, _ = source
    assert "No backups" in cli("backup", "list", check=True).stderr
    made = cli("backup", "create", check=True).stdout.strip()
    listed = json.loads(cli("backup", "list", "--json", check=True).stdout)
    assert [b["path"] for b in listed["backups"]] == [made]
    assert listed["backups"][0]["automatic"] is False
    assert Path(made).stat().st_mode & 0o777 == 0o600


def test_a_command_makes_the_scheduled_backup_when_it_is_due(cli: CLI) -> None:
    cli.init()
    cli("config", "set", "backup.interval_hours", "0.0001", check=True)  # 0.36 seconds
    cli("new", "Something", input="to keep", check=True)
    time.sleep(0.5)
    assert "scheduled backup" not in cli("ls", check=True).stderr  # reads only: no backup
    first = cli("tags", check=True)
    assert "Made the scheduled backup" in first.stderr
    listed = json.loads(cli("backup", "list", "--json", check=True).stdout)["backups"]
    assert len(listed) == 1 and listed[0]["automatic"]
    time.sleep(0.5)
    # due again by the clock, but nothing changed: no new backup
    assert "scheduled backup" not in cli("tags", check=True).stderr
    cli("config", "set", "backup.interval_hours", "0", check=True)
    cli("new", "More", input="x", check=True)
    assert "scheduled backup" not in cli("tags", check=True).stderr


def test_progress_bar_only_on_a_terminal_and_only_when_slow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with progress_bar("Backing up") as update:
        assert update is None  # stderr is a pipe here: no bar, no escape codes
    master, slave = pty.openpty()
    terminal = os.fdopen(slave, "w", buffering=1)
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv("TERM", "xterm")
    # A clock the test moves by hand: no sleeping, and a loaded machine cannot make the quick
    # task look slow.
    now = [1000.0]
    monkeypatch.setattr(backup_commands, "time", SimpleNamespace(monotonic=lambda: now[0]))
    try:
        with progress_bar("Quick") as update:
            assert update is not None
            now[0] += PROGRESS_DELAY / 2
            update(1, 2)  # finished before the delay: nothing is drawn
        with progress_bar("Backing up") as update:
            now[0] += PROGRESS_DELAY + 0.1
            update(50, 100)
            update(100, 100)
        terminal.flush()
        drawn = b""
        os.set_blocking(master, False)
        try:
            while chunk := os.read(master, 65536):
                drawn += chunk
        except BlockingIOError:
            pass
    finally:
        terminal.close()
        os.close(master)
    assert b"Backing up" in drawn and b"Quick" not in drawn


def _small_file_limit(limit: int):
    def apply() -> None:
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_write_that_fails_half_way_leaves_nothing_behind(source, tmp_path: Path) -> None:
    """The disk refuses more bytes half-way (a file-size limit, as a full disk would): one
    line, a non-zero exit, and no file, temporary file or half vault left."""
    import subprocess

    from tests.conftest import vault_command

    cli, _, _ = source
    notes = tmp_path / "bulk-notes"  # one import rather than 41 processes
    notes.mkdir()
    for i in range(40):
        (notes / f"bulk {i}.md").write_text("x" * 20_000)
    (notes / "huge.md").write_text("y" * 250_000)  # one Markdown file past the limit too
    cli("import", "markdown", str(notes), check=True)
    big = tmp_path / "big.vbak"
    cli("backup", "create", str(big), check=True)
    folder = tmp_path / "limited"
    folder.mkdir()
    limit = 64 * 1024 + 100_000
    for args in (
        ["backup", "create", str(folder / "b.vbak")],
        ["backup", "restore", str(big), "--vault", str(folder / "restored")],
        ["export", "markdown", str(folder / "md"), "--yes"],
    ):
        result = subprocess.run(
            [*vault_command(), *args],
            env=cli.env(),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            preexec_fn=_small_file_limit(limit),
            timeout=120,
        )
        assert result.returncode == 1, (args, result.stderr)
        errors = [line for line in result.stderr.splitlines() if line.startswith("vault: ")]
        assert len(errors) == 1 and result.stderr.endswith(errors[0] + "\n")
        assert "cannot write" in result.stderr or "cannot restore" in result.stderr
        assert "restoring-" not in result.stderr  # names the person's folder, not ours
        assert list(folder.iterdir()) == [], (args, list(folder.iterdir()))
    assert cli("check").returncode == 0  # and the vault itself is untouched
