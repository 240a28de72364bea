"""Where things live: the default vault folder and the config file (platformdirs).

`--vault DIR` beats `VAULT_DIR`, which beats `vault.path` in the config, which beats the default
under the user data folder. `VAULT_CONFIG` names another config file (tests use it).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "vault"


def data_root() -> Path:
    return platformdirs.user_data_path(APP, appauthor=False)


def default_vault_dir() -> Path:
    return data_root() / "vault"


def default_backup_dir() -> Path:
    return data_root() / "backups"


def config_file() -> Path:
    env = os.environ.get("VAULT_CONFIG")
    if env:
        return Path(env).expanduser()
    return platformdirs.user_config_path(APP, appauthor=False) / "config.toml"


def resolve_vault_dir(cli_value: str | None, config_value: str = "") -> Path:
    for value in (cli_value, os.environ.get("VAULT_DIR"), config_value):
        if value:
            return Path(value).expanduser()
    return default_vault_dir()
