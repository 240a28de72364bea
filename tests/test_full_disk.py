"""A full disk (issue 12 §3): every command says that a disk is full and which one, in one line,
and nothing is lost. Real small tmpfs mounts where this runs as root; skipped where mounting is
not permitted."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CLI
from vault.fsutil import disk_full_error

Mount = Callable[[str, int], Path]


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Mount]:
    """Mounts a tmpfs of `size` bytes at tmp_path/<name>; all are unmounted afterwards."""
    made: list[Path] = []

    def make(name: str, size: int) -> Path:
        where = tmp_path / name
        where.mkdir()
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
        made.append(where)
        return where

    yield make
    for where in reversed(made):
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path) -> Path:
    """Use up every byte the file system has left."""
    filler = folder / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    return filler


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr)
    # (an export first warns that it writes plaintext: that line is not the error)
    lines = [x for x in result.stderr.splitlines() if not x.startswith("warning: ")]
    assert len(lines) == 1, result.stderr
    assert "internal error" not in lines[0] and "disk I/O error" not in lines[0]
    return lines[0]


def test_a_full_vault_disk_is_named_and_nothing_is_lost(mount: Mount, tmp_path: Path) -> None:
    disk = mount("vaultdisk", 4 << 20)
    cli = CLI(disk / "vault", tmp_path / "config.toml")
    cli.init()
    for n in range(3):
        cli("new", f"Note {n}", input=f"body {n}\n", check=True)
    before = json.loads(cli("ls", "--json", check=True).stdout)
    filler = fill(disk)
    elsewhere = tmp_path / "elsewhere"  # another disk, with room
    for args in (
        ("ls",),
        ("show", "Note 1"),
        ("backup", "create", str(elsewhere / "b.vbak")),
        ("export", "markdown", str(elsewhere / "md"), "--yes"),
    ):
        line = one_line(cli(*args))
        assert "is full" in line and str(disk / "vault") in line, (args, line)
        assert "vault folder" in line
    filler.unlink()
    assert json.loads(cli("ls", "--json", check=True).stdout) == before
    assert cli("show", "Note 1", "--raw", check=True).stdout == "body 1\n"


def test_a_full_target_disk_of_an_export_or_backup_is_named(
    mount: Mount, cli: CLI, tmp_path: Path
) -> None:
    cli.init()
    cli("new", "Long", input="x" * 200_000, check=True)
    target = mount("target", 64 << 10)
    for args in (
        ("backup", "create", str(target / "b.vbak")),
        ("export", "markdown", str(target / "md"), "--yes"),
    ):
        line = one_line(cli(*args))
        assert f"the disk is full (the one holding {target})" in line, (args, line)
    assert sorted(p.name for p in target.iterdir()) == []  # nothing half-written left
    assert cli("show", "Long", "--raw", check=True).stdout == "x" * 200_000


def test_a_full_temporary_folder_is_told_apart_from_the_vaults(
    mount: Mount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = mount("temp", 64 << 10)
    fill(temp)
    monkeypatch.setenv("SQLITE_TMPDIR", str(temp))
    error = disk_full_error(tmp_path, "use the vault")
    assert error is not None
    assert f"the disk is full (the one holding the temporary folder {temp})" in str(error)
    monkeypatch.delenv("SQLITE_TMPDIR")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    assert disk_full_error(tmp_path, "use the vault") is None  # room everywhere: a real I/O error
