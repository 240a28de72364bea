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


def test_the_head_start_reads_the_names_the_header_and_the_slots_use() -> None:
    """vault.notes.ahead reads vault.json and the key slots without their modules (which load
    libsodium and pathlib): its names must be theirs."""
    from vault.notes import ahead
    from vault.sealing import keys
    from vault.storage import header

    assert (ahead.HEADER, ahead.KEYS_DIR) == (header.HEADER, header.KEYS_DIR)
    assert (ahead.SLOT_VERSION, ahead.RECOVERY, ahead.PASSWORD_KEYFILE) == (
        keys.SLOT_VERSION,
        keys.RECOVERY,
        keys.PASSWORD_KEYFILE,
    )


def test_only_argon2_loads_before_the_kdf_starts(closed_vault: Path, tmp_path: Path) -> None:
    """What loads before Argon2 starts is time it cannot hide: the head start imports neither
    libsodium nor the store, the slots' code or the command line (a fresh interpreter)."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env.update(VAULT_PASSWORD=PASSWORD, VAULT_DIR=str(closed_vault), TMPDIR=str(tmp_path))
    code = (
        "import sys\n"
        "from vault import __main__ as entry\n"
        "from vault.sealing import kdf\n"
        "entry._derive_ahead({})\n"
        "assert len(kdf._ahead) == 1, kdf._ahead\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('nacl', 'vault')))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    loaded = set(done.stdout.split())
    for module in ("nacl", "vault.sealing.crypto", "vault.sealing.keys", "vault.fsutil"):
        assert module not in loaded
    assert not any(m.startswith(("vault.storage", "vault.cli")) for m in loaded)


def test_a_hostile_slot_starts_no_derivation(closed_vault: Path) -> None:
    """A slot asking for more than an unlock accepts (or unreadable) starts nothing ahead:
    the unlock refuses it as before."""
    import json

    from vault.notes import ahead

    slots = [p for p in (closed_vault / "keys").glob("*.json") if "kdf" in p.read_text()]
    for slot in slots:
        doc = json.loads(slot.read_text())
        doc["kdf"]["m"] = 64 * 1024 * 1024  # 64 GiB
        slot.write_text(json.dumps(doc))
    ahead.derive_ahead(str(closed_vault), PASSWORD, keyfile=False)
    assert slots and not crypto._ahead
    for slot in slots:
        slot.write_text("{not json")
    ahead.derive_ahead(str(closed_vault), PASSWORD, keyfile=False)
    assert not crypto._ahead
