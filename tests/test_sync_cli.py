"""The sync commands through the real `vault` command in subprocesses: remote, sync, clone,
conflicts and resolve; two syncs at once; syncs killed at random moments."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import CLI, PASSWORD, vault_command
from vault.notes.vault import Vault
from vault.sealing.crypto import TEST_KDF


def one_line_error(result: subprocess.CompletedProcess[str], code: int | None = None) -> str:
    assert result.returncode != 0, result.stdout
    if code is not None:
        assert result.returncode == code, result.stderr
    err = result.stderr.strip()
    assert "Traceback" not in result.stderr
    assert len(err.splitlines()) == 1, err
    assert err.startswith("vault: ")
    return err


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    return tmp_path / "shared"


def _b(tmp_path: Path) -> dict[str, str]:
    return {"VAULT_DIR": str(tmp_path / "b")}


def _titles(cli: CLI, **env: str) -> list[str]:
    return sorted(n["title"] for n in json.loads(cli("ls", "--json", check=True, **env).stdout))


def test_remote_sync_and_clone(cli: CLI, shared: Path, tmp_path: Path) -> None:
    cli.init()
    cli("new", "Groceries", input="milk\n", check=True)
    set_ = cli("remote", "set", str(shared), check=True)
    assert "now syncs with" in set_.stderr
    first = cli("sync", check=True)
    assert "sent 1." in first.stdout
    show = json.loads(cli("remote", "show", "--json", check=True).stdout)
    assert show["remote"] == str(shared.resolve()) and show["source"] == "vault"
    assert show["devices"] == 1 and show["unpushed"] == 0 and show["last_sync"]

    clone = cli("clone", str(shared), "--vault", str(tmp_path / "b"), check=True)
    assert "1 note." in clone.stdout
    assert _titles(cli, **_b(tmp_path)) == ["Groceries"]
    cli("new", "From b", input="x\n", check=True, **_b(tmp_path))
    report = json.loads(cli("sync", "--json", check=True, **_b(tmp_path)).stdout)
    assert report["pushed"] == 1 and report["pending"] == [] and report["rollbacks"] == []
    cli("sync", check=True)
    assert _titles(cli) == ["From b", "Groceries"]
    idle = json.loads(cli("sync", "--json", check=True).stdout)
    assert (idle["pulled"], idle["pushed"], idle["files_read"]) == (0, 0, 0)


def test_clone_with_the_recovery_key(cli: CLI, shared: Path, tmp_path: Path) -> None:
    recovery = cli.init()
    cli("new", "Kept", input="x\n", check=True)
    cli("remote", "set", str(shared), check=True)
    cli("sync", check=True)
    env = {
        **_b(tmp_path),
        "VAULT_PASSWORD": None,
        "VAULT_RECOVERY_KEY": recovery,
        "VAULT_NEW_PASSWORD": "fresh password",
    }
    cli("clone", str(shared), "--recovery", "--insecure-test-kdf", check=True, **env)
    assert _titles(cli, **_b(tmp_path), VAULT_PASSWORD="fresh password") == ["Kept"]
    err = one_line_error(cli("ls", **_b(tmp_path)), 2)  # the old password was never this copy's
    assert "wrong password" in err


def test_errors_are_one_line(cli: CLI, shared: Path, tmp_path: Path) -> None:
    cli.init()
    assert "no sync folder" in one_line_error(cli("sync"), 1)
    assert "does not exist" in one_line_error(cli("remote", "set", str(tmp_path / "x" / "y")))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "holiday.jpg").write_bytes(b"x")
    assert "not empty" in one_line_error(cli("remote", "set", str(busy)))
    assert "holds no vault" in one_line_error(
        cli("clone", str(busy), "--vault", str(tmp_path / "c"))
    )
    cli("remote", "set", str(shared), check=True)
    cli("sync", check=True)
    wrong = cli("clone", str(shared), "--vault", str(tmp_path / "c"), VAULT_PASSWORD="nope")
    assert "wrong password" in one_line_error(wrong, 2)
    existing = cli("clone", str(shared), "--vault", str(cli.vault_dir))
    assert "already a vault" in one_line_error(existing, 1)
    other = CLI(tmp_path / "other", cli.config)
    other.init()
    assert "another vault" in one_line_error(other("remote", "set", str(shared)))
    shutil.rmtree(shared)
    assert "does not exist" in one_line_error(cli("sync"), 1)
    show = cli("remote", "show", check=True)
    assert "does not exist" in show.stdout and "last error" in show.stdout


def test_conflicts_and_resolve(cli: CLI, shared: Path, tmp_path: Path) -> None:
    cli.init()
    note = json.loads(cli("new", "Plan", "--json", input="start\n", check=True).stdout)
    cli("remote", "set", str(shared), check=True)
    cli("sync", check=True)
    cli("clone", str(shared), "--vault", str(tmp_path / "b"), check=True)
    cli("edit", note["id"], input="mine on a\n", check=True)
    cli("edit", note["id"], input="theirs on b\n", check=True, **_b(tmp_path))
    cli("sync", check=True)
    synced = cli("sync", **_b(tmp_path))
    assert synced.returncode == 4  # synced, but a conflict waits: scripts can tell
    assert "1 conflict needs you" in synced.stdout
    as_json = cli("sync", "--json", **_b(tmp_path))
    assert as_json.returncode == 4 and json.loads(as_json.stdout)["conflicts"] == [note["id"]]
    cloned = cli("clone", str(shared), "--vault", str(tmp_path / "c"))  # a third device
    assert cloned.returncode == 4 and "1 conflict needs you" in cloned.stdout
    listed = cli("conflicts", check=True, **_b(tmp_path))
    assert "Plan" in listed.stdout and "mine: this device" in listed.stdout
    # an edit would go on one version only and the conflict would grow: refused until settled
    for command in (("edit", note["id"]), ("revert", note["id"], "1")):
        refused = one_line_error(cli(*command, input="more\n", **_b(tmp_path)), code=4)
        assert "settle them first" in refused
    shown = cli("conflicts", note["id"][:8], check=True, **_b(tmp_path))
    assert "mine on a" in shown.stdout and "theirs on b" in shown.stdout
    data = json.loads(cli("conflicts", "--json", check=True, **_b(tmp_path)).stdout)
    assert [v["body"] for v in data[0]["versions"]] == ["theirs on b\n", "mine on a\n"]
    assert "no conflict" in one_line_error(cli("resolve", "nothing", "mine", **_b(tmp_path)))
    by_part = cli("conflicts", "pla", check=True, **_b(tmp_path))  # named as a note is
    assert by_part.stdout == shown.stdout
    cli("resolve", "pla", "both", check=True, **_b(tmp_path))
    cli("sync", check=True, **_b(tmp_path))
    cli("sync", check=True)
    assert _titles(cli) == ["Plan", "Plan (conflicted copy)"]
    assert "No conflicts" in cli("conflicts", check=True).stderr


def test_rollback_exits_non_zero(cli: CLI, shared: Path, tmp_path: Path) -> None:
    cli.init()
    cli("remote", "set", str(shared), check=True)
    cli("new", "one", input="1\n", check=True)
    cli("sync", check=True)
    old = tmp_path / "old"
    shutil.copytree(shared, old)
    cli("clone", str(shared), "--vault", str(tmp_path / "b"), check=True)
    cli("new", "two", input="2\n", check=True)
    cli("sync", check=True)
    cli("sync", check=True, **_b(tmp_path))
    shutil.rmtree(shared)
    shutil.copytree(old, shared)
    result = cli("sync", **_b(tmp_path))
    assert result.returncode == 3
    assert "ROLLBACK" in result.stdout and "went backwards" in result.stderr
    assert _titles(cli, **_b(tmp_path)) == ["one", "two"]


def _big_vault(path: Path, notes: int) -> None:
    vault, _ = Vault.create(path, PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
    with vault:
        for i in range(notes):
            vault.create_note(f"note {i:04d}", f"body {i}\n" * 20)


def _popen(cli: CLI, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*vault_command(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env(**env),
        start_new_session=True,
    )


def test_two_syncs_at_once(cli: CLI, shared: Path, tmp_path: Path) -> None:
    _big_vault(cli.vault_dir, 200)
    cli("remote", "set", str(shared), check=True)
    procs = [_popen(cli, "sync", "--json") for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    pushed = sorted(json.loads(out)["pushed"] for out, _ in outs)
    assert pushed == [0, 200]
    (log,) = (shared / "log").iterdir()
    seqs = [p.name.split("-")[0] for p in log.iterdir()]
    assert len(seqs) == len(set(seqs))  # one writer at a time: no fork in the log
    again = json.loads(cli("sync", "--json", check=True).stdout)
    assert again["pushed"] == 0 and again["pending"] == []


def test_a_sync_killed_at_any_moment(cli: CLI, shared: Path, tmp_path: Path) -> None:
    _big_vault(cli.vault_dir, 300)
    cli("remote", "set", str(shared), check=True)
    rng = random.Random(1234)
    for _ in range(5):
        proc = _popen(cli, "sync")
        time.sleep(rng.uniform(0.05, 0.6))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        cli("new", f"between kills {_}", input="x\n", check=True)
    done = json.loads(cli("sync", "--json", check=True).stdout)
    assert done["pending"] == [] and done["rollbacks"] == []
    cli("clone", str(shared), "--vault", str(tmp_path / "b"), check=True)
    assert _titles(cli, **_b(tmp_path)) == _titles(cli)
    assert len(_titles(cli)) == 305
    final = json.loads(cli("sync", "--json", check=True, **_b(tmp_path)).stdout)
    assert final["pending"] == [] and final["pulled"] == 0


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A real 64 KiB file system (tmpfs), where mounting is allowed (root on Linux)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
    )
    if made.returncode != 0:
        pytest.skip("cannot mount a small file system here (needs root on Linux)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_line_and_loses_nothing(cli: CLI, tiny_disk: Path) -> None:
    cli.init()
    cli("remote", "set", str(tiny_disk / "shared"), check=True)
    body = "".join(f"line {i} of a long note\n" for i in range(400))
    for i in range(12):
        cli("new", f"big {i}", input=body, check=True)
    err = one_line_error(cli("sync"), 1)
    assert "disk is full" in err and "nothing was changed" in err
    assert not [p for p in tiny_disk.rglob(".*.tmp")]  # no half-written file left behind
    assert len(_titles(cli)) == 12
    subprocess.run(["mount", "-o", "remount,size=8m", str(tiny_disk)], check=True)
    done = json.loads(cli("sync", "--json", check=True).stdout)
    assert done["pending"] == [] and done["pushed"] >= 12


def test_rekey_to_a_new_folder_pulls_first_and_says_what_the_other_devices_do(
    cli: CLI, shared: Path, tmp_path: Path
) -> None:
    cli.init()
    cli("new", "Plan", input="start\n", check=True)
    cli("remote", "set", str(shared), check=True)
    cli("sync", check=True)
    cli("clone", str(shared), "--vault", str(tmp_path / "b"), check=True)
    # b's edit reaches the folder before a rotates the key: a must keep it
    cli("new", "From b before the rekey", input="b\n", check=True, **_b(tmp_path))
    cli("sync", check=True, **_b(tmp_path))
    rekeyed = cli("rekey", "--new-folder", check=True)
    assert "Syncing with" in rekeyed.stderr and "clone each other device" in rekeyed.stderr
    assert "From b before the rekey" in _titles(cli)
    # a's old folder: a rotated the key, so a starts a new folder
    own = one_line_error(cli("sync"))
    assert "this device rotated it" in own
    fresh = tmp_path / "fresh"
    cli("remote", "set", str(fresh), check=True)
    cli("sync", check=True)
    # b pointed at a's new folder is told that another device rotated the key, and how to follow
    other = one_line_error(cli("remote", "set", str(fresh), **_b(tmp_path)))
    assert "another device rotated it" in other and "vault clone" in other
    cli("clone", str(fresh), "--vault", str(tmp_path / "b2"), check=True)
    assert _titles(cli, VAULT_DIR=str(tmp_path / "b2")) == _titles(cli)


def test_rekey_refuses_when_it_cannot_sync_first(cli: CLI, shared: Path, tmp_path: Path) -> None:
    cli.init()
    cli("remote", "set", str(shared), check=True)
    cli("sync", check=True)
    shutil.rmtree(shared)
    shared.write_text("not a folder")
    result = cli("rekey")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    refused = result.stderr.strip().splitlines()[-1]  # after the line saying it syncs first
    assert refused.startswith("vault: could not sync first") and "--offline" in refused
    assert cli("rekey", "--offline").returncode == 0
