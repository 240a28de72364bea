"""The small files the vault reads before anything else (its header, its key slots, the
configuration) replaced by what another program could put there: a FIFO, a device, a symlink
to one, a sparse file of gigabytes. Every `vault` command must answer at once with one line
and a non-zero exit, never wait on a FIFO or read gigabytes (found by review: a FIFO among
the key slots hung every command)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CLI, vault_command


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _sparse(path: Path) -> None:
    with path.open("wb") as fh:
        fh.truncate(3 << 30)


def _folder(path: Path) -> None:
    path.mkdir()


PLANTS: dict[str, Callable[[Path], None]] = {
    "fifo": _fifo,
    "symlink to /dev/zero": _dev_zero,
    "sparse 3 GiB": _sparse,
    "folder": _folder,
}


def _where(cli: CLI, which: str) -> Path:
    if which == "header":
        return cli.vault_dir / "vault.json"
    if which == "extra key slot":
        return cli.vault_dir / "keys" / "zz-planted.json"
    return cli.config


@pytest.mark.parametrize("plant", sorted(PLANTS))
@pytest.mark.parametrize("which", ["header", "extra key slot", "config"])
def test_a_hostile_small_file_is_refused_at_once(cli: CLI, which: str, plant: str) -> None:
    cli.init()
    cli("new", "Kept", input="body", check=True)
    target = _where(cli, which)
    if target.exists():
        target.unlink()
    PLANTS[plant](target)
    if which == "extra key slot":
        # One unreadable slot costs only itself: the vault opens with the others, and
        # `vault check` names it (tests/test_damaged_slots.py).
        for args in (["ls"], ["show", "Kept"]):
            assert cli(*args).returncode == 0, args
        checked = cli("check")
        assert checked.returncode == 1 and "Traceback" not in checked.stderr
        assert "damaged: key slot zz-planted.json" in checked.stdout
        return
    for args in (["ls"], ["show", "Kept"], ["unlock"]):
        result = subprocess.run(
            [*vault_command(), *args],
            capture_output=True,
            text=True,
            env=cli.env(),
            start_new_session=True,
            timeout=60,  # the command itself must not wait: a hang fails here
        )
        assert result.returncode != 0, (args, result.stdout)
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
