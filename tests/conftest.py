"""Shared fixtures: an isolated environment, tiny-KDF vaults, and the real `vault` command.

Vaults here use tiny Argon2 parameters, always through the explicit test option
(`kdf=TEST_KDF, allow_weak_kdf=True` in Python, `--insecure-test-kdf` on the command line).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from vault.notes.vault import Vault
from vault.sealing.crypto import TEST_KDF
from vault.session import agent_client

PASSWORD = "correct horse battery staple"

settings.register_profile(
    "vault",
    deadline=None,  # the machine is shared and noisy: never fail a property on time
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("vault")

_SECRET_VARS = (
    "VAULT_DIR",
    "VAULT_PASSWORD",
    "VAULT_NEW_PASSWORD",
    "VAULT_RECOVERY_KEY",
    "VAULT_KEYFILE",
    "VAULT_DEBUG",
    "EDITOR",
    "VISUAL",
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point every per-user folder into tmp_path so no test touches the real ones. Unlocked
    sessions (`vault unlock`) get their own runtime folder, short because socket paths are
    limited to about 100 bytes, and end with the test."""
    runtime = Path(tempfile.mkdtemp(prefix="vr", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (
        ("XDG_DATA_HOME", "data"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_STATE_HOME", "state"),
    ):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.setenv("VAULT_CONFIG", str(tmp_path / "config.toml"))
    for var in _SECRET_VARS:
        monkeypatch.delenv(var, raising=False)
    yield home
    agent_client.lock_all()
    _remove_tree(str(runtime))


def _remove_tree(path: str) -> None:
    """rmtree without os.scandir, which a test may still have patched at this point."""
    with contextlib.suppress(OSError):
        for name in os.listdir(path):
            child = os.path.join(path, name)
            if os.path.isdir(child) and not os.path.islink(child):
                _remove_tree(child)
            else:
                os.unlink(child)
        os.rmdir(path)


@pytest.fixture
def vault_path(tmp_path: Path) -> Path:
    return tmp_path / "vault"


@pytest.fixture
def make_vault(vault_path: Path) -> Callable[..., tuple[Vault, str]]:
    """Create a vault with tiny KDF parameters; returns (vault, recovery key)."""
    opened: list[Vault] = []

    def make(path: Path | None = None, password: str = PASSWORD, **kw: object) -> tuple[Vault, str]:
        vault, recovery = Vault.create(
            path or vault_path, password, kdf=TEST_KDF, allow_weak_kdf=True, **kw
        )
        opened.append(vault)
        return vault, recovery

    yield make
    for vault in opened:
        with contextlib.suppress(Exception):
            vault.lock()


@pytest.fixture
def vault(make_vault: Callable[..., tuple[Vault, str]]) -> Vault:
    return make_vault()[0]


def vault_command() -> list[str]:
    """The installed console script, as a person would run it."""
    script = Path(sys.executable).with_name("vault")
    if script.exists():
        return [str(script)]
    found = shutil.which("vault")
    assert found, "the `vault` console script is not installed (pip install -e .)"
    return [found]


class CLI:
    """Runs the real `vault` command in a subprocess with its own session (so no controlling
    terminal: a prompt can never hang a test)."""

    def __init__(self, vault_dir: Path, config: Path) -> None:
        self.vault_dir = vault_dir
        self.config = config
        self.password: str | None = PASSWORD

    def env(self, **extra: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SECRET_VARS}
        env["VAULT_DIR"] = str(self.vault_dir)
        env["VAULT_CONFIG"] = str(self.config)
        env["NO_COLOR"] = "1"
        env["COLUMNS"] = "200"
        if self.password is not None:
            env["VAULT_PASSWORD"] = self.password
        for key, value in extra.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def __call__(
        self, *args: str, input: str | None = None, check: bool = False, **env: str | None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*vault_command(), *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            env=self.env(**env),
            start_new_session=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"vault {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
            )
        return result

    def init(self) -> str:
        """`vault init` with test KDF parameters; returns the recovery key."""
        import json

        result = self("init", "--insecure-test-kdf", "--json", check=True)
        return json.loads(result.stdout)["recovery_key"]


@pytest.fixture
def cli(vault_path: Path, tmp_path: Path) -> CLI:
    return CLI(vault_path, tmp_path / "config.toml")
