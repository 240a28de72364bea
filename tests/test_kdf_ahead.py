"""The KDF started before the command line loads (vault.__main__, vault.notes.ahead): only for
a command that unlocks with VAULT_PASSWORD and a plain command line, never for a vault that may
have a session, and taken only by the unlock's own derivation."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from hashlib import blake2b
from pathlib import Path

import pytest

from tests.conftest import CLI, PASSWORD
from vault import __main__ as entry
from vault.notes.vault import Vault
from vault.sealing import crypto


@pytest.fixture(autouse=True)
def no_derivation_left() -> Iterator[None]:
    crypto._ahead.clear()
    yield
    for thread, _ in crypto._ahead.values():
        thread.join()
    crypto._ahead.clear()


@pytest.fixture
def closed_vault(make_vault: Callable[..., tuple[Vault, str]], vault_path: Path) -> Path:
    vault, _ = make_vault()
    vault.create_note("One", "body")
    vault.lock()
    return vault_path


def test_a_plain_unlocking_command_starts_the_kdf_ahead(
    closed_vault: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VAULT_PASSWORD", PASSWORD)
    monkeypatch.setenv("VAULT_DIR", str(closed_vault))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    command, given = entry._plain_command(["ls"])
    assert command == "ls" and given == {}
    entry._derive_ahead(given)
    assert len(crypto._ahead) == 1
    # The unlock takes it (same password, salt, parameters) and leaves nothing behind.
    with Vault.unlock(closed_vault, password=PASSWORD) as vault:
        assert vault.find_note("One").body == "body"
    assert not crypto._ahead


@pytest.mark.parametrize(
    "argv",
    [
        ["ls", "--vault", "elsewhere"],  # an option after the command: not read here
        ["ls", "--vau", "elsewhere"],  # cut short, as argparse takes it (found by review)
        ["ls", "--key=k.key"],
        ["show", "x", "--v", "elsewhere"],
        ["--vault=elsewhere", "ls"],
        ["--", "ls"],
        ["init"],
        ["passwd"],
        [],
    ],
)
def test_anything_but_a_plain_unlocking_command_starts_nothing(argv: list[str]) -> None:
    command, _ = entry._plain_command(argv)
    assert command not in entry._UNLOCKING


def test_a_vault_that_may_have_a_session_starts_nothing(
    closed_vault: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The command would open with the session's key: a KDF ahead would only take the
    processor from it. A socket file where the agent's would be is enough to hold back."""
    monkeypatch.setenv("VAULT_PASSWORD", PASSWORD)
    monkeypatch.setenv("VAULT_DIR", str(closed_vault))
    tmp = tmp_path / "tmp"
    monkeypatch.setenv("TMPDIR", str(tmp))
    folder = tmp / f"vault-{os.getuid()}"
    folder.mkdir(parents=True, mode=0o700)
    with Vault.unlock(closed_vault, password=PASSWORD) as vault:
        vault_id = vault.vault_id
    real = os.path.realpath(closed_vault)
    digest = blake2b(f"{vault_id}\0{real}".encode(), digest_size=10).hexdigest()
    (folder / f"agent-{digest}.sock").write_bytes(b"")
    entry._derive_ahead({})
    assert not crypto._ahead


def test_no_password_in_the_environment_starts_nothing(
    closed_vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VAULT_PASSWORD", raising=False)
    monkeypatch.setenv("VAULT_DIR", str(closed_vault))
    entry._derive_ahead({})
    assert not crypto._ahead


def test_commands_with_the_kdf_ahead_behave_as_before(cli: CLI, tmp_path: Path) -> None:
    """The real `vault`: a wrong password is refused the same way, a keyfile vault opens with
    --keyfile before the command, and output and exit codes are whole (the process ends
    without the interpreter's teardown)."""
    cli("init", "--insecure-test-kdf", check=True)
    cli("new", "Alpha", input="first body", check=True)
    listed = cli("ls", check=True)
    assert "Alpha" in listed.stdout
    wrong = cli("ls", VAULT_PASSWORD="not it")
    assert wrong.returncode != 0 and "wrong password" in wrong.stderr
    assert cli("search", "nothingmatcheshere").returncode == 1
    keyfile = tmp_path / "k.key"
    other = CLI(tmp_path / "kv", tmp_path / "config.toml")
    other("--keyfile", str(keyfile), "init", "--insecure-test-kdf", check=True)
    other("--keyfile", str(keyfile), "new", "Keyed", input="b", check=True)
    assert "Keyed" in other("--keyfile", str(keyfile), "ls", check=True).stdout
    assert other("ls").returncode != 0  # no keyfile: refused as before


def test_a_vault_folder_or_configuration_that_cannot_be_read_is_reported_by_the_command(
    cli: CLI, tmp_path: Path
) -> None:
    """The head start meets an unusual vault path or configuration first: it steps aside, and
    the command says what it said before (one line, its exit status), never a traceback
    (found by review)."""
    cli("init", "--insecure-test-kdf", check=True)
    for env in ({"VAULT_DIR": "~nosuchuserhere/x"},):
        result = cli("ls", **env)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "'~nosuchuserhere' in a path: no such user's home folder" in result.stderr
    result = cli("ls", "--vau", "~nosuchuserhere/x")
    assert result.returncode != 0 and "Traceback" not in result.stderr
