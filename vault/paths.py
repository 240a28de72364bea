"""Where things live: the default vault folder and the config file (platformdirs).

`--vault DIR` beats `VAULT_DIR`, which beats `vault.path` in the config, which beats the default
under the user data folder. `VAULT_CONFIG` names another config file (tests use it).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from vault.errors import InvalidInputError

APP = "vault"


def expanded(value: str) -> Path:
    """`value` as a path, a leading `~` or `~user` expanded; a user that does not exist (or no
    home to expand to) is one line for the person who typed it, not an internal error."""
    try:
        return Path(value).expanduser()
    except RuntimeError:
        shown = value.split("/", 1)[0].encode("ascii", "backslashreplace").decode()
        raise InvalidInputError(
            f"cannot expand {shown!r} in a path: no such user's home folder"
        ) from None


def data_root() -> Path:
    return platformdirs.user_data_path(APP, appauthor=False)


def default_vault_dir() -> Path:
    return data_root() / "vault"


def default_backup_dir() -> Path:
    return data_root() / "backups"


def config_file() -> Path:
    env = os.environ.get("VAULT_CONFIG")
    if env:
        return expanded(env)
    return platformdirs.user_config_path(APP, appauthor=False) / "config.toml"


def resolve_vault_dir(cli_value: str | None, config_value: str = "") -> Path:
    for value in (cli_value, os.environ.get("VAULT_DIR"), config_value):
        if value:
            return expanded(value)
    return default_vault_dir()
